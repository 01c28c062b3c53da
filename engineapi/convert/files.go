package convert

import (
	"maps"
	"os"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

// Secret is s as Docker shows it: never its data (shoal's reads do not
// carry it either).
func Secret(s types.Secret) swarm.Secret {
	return swarm.Secret{ID: s.ID, Meta: meta(s.Meta),
		Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: s.Spec.Name, Labels: labelsOrEmpty(s.Spec.Labels)}}}
}

// Config is c as Docker shows it, with its data.
func Config(c types.Config) swarm.Config {
	return swarm.Config{ID: c.ID, Meta: meta(c.Meta),
		Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: c.Spec.Name, Labels: labelsOrEmpty(c.Spec.Labels)}, Data: c.Spec.Data}}
}

func labelsOrEmpty(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return maps.Clone(l)
}

// SecretCreate turns docker's secret spec into shoal's request; external
// drivers and templating are refused.
func SecretCreate(in swarm.SecretSpec) (api.FileCreateRequest, error) {
	if in.Driver != nil || in.Templating != nil {
		return api.FileCreateRequest{}, fault.Invalidf("secret %q: Driver and Templating are not served by shoal: give the data itself", in.Name)
	}
	return api.FileCreateRequest{Name: in.Name, Labels: nilIfEmpty(in.Labels), Data: in.Data}, nil
}

// ConfigCreate turns docker's config spec into shoal's request.
func ConfigCreate(in swarm.ConfigSpec) (api.FileCreateRequest, error) {
	if in.Templating != nil {
		return api.FileCreateRequest{}, fault.Invalidf("config %q: Templating is not served by shoal: give the data itself", in.Name)
	}
	return api.FileCreateRequest{Name: in.Name, Labels: nilIfEmpty(in.Labels), Data: in.Data}, nil
}

// fromFileRefs reads a container spec's secret and config references.
// Shoal references them by name (docker's CLI sends the name with the ID);
// the target, owner and mode are the file target's.
func fromFileRefs(cs swarm.ContainerSpec, out *types.TaskTemplate) error {
	for i, s := range cs.Secrets {
		path := "TaskTemplate.ContainerSpec.Secrets[" + itoa(i) + "]"
		if s == nil || s.SecretName == "" || s.File == nil {
			return fault.Invalidf("%s: give SecretName and a File target (shoal resolves secrets by name)", path)
		}
		out.Secrets = append(out.Secrets, fileRef(s.SecretName, s.File.Name, s.File.UID, s.File.GID, s.File.Mode))
	}
	for i, c := range cs.Configs {
		path := "TaskTemplate.ContainerSpec.Configs[" + itoa(i) + "]"
		if c == nil || c.ConfigName == "" || c.File == nil || c.Runtime != nil {
			return fault.Invalidf("%s: give ConfigName and a File target (Runtime targets are not served by shoal)", path)
		}
		out.Configs = append(out.Configs, fileRef(c.ConfigName, c.File.Name, c.File.UID, c.File.GID, c.File.Mode))
	}
	return nil
}

func fileRef(name, target, uid, gid string, mode os.FileMode) types.FileRef {
	return types.FileRef{Name: name, Target: target, UID: uid, GID: gid, Mode: uint32(mode.Perm())}
}

// fileRefs shows a template's secrets and configs as Docker references;
// the IDs are filled by the caller, which can look them up.
func fileRefs(t types.TaskTemplate, cs *swarm.ContainerSpec) {
	for _, r := range t.Secrets {
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretID: r.ID, SecretName: r.Name,
			File: &swarm.SecretReferenceFileTarget{Name: r.Target, UID: r.UID, GID: r.GID, Mode: os.FileMode(r.Mode)}})
	}
	for _, r := range t.Configs {
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{ConfigID: r.ID, ConfigName: r.Name,
			File: &swarm.ConfigReferenceFileTarget{Name: r.Target, UID: r.UID, GID: r.GID, Mode: os.FileMode(r.Mode)}})
	}
}
