package stack

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	ctypes "github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-org/shoal/api/types"
)

// deploy maps the deploy key: mode, replicas, placement, resources,
// update and rollback configs, endpoint mode.
func (c *converter) deploy(spec *types.ServiceSpec, s ctypes.ServiceConfig, field string) error {
	d := s.Deploy
	if d == nil {
		return nil
	}
	switch d.Mode {
	case "", "replicated":
		if d.Replicas != nil {
			if *d.Replicas < 0 {
				return invalidf("%s.deploy.replicas: %d is negative: use 0 or more", field, *d.Replicas)
			}
			spec.Mode.Replicas = uint64(*d.Replicas)
		}
	case "global":
		if d.Replicas != nil {
			return invalidf("%s.deploy.replicas: a global service runs one task per node: drop replicas or use mode: replicated", field)
		}
		spec.Mode = types.ServiceMode{Global: true}
	default:
		return invalidf("%s.deploy.mode: %q is not served by shoal: use replicated or global", field, d.Mode)
	}
	var prefs []string
	for _, p := range d.Placement.Preferences {
		prefs = append(prefs, p.Spread)
	}
	if err := checkPlacement(field, d.Placement.Constraints, prefs); err != nil {
		return err
	}
	spec.Task.Placement = types.Placement{Constraints: nilIfEmpty(d.Placement.Constraints), Preferences: nilIfEmpty(prefs),
		MaxReplicas: d.Placement.MaxReplicas}
	if err := c.resources(spec, d.Resources, field+".deploy.resources"); err != nil {
		return err
	}
	spec.Update = updateConfig(d.UpdateConfig)
	spec.Rollback = updateConfig(d.RollbackConfig)
	for _, u := range []struct {
		name string
		cfg  types.UpdateConfig
	}{{"update_config", spec.Update}, {"rollback_config", spec.Rollback}} {
		if err := checkUpdate(field+".deploy."+u.name, u.cfg); err != nil {
			return err
		}
	}
	switch d.EndpointMode {
	case "", "vip", "dnsrr":
		spec.Endpoint.Mode = d.EndpointMode
	default:
		return invalidf("%s.deploy.endpoint_mode: %q: use vip or dnsrr", field, d.EndpointMode)
	}
	return nil
}

func (c *converter) resources(spec *types.ServiceSpec, r ctypes.Resources, field string) error {
	conv := func(res *ctypes.Resource, f string) (types.Resources, error) {
		if res == nil {
			return types.Resources{}, nil
		}
		if res.NanoCPUs < 0 || res.MemoryBytes < 0 {
			return types.Resources{}, invalidf("%s: cpus and memory must not be negative", f)
		}
		if res.Pids != 0 || len(res.Devices) > 0 || len(res.GenericResources) > 0 {
			c.warnf("%s: pids, devices and generic_resources are not supported by shoal, ignored", f)
		}
		return types.Resources{NanoCPUs: nanoCPUs(res.NanoCPUs), MemoryBytes: int64(res.MemoryBytes)}, nil
	}
	var err error
	if spec.Task.Limits, err = conv(r.Limits, field+".limits"); err != nil {
		return err
	}
	spec.Task.Reservations, err = conv(r.Reservations, field+".reservations")
	return err
}

// nanoCPUs converts compose-go's float32 CPU count exactly as written:
// float32(0.1) times 1e9 is 100000001, not the 100000000 the user meant.
func nanoCPUs(n ctypes.NanoCPUs) int64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(n), 'g', -1, 32), 64)
	if err != nil {
		return int64(float64(n) * 1e9)
	}
	return int64(math.Round(v * 1e9))
}

func updateConfig(u *ctypes.UpdateConfig) types.UpdateConfig {
	if u == nil {
		return types.UpdateConfig{}
	}
	out := types.UpdateConfig{Delay: time.Duration(u.Delay), FailureAction: u.FailureAction, Monitor: time.Duration(u.Monitor),
		MaxFailureRatio: float64(u.MaxFailureRatio), Order: u.Order}
	if u.Parallelism != nil {
		p := *u.Parallelism
		out.Parallelism = &p
	}
	return out
}

