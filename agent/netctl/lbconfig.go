package netctl

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/lb"
	"github.com/shoal-org/shoal/resolver"
	"github.com/shoal-org/shoal/store"
)

// draining reports whether task t runs but must take no new connection:
// it is leaving, or not healthy (yet, or any more). It keeps its
// established connections (weight 0) until it stops: taking a running task
// out of the load balancer would cut them (lb deletes a removed backend's
// conntrack entries), and a request in flight on it would never get its
// answer. The worker stops an unhealthy task after StopDrain, as it does a
// leaving one; only then does it leave the load balancer.
func draining(t *types.Task) bool {
	return t.Status.State == types.TaskRunning && !resolver.Serving(t)
}

// lbConfig is the load balancer every node programs, from a view of the
// store. It is pure. For each service in VIP mode:
//   - per network it joins, its VIP on every port (TCP and UDP) to the same
//     port of its tasks' addresses on that network;
//   - per published port, the port on every local address to the target
//     port of its tasks (their address on the service's first network).
//
// Serving tasks get weight 1; tasks that still run but are leaving or not
// healthy get weight 0, so that they finish their connections and take no
// new one.
func lbConfig(v *store.View) lb.Config {
	var cfg lb.Config
	for _, svc := range v.Services() {
		if svc.Spec.Endpoint.Mode == "dnsrr" || len(svc.VIPs) == 0 {
			continue
		}
		tasks := v.TasksByService(svc.ID)
		nets := serviceNetworkOrder(svc)
		for _, net := range nets {
			vip, err := netip.ParseAddr(svc.VIPs[net])
			if err != nil {
				continue
			}
			cfg.Services = append(cfg.Services, lb.Service{Key: svc.ID + "/vip/" + net, VIP: vip,
				Backends: backends(tasks, net, 0)})
		}
		if len(svc.Spec.Endpoint.Ports) == 0 || len(nets) == 0 {
			continue
		}
		for _, p := range svc.Spec.Endpoint.Ports {
			cfg.Services = append(cfg.Services, lb.Service{
				Key:  svc.ID + "/published/" + strconv.Itoa(int(p.PublishedPort)) + "/" + p.Protocol,
				Port: p.TargetPort, Proto: lb.Proto(p.Protocol), PublishedPort: p.PublishedPort,
				Backends: backends(tasks, nets[0], p.TargetPort)})
		}
	}
	return cfg
}

// serviceNetworkOrder lists the networks of svc's VIPs, those the spec
// names first, in its order.
func serviceNetworkOrder(svc *types.Service) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range svc.Spec.Task.Networks {
		if _, ok := svc.VIPs[n]; ok && !seen[n] {
			out, seen[n] = append(out, n), true
		}
	}
	var rest []string
	for n := range svc.VIPs {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func backends(tasks []*types.Task, net string, port uint16) []lb.Backend {
	var out []lb.Backend
	for _, t := range tasks {
		w := 0
		switch {
		case resolver.Serving(t):
			w = 1
		case draining(t):
		default:
			continue
		}
		ip, err := netip.ParseAddr(t.Addresses[net])
		if err != nil {
			continue
		}
		out = append(out, lb.Backend{IP: ip, Port: port, Weight: w})
	}
	return out
}
