package convert

import (
	"maps"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api/placement"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

// FromServiceSpec is the shoal spec for the Docker spec in. base is the
// service's current spec for an update (nil for a create): what Docker
// cannot express (the placement strategy, shoal's extra task settings)
// carries over from it. A field shoal does not serve is refused with an
// error naming it; nothing is silently dropped. Defaults and validation
// are left to the backend, except the replica count, which Docker
// defaults to 1 when the replicated mode names none.
func FromServiceSpec(in swarm.ServiceSpec, base *types.ServiceSpec) (types.ServiceSpec, error) {
	out := types.ServiceSpec{Name: in.Name, Labels: nilIfEmpty(in.Labels)}
	switch m := in.Mode; {
	case m.ReplicatedJob != nil || m.GlobalJob != nil:
		return out, fault.Invalidf("Mode: jobs (replicated-job, global-job) are not served by shoal: use a replicated or global service")
	case m.Global != nil && m.Replicated != nil:
		return out, fault.Invalidf("Mode: a service is either Replicated or Global, not both")
	case m.Global != nil:
		out.Mode.Global = true
	case m.Replicated != nil && m.Replicated.Replicas != nil:
		out.Mode.Replicas = *m.Replicated.Replicas
	default:
		out.Mode.Replicas = 1
	}
	task, err := fromTaskSpec(in.TaskTemplate)
	if err != nil {
		return out, err
	}
	out.Task = task
	if out.Update, err = fromUpdateConfig(in.UpdateConfig); err != nil {
		return out, err
	}
	if out.Rollback, err = fromUpdateConfig(in.RollbackConfig); err != nil {
		return out, err
	}
	if out.Endpoint, err = fromEndpointSpec(in.EndpointSpec); err != nil {
		return out, err
	}
	if base != nil {
		out.Task.Placement.Strategy = base.Task.Placement.Strategy
		for k, v := range base.Task.Extra {
			if _, ok := out.Task.Extra[k]; !ok && k != placement.PlatformsKey {
				if out.Task.Extra == nil {
					out.Task.Extra = map[string]string{}
				}
				out.Task.Extra[k] = v
			}
		}
	}
	return out, nil
}

func fromTaskSpec(in swarm.TaskSpec) (types.TaskTemplate, error) {
	var out types.TaskTemplate
	if err := refuseSet("TaskTemplate", &in, "ContainerSpec", "Resources", "RestartPolicy", "Placement", "Networks", "ForceUpdate", "Runtime"); err != nil {
		return out, err
	}
	if in.Runtime != "" && in.Runtime != swarm.RuntimeContainer {
		return out, fault.Invalidf("TaskTemplate.Runtime %q is not served by shoal: tasks are containers", in.Runtime)
	}
	if in.ContainerSpec == nil || in.ContainerSpec.Image == "" {
		return out, fault.Invalidf("TaskTemplate.ContainerSpec.Image: a service needs an image")
	}
	if err := fromContainerSpec(*in.ContainerSpec, &out); err != nil {
		return out, err
	}
	if err := fromResources(in.Resources, &out); err != nil {
		return out, err
	}
	if rp := in.RestartPolicy; rp != nil {
		out.RestartPolicy = types.RestartPolicy{Condition: string(rp.Condition), Delay: deref(rp.Delay),
			MaxAttempts: deref(rp.MaxAttempts), Window: deref(rp.Window)}
	}
	if err := fromPlacement(in.Placement, &out); err != nil {
		return out, err
	}
	for i, n := range in.Networks {
		if err := refuseSet("TaskTemplate.Networks["+itoa(i)+"]", &n, "Target", "Aliases"); err != nil {
			return out, err
		}
		out.Networks = append(out.Networks, n.Target)
		if len(n.Aliases) > 0 {
			if out.Aliases == nil {
				out.Aliases = map[string][]string{}
			}
			out.Aliases[n.Target] = append(out.Aliases[n.Target], n.Aliases...)
		}
	}
	out.ForceUpdate = in.ForceUpdate
	return out, nil
}

func fromContainerSpec(cs swarm.ContainerSpec, out *types.TaskTemplate) error {
	served := []string{"Image", "Labels", "Command", "Args", "Env", "Dir", "User", "StopSignal", "StopGracePeriod", "Healthcheck", "Mounts", "Isolation", "Secrets", "Configs",
		"Hostname", "Hosts", "DNSConfig"}
	if err := refuseSet("TaskTemplate.ContainerSpec", &cs, served...); err != nil {
		return err
	}
	if cs.Isolation != "" && cs.Isolation != "default" {
		return fault.Invalidf("TaskTemplate.ContainerSpec.Isolation %q is not served by shoal (Linux containers only)", cs.Isolation)
	}
	out.Image, out.Labels, out.Command, out.Args = cs.Image, nilIfEmpty(cs.Labels), slices.Clone(cs.Command), slices.Clone(cs.Args)
	out.Env, out.Dir, out.User, out.StopSignal = slices.Clone(cs.Env), cs.Dir, cs.User, cs.StopSignal
	out.StopGracePeriod = deref(cs.StopGracePeriod)
	out.Hostname, out.Hosts = cs.Hostname, cloneList(cs.Hosts)
	if d := cs.DNSConfig; d != nil && len(d.Nameservers)+len(d.Search)+len(d.Options) > 0 {
		out.DNS = &types.DNSConfig{Search: cloneList(d.Search), Options: cloneList(d.Options)}
		for _, a := range d.Nameservers {
			out.DNS.Nameservers = append(out.DNS.Nameservers, a.String())
		}
	}
	if h := cs.Healthcheck; h != nil {
		if h.StartInterval != 0 {
			return fault.Invalidf("TaskTemplate.ContainerSpec.Healthcheck.StartInterval is not served by shoal")
		}
		out.Healthcheck = &types.HealthConfig{Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
			Retries: h.Retries, StartPeriod: h.StartPeriod}
	}
	for i, m := range cs.Mounts {
		path := "TaskTemplate.ContainerSpec.Mounts[" + itoa(i) + "]"
		if m.Type != mount.TypeBind && m.Type != mount.TypeVolume && m.Type != mount.TypeTmpfs {
			return fault.Invalidf("%s: mount type %q is not served by shoal: use bind, volume or tmpfs", path, m.Type)
		}
		var size int64
		var mode uint32
		if to := m.TmpfsOptions; to != nil {
			if m.Type != mount.TypeTmpfs {
				return fault.Invalidf("%s.TmpfsOptions: set on a mount of type %q: only a tmpfs takes them", path, m.Type)
			}
			if len(to.Options) > 0 {
				return fault.Invalidf("%s.TmpfsOptions.Options: %v: not served by shoal (SizeBytes and Mode are)", path, to.Options)
			}
			// The docker CLI sends tmpfs-mode's octal digits as they are
			// (1777 is 0o1777, not Go's os.ModeSticky), as the daemon reads them.
			if to.Mode > 0o7777 {
				return fault.Invalidf("%s.TmpfsOptions.Mode: %o is not a file mode: use at most 7777", path, uint32(to.Mode))
			}
			if to.SizeBytes < 0 {
				return fault.Invalidf("%s.TmpfsOptions.SizeBytes: %d is negative", path, to.SizeBytes)
			}
			size, mode = to.SizeBytes, uint32(to.Mode)
			m.TmpfsOptions = nil
		}
		if vo := m.VolumeOptions; vo != nil {
			// `docker stack deploy` labels its volumes; a node makes a named
			// volume on first use, with the local driver only.
			if err := refuseSet(path+".VolumeOptions", vo, "Labels", "DriverConfig"); err != nil {
				return err
			}
			if d := vo.DriverConfig; d != nil && (d.Name != "" && d.Name != "local" || len(d.Options) > 0) {
				return fault.Invalidf("%s.VolumeOptions.DriverConfig: volume driver %q (with options %v) is not served by shoal: named volumes use the local driver", path, d.Name, d.Options)
			}
			m.VolumeOptions = nil
		}
		if err := refuseSet(path, &m, "Type", "Source", "Target", "ReadOnly"); err != nil {
			return err
		}
		out.Mounts = append(out.Mounts, types.Mount{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly,
			TmpfsSize: size, TmpfsMode: mode})
	}
	return fromFileRefs(cs, out)
}

func fromResources(r *swarm.ResourceRequirements, out *types.TaskTemplate) error {
	if r == nil {
		return nil
	}
	if err := refuseSet("TaskTemplate.Resources", r, "Limits", "Reservations"); err != nil {
		return err
	}
	if l := r.Limits; l != nil {
		if l.Pids != 0 {
			return fault.Invalidf("TaskTemplate.Resources.Limits.Pids is not served by shoal")
		}
		out.Limits = types.Resources{NanoCPUs: l.NanoCPUs, MemoryBytes: l.MemoryBytes}
	}
	if res := r.Reservations; res != nil {
		if len(res.GenericResources) > 0 {
			return fault.Invalidf("TaskTemplate.Resources.Reservations.GenericResources is not served by shoal")
		}
		out.Reservations = types.Resources{NanoCPUs: res.NanoCPUs, MemoryBytes: res.MemoryBytes}
	}
	return nil
}

func fromPlacement(p *swarm.Placement, out *types.TaskTemplate) error {
	if p == nil {
		return nil
	}
	out.Placement = types.Placement{Constraints: slices.Clone(p.Constraints), MaxReplicas: p.MaxReplicas}
	for i, pref := range p.Preferences {
		if pref.Spread == nil || pref.Spread.SpreadDescriptor == "" {
			return fault.Invalidf("TaskTemplate.Placement.Preferences[%d]: only spread preferences (spread=node.labels.NAME) are served", i)
		}
		out.Placement.Preferences = append(out.Placement.Preferences, pref.Spread.SpreadDescriptor)
	}
	var plats []string
	for _, pl := range p.Platforms {
		s := pl.OS
		if pl.Architecture != "" {
			s += "/" + pl.Architecture
		}
		plats = append(plats, s)
	}
	if len(plats) > 0 {
		out.Extra = map[string]string{placement.PlatformsKey: strings.Join(plats, ",")}
	}
	return nil
}

func fromUpdateConfig(u *swarm.UpdateConfig) (types.UpdateConfig, error) {
	if u == nil {
		return types.UpdateConfig{}, nil
	}
	p := u.Parallelism
	return types.UpdateConfig{Parallelism: &p, Delay: u.Delay, FailureAction: string(u.FailureAction), Monitor: u.Monitor,
		MaxFailureRatio: float64(u.MaxFailureRatio), Order: string(u.Order)}, nil
}

func fromEndpointSpec(e *swarm.EndpointSpec) (types.EndpointSpec, error) {
	var out types.EndpointSpec
	if e == nil {
		return out, nil
	}
	out.Mode = string(e.Mode)
	for i, p := range e.Ports {
		path := "EndpointSpec.Ports[" + itoa(i) + "]"
		if p.PublishMode == swarm.PortConfigPublishModeHost {
			return out, fault.Invalidf("%s: publish mode host is not served by shoal: a published port answers on every node (mode ingress)", path)
		}
		if p.TargetPort > 65535 || p.PublishedPort > 65535 {
			return out, fault.Invalidf("%s: port %d/%d is out of range (1-65535)", path, p.PublishedPort, p.TargetPort)
		}
		out.Ports = append(out.Ports, types.PortConfig{Protocol: string(p.Protocol), TargetPort: uint16(p.TargetPort), PublishedPort: uint16(p.PublishedPort)})
	}
	return out, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// nilIfEmpty copies m; an empty map (Docker's labels are never null) is
// stored as none.
func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// cloneList is a copy of l, nil when empty (as a stored spec keeps it).
func cloneList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return slices.Clone(l)
}
