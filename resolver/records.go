package resolver

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-org/shoal/api/types"
)

// Serving reports whether t should receive traffic: the orchestrator wants it
// running, its node reports it running, and it is healthy or has no
// healthcheck. DNS (tasks.*, dnsrr) and the load balancer use this one rule
// so that a name and a VIP always lead to the same set of tasks.
func Serving(t *types.Task) bool {
	return t.DesiredState == types.TaskRunning &&
		t.Status.State == types.TaskRunning &&
		(t.Status.Healthy == nil || *t.Status.Healthy)
}

// Records is an immutable snapshot of every name the resolver answers,
// built from one view of the store. It is safe for use by many goroutines;
// a change of the store produces a new Records rather than changing one.
type Records struct {
	// nets are the overlay networks in name order, to find the network of
	// a client from its address.
	nets []netRange
	// hosts maps a live task's address to every network the task is on, so
	// that a task on several networks sees the services of all of them
	// whichever of its addresses it asks from.
	hosts map[netip.Addr][]string
	// names maps a lowercased name without trailing dot to its answers.
	names map[string]*entry
}

type netRange struct {
	name   string
	prefix netip.Prefix
}

// entry is one name: the addresses it resolves to on each network where it
// exists, in the service's network order (Spec order, or the default
// network for a service that names none).
type entry struct {
	perNet []netIPs
}

type netIPs struct {
	network string
	ips     []netip.Addr
}

// Build makes the records for the given store objects. It only reads them
// and keeps no reference to them. Names that collide are resolved in favour
// of the shorter form: SERVICE and tasks.SERVICE are entered before
// SERVICE.NETWORK and tasks.SERVICE.NETWORK, and among services of the same
// (case-folded) name the first in slice order wins.
func Build(networks []*types.Network, services []*types.Service, tasks []*types.Task) *Records {
	r := &Records{hosts: make(map[netip.Addr][]string, len(tasks)), names: make(map[string]*entry, 4*len(services))}
	known := make(map[string]bool, len(networks))
	defaultNet := ""
	for _, n := range networks {
		known[n.Name] = true
		if n.Default && defaultNet == "" {
			defaultNet = n.Name
		}
		if p, err := netip.ParsePrefix(n.Subnet); err == nil && p.Addr().Is4() {
			r.nets = append(r.nets, netRange{name: n.Name, prefix: p.Masked()})
		}
	}
	slices.SortFunc(r.nets, func(a, b netRange) int { return strings.Compare(a.name, b.name) })

	serving := make(map[string][]*types.Task)
	for _, t := range tasks {
		if Serving(t) {
			serving[t.ServiceID] = append(serving[t.ServiceID], t)
		}
		if !t.Status.State.Terminal() && !t.DesiredState.Terminal() {
			r.addHost(t)
		}
	}

	type pending struct {
		key string
		e   *entry
	}
	var long, aliases []pending
	for _, s := range services {
		nets := serviceNetworks(s, known, defaultNet)
		if len(nets) == 0 {
			continue
		}
		name := strings.ToLower(s.Spec.Name)
		vip, direct := serviceEntries(s, nets, serving[s.ID])
		r.add(name, vip)
		r.add("tasks."+name, direct)
		for i, n := range nets {
			lnet := strings.ToLower(n)
			long = append(long,
				pending{name + "." + lnet, &entry{perNet: vip.perNet[i : i+1]}},
				pending{"tasks." + name + "." + lnet, &entry{perNet: direct.perNet[i : i+1]}})
			// A network alias answers on its network only, after every
			// service's own name (a service named like another's alias
			// keeps its name).
			for _, a := range s.Spec.Task.Aliases[n] {
				la := strings.ToLower(a)
				aliases = append(aliases, pending{la, &entry{perNet: vip.perNet[i : i+1]}},
					pending{"tasks." + la, &entry{perNet: direct.perNet[i : i+1]}})
			}
		}
	}
	for _, p := range append(aliases, long...) {
		r.add(p.key, p.e)
	}
	return r
}

// add enters e under key unless the key is taken.
func (r *Records) add(key string, e *entry) {
	if _, ok := r.names[key]; !ok {
		r.names[key] = e
	}
}

// addHost records the networks of t's addresses.
func (r *Records) addHost(t *types.Task) {
	var nets []string
	for n := range t.Addresses {
		nets = append(nets, n)
	}
	slices.Sort(nets)
	for _, n := range nets {
		if a, ok := parseIPv4(t.Addresses[n]); ok {
			r.hosts[a] = nets
		}
	}
}

// serviceNetworks lists the existing networks s is on, in Spec order, or
// the default network when s names none.
func serviceNetworks(s *types.Service, known map[string]bool, defaultNet string) []string {
	var out []string
	for _, n := range s.Spec.Task.Networks {
		if known[n] && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(s.Spec.Task.Networks) == 0 && defaultNet != "" {
		out = append(out, defaultNet)
	}
	return out
}

// serviceEntries returns the entries of SERVICE (the VIP, or the task
// addresses in dnsrr mode) and tasks.SERVICE, one netIPs per network.
func serviceEntries(s *types.Service, nets []string, tasks []*types.Task) (vip, direct *entry) {
	vip, direct = &entry{}, &entry{}
	dnsrr := strings.EqualFold(s.Spec.Endpoint.Mode, "dnsrr")
	for _, n := range nets {
		var ips []netip.Addr
		for _, t := range tasks {
			if a, ok := parseIPv4(t.Addresses[n]); ok {
				ips = append(ips, a)
			}
		}
		slices.SortFunc(ips, netip.Addr.Compare)
		ips = slices.Compact(ips)
		direct.perNet = append(direct.perNet, netIPs{network: n, ips: ips})
		v := netIPs{network: n, ips: ips}
		if !dnsrr {
			v.ips = nil
			if a, ok := parseIPv4(s.VIPs[n]); ok {
				v.ips = []netip.Addr{a}
			}
		}
		vip.perNet = append(vip.perNet, v)
	}
	return vip, direct
}

// parseIPv4 accepts "10.240.1.5" or "10.240.1.5/24".
func parseIPv4(s string) (netip.Addr, bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	return a, a.Is4()
}

// Len returns how many names the records hold.
func (r *Records) Len() int { return len(r.names) }
