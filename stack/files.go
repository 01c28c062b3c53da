package stack

import (
	"fmt"
	"maps"
	"os"
	"slices"

	ctypes "github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-org/shoal/api/types"
)

// File is a secret or a config of a stack.
type File struct {
	// Name is the cluster-wide name: STACK_KEY, the file's `name:`, or the
	// name of an external object.
	Name string
	// External objects must exist already; the stack neither creates nor
	// removes them.
	External bool
	Data     []byte
	Labels   map[string]string
}

// maxFileData is the largest secret or config the cluster takes.
const maxFileData = 500 << 10

// files converts the top-level secrets (or configs) of the project. It
// returns them sorted by name, and the cluster-wide name of each key.
func (c *converter) files(kind string, defs map[string]ctypes.FileObjectConfig) ([]File, map[string]string, error) {
	var out []File
	names := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(defs)) {
		def := defs[key]
		field := kind + "s." + key
		if def.Driver != "" || def.TemplateDriver != "" || len(def.DriverOpts) > 0 {
			return nil, nil, invalidf("%s: drivers and template drivers are not served by shoal: give file, environment or content", field)
		}
		f := File{Name: def.Name, External: bool(def.External)}
		if f.Name == "" {
			f.Name = key
			if !f.External {
				f.Name = Scope(c.ns, key)
			}
		}
		names[key] = f.Name
		if f.External {
			out = append(out, f)
			continue
		}
		f.Labels = map[string]string{LabelNamespace: c.ns}
		maps.Copy(f.Labels, def.Labels)
		switch {
		case def.File != "":
			data, err := os.ReadFile(def.File)
			if err != nil {
				return nil, nil, invalidf("%s.file: %v", field, err)
			}
			f.Data = data
		case def.Environment != "":
			v, ok := c.project.Environment[def.Environment]
			if !ok {
				return nil, nil, invalidf("%s.environment: variable %s is not set", field, def.Environment)
			}
			f.Data = []byte(v)
		case def.Content != "":
			f.Data = []byte(def.Content)
		default:
			return nil, nil, invalidf("%s: give file, environment or content, or mark it external", field)
		}
		if len(f.Data) == 0 || len(f.Data) > maxFileData {
			return nil, nil, invalidf("%s: %d bytes: a %s holds 1 byte to 500 KiB", field, len(f.Data), kind)
		}
		out = append(out, f)
	}
	return out, names, nil
}

// fileRefs converts a service's secrets (or configs) to references by
// cluster-wide name. The target defaults to the key, as docker's does
// (/run/secrets/KEY for a secret, /KEY for a config).
func fileRefs(kind, field string, refs []ctypes.FileReferenceConfig, names map[string]string) ([]types.FileRef, error) {
	var out []types.FileRef
	for i, r := range refs {
		name, ok := names[r.Source]
		if !ok {
			return nil, invalidf("%s.%ss[%d]: %s %q is not declared under the top-level %ss key", field, kind, i, kind, r.Source, kind)
		}
		ref := types.FileRef{Name: name, Target: r.Target, UID: r.UID, GID: r.GID}
		switch {
		case ref.Target != "":
		case kind == "secret":
			ref.Target = types.SecretsDir + "/" + r.Source
		default:
			ref.Target = "/" + r.Source
		}
		if r.Mode != nil {
			if *r.Mode < 0 || *r.Mode > 0o777 {
				return nil, invalidf("%s.%ss[%d].mode: %o is not a file mode: use 0 to 0777", field, kind, i, *r.Mode)
			}
			ref.Mode = uint32(*r.Mode)
		}
		out = append(out, ref)
	}
	return out, nil
}

// serviceFiles sets a service's secrets and configs.
func (c *converter) serviceFiles(spec *types.ServiceSpec, s ctypes.ServiceConfig, field string) error {
	secrets := make([]ctypes.FileReferenceConfig, len(s.Secrets))
	for i, r := range s.Secrets {
		secrets[i] = ctypes.FileReferenceConfig(r)
	}
	configs := make([]ctypes.FileReferenceConfig, len(s.Configs))
	for i, r := range s.Configs {
		configs[i] = ctypes.FileReferenceConfig(r)
	}
	var err error
	if spec.Task.Secrets, err = fileRefs("secret", field, secrets, c.secretNames); err != nil {
		return err
	}
	spec.Task.Configs, err = fileRefs("config", field, configs, c.configNames)
	return err
}

// fileObjects converts the project's top-level secrets and configs.
func (c *converter) fileObjects(st *Stack) error {
	secretDefs := map[string]ctypes.FileObjectConfig{}
	for k, v := range c.project.Secrets {
		secretDefs[k] = ctypes.FileObjectConfig(v)
	}
	configDefs := map[string]ctypes.FileObjectConfig{}
	for k, v := range c.project.Configs {
		configDefs[k] = ctypes.FileObjectConfig(v)
	}
	var err error
	if st.Secrets, c.secretNames, err = c.files("secret", secretDefs); err != nil {
		return err
	}
	st.Configs, c.configNames, err = c.files("config", configDefs)
	return err
}

// Existing is a secret or config in the cluster, by name and labels.
type Existing struct {
	Name   string
	Labels map[string]string
}

// PlanFiles says which of the stack's files (secrets or configs, of kind)
// to create, given those the cluster has. A file of the stack that exists
// is kept as it is: a secret's data cannot change, so a new payload needs
// a new name, as with docker. It refuses, before anything is changed, a
// missing external one and a name held by an object outside the stack.
func PlanFiles(kind, stackName string, want []File, have []Existing) ([]File, error) {
	byName := map[string]Existing{}
	for _, h := range have {
		byName[h.Name] = h
	}
	var create []File
	for _, f := range want {
		h, ok := byName[f.Name]
		switch {
		case f.External && !ok:
			return nil, fmt.Errorf("%w: %s %q is declared as external, but could not be found: create it with `agentctl %s create %s FILE` before deploying the stack",
				ErrInvalid, kind, f.Name, kind, f.Name)
		case f.External:
		case !ok:
			create = append(create, f)
		case h.Labels[LabelNamespace] != stackName:
			return nil, fmt.Errorf("%w: %s %q already exists and is not part of stack %q: remove it or rename it in the compose file",
				ErrInvalid, kind, f.Name, stackName)
		}
	}
	return create, nil
}

// StackFiles returns the names of the objects of stack ns among have.
func StackFiles(ns string, have []Existing) []string {
	var out []string
	for _, h := range have {
		if h.Labels[LabelNamespace] == ns {
			out = append(out, h.Name)
		}
	}
	slices.Sort(out)
	return out
}
