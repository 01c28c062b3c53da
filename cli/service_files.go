package cli

import (
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-org/shoal/api/types"
)

// --secret and --config on `service create`, and their -add/-rm pairs on
// `service update`, in docker's short (NAME) and long
// (source=NAME,target=PATH,uid=U,gid=G,mode=0400) syntax. The agent fills
// the defaults (target /run/secrets/NAME or /NAME, 0:0, mode 0444) and
// refuses a name that does not exist.

// fileFlags are `service create`'s.
type fileFlags struct {
	Secret []string `sep:"none" placeholder:"SECRET" help:"Give the tasks a secret as a file: NAME, or source=NAME[,target=PATH][,uid=U][,gid=G][,mode=0400] (default target /run/secrets/NAME); repeatable."`
	Config []string `sep:"none" placeholder:"CONFIG" help:"Give the tasks a config as a file: NAME, or source=NAME[,target=PATH][,uid=U][,gid=G][,mode=0444] (default target /NAME); repeatable."`
}

func (f *fileFlags) apply(t *types.TaskTemplate) error {
	var err error
	if t.Secrets, err = addFileRefs(nil, "secret", f.Secret); err != nil {
		return err
	}
	t.Configs, err = addFileRefs(nil, "config", f.Config)
	return err
}

// fileUpdateFlags are `service update`'s.
type fileUpdateFlags struct {
	SecretAdd []string `sep:"none" placeholder:"SECRET" help:"Add a secret (NAME or source=NAME,target=PATH,...); repeatable."`
	SecretRm  []string `sep:"none" placeholder:"NAME" help:"Remove a secret by name; repeatable."`
	ConfigAdd []string `sep:"none" placeholder:"CONFIG" help:"Add a config (NAME or source=NAME,target=PATH,...); repeatable."`
	ConfigRm  []string `sep:"none" placeholder:"NAME" help:"Remove a config by name; repeatable."`
}

func (f *fileUpdateFlags) apply(svc string, t *types.TaskTemplate) error {
	byName := func(r types.FileRef, name string) bool { return r.Name == name }
	names := func(refs []types.FileRef) []string {
		out := make([]string, 0, len(refs))
		for _, r := range refs {
			out = append(out, r.Name)
		}
		return out
	}
	if err := checkRemovals(svc, "secret-rm", f.SecretRm, names(t.Secrets), func(a, b string) bool { return a == b }); err != nil {
		return err
	}
	if err := checkRemovals(svc, "config-rm", f.ConfigRm, names(t.Configs), func(a, b string) bool { return a == b }); err != nil {
		return err
	}
	var err error
	if t.Secrets, err = addFileRefs(removeWhere(t.Secrets, f.SecretRm, byName), "secret-add", f.SecretAdd); err != nil {
		return err
	}
	t.Configs, err = addFileRefs(removeWhere(t.Configs, f.ConfigRm, byName), "config-add", f.ConfigAdd)
	return err
}

// addFileRefs parses vals and adds them to refs; one with the same name
// and target as an entry replaces it.
func addFileRefs(refs []types.FileRef, flag string, vals []string) ([]types.FileRef, error) {
	out := slices.Clone(refs)
	for _, v := range vals {
		r, err := parseFileRef(flag, v)
		if err != nil {
			return nil, err
		}
		out = slices.DeleteFunc(out, func(o types.FileRef) bool { return o.Name == r.Name && o.Target == r.Target })
		out = append(out, r)
	}
	return out, nil
}

// parseFileRef reads one --secret/--config value.
func parseFileRef(flag, v string) (types.FileRef, error) {
	var r types.FileRef
	if !strings.Contains(v, "=") {
		if strings.TrimSpace(v) == "" || strings.Contains(v, ",") {
			return r, flagErr(flag, v, "give a name, or source=NAME[,target=PATH][,uid=U][,gid=G][,mode=0444]")
		}
		r.Name = v
		return r, nil
	}
	for _, field := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(field, "=")
		if !ok {
			return r, flagErr(flag, v, "%q has no value: use key=value fields (source, target, uid, gid, mode)", field)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "source", "src":
			r.Name = val
		case "target":
			r.Target = val
		case "uid":
			r.UID = val
		case "gid":
			r.GID = val
		case "mode":
			m, ok := octalMode(val, 0o777)
			if !ok {
				return r, flagErr(flag, v, "mode %q: use an octal mode such as 0400 or 0444", val)
			}
			r.Mode = m
		default:
			return r, flagErr(flag, v, "unknown field %q: use source, target, uid, gid or mode", k)
		}
	}
	if r.Name == "" {
		return r, flagErr(flag, v, "source=NAME is missing")
	}
	for _, id := range []string{r.UID, r.GID} {
		if _, err := strconv.ParseUint(id, 10, 32); id != "" && err != nil {
			return r, flagErr(flag, v, "uid and gid are numbers, such as 1000")
		}
	}
	return r, nil
}