func checkUpdate(field string, u types.UpdateConfig) error {
	switch u.FailureAction {
	case "", "pause", "continue", "rollback":
	default:
		return invalidf("%s.failure_action: %q: use pause, continue or rollback", field, u.FailureAction)
	}
	switch u.Order {
	case "", "stop-first", "start-first":
	default:
		return invalidf("%s.order: %q: use stop-first or start-first", field, u.Order)
	}
	if u.MaxFailureRatio < 0 || u.MaxFailureRatio > 1 {
		return invalidf("%s.max_failure_ratio: %g: use a ratio between 0 and 1", field, u.MaxFailureRatio)
	}
	return nil
}

// restart maps deploy.restart_policy, or else the service's restart key
// as docker stack deploy reads it.
func (c *converter) restart(spec *types.ServiceSpec, s ctypes.ServiceConfig, field string) error {
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		switch rp.Condition {
		case "", "none", "on-failure", "any":
		default:
			return invalidf("%s.deploy.restart_policy.condition: %q: use none, on-failure or any", field, rp.Condition)
		}
		out := types.RestartPolicy{Condition: rp.Condition}
		if rp.Delay != nil {
			out.Delay = time.Duration(*rp.Delay)
		}
		if rp.MaxAttempts != nil {
			out.MaxAttempts = *rp.MaxAttempts
		}
		if rp.Window != nil {
			out.Window = time.Duration(*rp.Window)
		}
		if s.Restart != "" {
			c.warnf("%s.restart: ignored: deploy.restart_policy is set", field)
		}
		spec.Task.RestartPolicy = out
		return nil
	}
	policy, attempts, _ := strings.Cut(s.Restart, ":")
	switch policy {
	case "":
	case "no":
		spec.Task.RestartPolicy.Condition = "none"
	case "always", "unless-stopped":
		spec.Task.RestartPolicy.Condition = "any"
	case "on-failure":
		spec.Task.RestartPolicy.Condition = "on-failure"
		if attempts != "" {
			n, err := strconv.ParseUint(attempts, 10, 64)
			if err != nil {
				return invalidf("%s.restart: %q: write on-failure:N with N a count", field, s.Restart)
			}
			spec.Task.RestartPolicy.MaxAttempts = n
		}
	default:
		return invalidf("%s.restart: %q: use no, always, unless-stopped or on-failure[:N]", field, s.Restart)
	}
	return nil
}

// ports maps published ports; shoal publishes every port on every node
// (ingress), so host mode is refused.
func (c *converter) ports(spec *types.ServiceSpec, s ctypes.ServiceConfig, field string) error {
	for i, p := range s.Ports {
		f := fmt.Sprintf("%s.ports[%d]", field, i)
		if p.Mode == "host" {
			return invalidf("%s: mode host is not served by shoal: a published port answers on every node (use mode: ingress)", f)
		}
		if p.Target < 1 || p.Target > 65535 {
			return invalidf("%s.target: %d is out of range: use a port between 1 and 65535", f, p.Target)
		}
		if p.Published == "" {
			return invalidf("%s.published: missing: shoal does not choose a published port; write PUBLISHED:%d", f, p.Target)
		}
		pub, err := strconv.ParseUint(p.Published, 10, 16)
		if err != nil || pub == 0 {
			return invalidf("%s.published: %q: use one port between 1 and 65535 (ranges are not served)", f, p.Published)
		}
		switch p.Protocol {
		case "", "tcp", "udp":
		default:
			return invalidf("%s.protocol: %q: use tcp or udp", f, p.Protocol)
		}
		if p.HostIP != "" {
			c.warnf("%s.host_ip: %s ignored: a published port answers on every address of every node", f, p.HostIP)
		}
		spec.Endpoint.Ports = append(spec.Endpoint.Ports,
			types.PortConfig{Protocol: p.Protocol, TargetPort: uint16(p.Target), PublishedPort: uint16(pub)})
	}
	return nil
}
