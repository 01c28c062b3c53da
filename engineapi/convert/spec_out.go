package convert

import (
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api/placement"
	"github.com/shoal-org/shoal/api/types"
)

// ServiceSpec is s as a Docker service spec. The replica count of a
// replicated service, the update and rollback configs and the endpoint
// spec are always present: the CLI's progress display and
// `service inspect` read them without checking.
func ServiceSpec(s types.ServiceSpec) swarm.ServiceSpec {
	out := swarm.ServiceSpec{
		Annotations:    swarm.Annotations{Name: s.Name, Labels: labels(s.Labels)},
		TaskTemplate:   TaskSpec(s.Task),
		UpdateConfig:   updateConfig(s.Update),
		RollbackConfig: updateConfig(s.Rollback),
		EndpointSpec:   &swarm.EndpointSpec{Mode: swarm.ResolutionMode(s.Endpoint.Mode), Ports: ports(s.Endpoint.Ports)},
	}
	if out.EndpointSpec.Mode == "" {
		out.EndpointSpec.Mode = swarm.ResolutionModeVIP
	}
	if s.Mode.Global {
		out.Mode.Global = &swarm.GlobalService{}
	} else {
		n := s.Mode.Replicas
		out.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	}
	return out
}

// TaskSpec is t as a Docker task spec.
func TaskSpec(t types.TaskTemplate) swarm.TaskSpec {
	cs := &swarm.ContainerSpec{
		Image: t.Image, Labels: maps.Clone(t.Labels), Command: slices.Clone(t.Command), Args: slices.Clone(t.Args),
		Env: slices.Clone(t.Env), Dir: t.Dir, User: t.User, StopSignal: t.StopSignal,
		StopGracePeriod: durationPtr(t.StopGracePeriod), Healthcheck: healthcheck(t.Healthcheck),
	}
	for _, m := range t.Mounts {
		dm := mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		if m.TmpfsSize != 0 || m.TmpfsMode != 0 {
			dm.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize, Mode: os.FileMode(m.TmpfsMode)}
		}
		cs.Mounts = append(cs.Mounts, dm)
	}
	cs.Hostname, cs.Hosts = t.Hostname, slices.Clone(t.Hosts)
	if d := t.DNS; d != nil {
		cs.DNSConfig = &swarm.DNSConfig{Search: slices.Clone(d.Search), Options: slices.Clone(d.Options)}
		for _, ns := range d.Nameservers {
			if a, err := netip.ParseAddr(ns); err == nil { // the front door checked them
				cs.DNSConfig.Nameservers = append(cs.DNSConfig.Nameservers, a)
			}
		}
	}
	fileRefs(t, cs)
	rp := t.RestartPolicy
	out := swarm.TaskSpec{
		ContainerSpec: cs,
		Resources: &swarm.ResourceRequirements{
			Limits:       &swarm.Limit{NanoCPUs: t.Limits.NanoCPUs, MemoryBytes: t.Limits.MemoryBytes},
			Reservations: &swarm.Resources{NanoCPUs: t.Reservations.NanoCPUs, MemoryBytes: t.Reservations.MemoryBytes},
		},
		RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(rp.Condition),
			Delay: durationPtr(rp.Delay), MaxAttempts: uint64Ptr(rp.MaxAttempts), Window: durationPtr(rp.Window)},
		Placement:   &swarm.Placement{Constraints: slices.Clone(t.Placement.Constraints), MaxReplicas: t.Placement.MaxReplicas},
		ForceUpdate: t.ForceUpdate,
		Runtime:     swarm.RuntimeContainer,
	}
	for _, p := range t.Placement.Preferences {
		out.Placement.Preferences = append(out.Placement.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: p}})
	}
	if list := t.Extra[placement.PlatformsKey]; list != "" {
		for _, item := range strings.Split(list, ",") {
			os, arch, _ := strings.Cut(item, "/")
			out.Placement.Platforms = append(out.Placement.Platforms, swarm.Platform{OS: os, Architecture: arch})
		}
	}
	for _, n := range t.Networks {
		out.Networks = append(out.Networks, swarm.NetworkAttachmentConfig{Target: n, Aliases: slices.Clone(t.Aliases[n])})
	}
	return out
}

func updateConfig(u types.UpdateConfig) *swarm.UpdateConfig {
	out := &swarm.UpdateConfig{Delay: u.Delay, FailureAction: swarm.FailureAction(u.FailureAction), Monitor: u.Monitor,
		MaxFailureRatio: float32(u.MaxFailureRatio), Order: swarm.UpdateOrder(u.Order)}
	if u.Parallelism != nil {
		out.Parallelism = *u.Parallelism
	}
	return out
}

func ports(ps []types.PortConfig) []swarm.PortConfig {
	var out []swarm.PortConfig
	for _, p := range ps {
		out = append(out, swarm.PortConfig{Protocol: network.IPProtocol(p.Protocol), TargetPort: uint32(p.TargetPort),
			PublishedPort: uint32(p.PublishedPort), PublishMode: swarm.PortConfigPublishModeIngress})
	}
	return out
}

func healthcheck(h *types.HealthConfig) *container.HealthConfig {
	if h == nil {
		return nil
	}
	return &container.HealthConfig{Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
		Retries: h.Retries, StartPeriod: h.StartPeriod}
}

func durationPtr(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}

func uint64Ptr(n uint64) *uint64 {
	if n == 0 {
		return nil
	}
	return &n
}
