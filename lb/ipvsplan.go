package lb

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// vsKey names an IPVS virtual service: a frontend VIP:port/proto, or a
// firewall mark when Mark is not 0.
type vsKey struct {
	FE   Frontend
	Mark uint32
}

func (k vsKey) String() string {
	if k.Mark != 0 {
		return fmt.Sprintf("fwmark %#x", k.Mark)
	}
	return k.FE.String()
}

// ipvsVS is the state of one IPVS virtual service: its scheduler and its
// real servers with their weights.
type ipvsVS struct {
	Sched string
	Dests map[netip.AddrPort]int
}

// ipvsOpKind is one IPVS change.
type ipvsOpKind int

// The IPVS changes, in the order a plan lists them for one service.
const (
	opDelService ipvsOpKind = iota
	opAddService
	opUpdateService
	opAddDest
	opUpdateDest
	opDelDest
)

// ipvsOp is one step of an IPVS plan.
type ipvsOp struct {
	Kind   ipvsOpKind
	VS     vsKey
	Sched  string         // add/update service
	Dest   netip.AddrPort // dest ops
	Weight int            // add/update dest
}

func (o ipvsOp) String() string {
	names := [...]string{"del-service", "add-service", "update-service", "add-dest", "update-dest", "del-dest"}
	s := names[o.Kind] + " " + o.VS.String()
	switch o.Kind {
	case opAddService, opUpdateService:
		s += " sched=" + o.Sched
	case opAddDest, opUpdateDest:
		s += fmt.Sprintf(" %s weight=%d", backendString(o.Dest), o.Weight)
	case opDelDest:
		s += " " + backendString(o.Dest)
	}
	return s
}

// scheduler picks rr when every backend that takes connections has the
// same weight, else wrr. Both skip weight-0 (quiesced) real servers.
func scheduler(bs []Backend) string {
	w := 0
	for _, b := range bs {
		if b.Weight == 0 {
			continue
		}
		if w != 0 && b.Weight != w {
			return "wrr"
		}
		w = b.Weight
	}
	return "rr"
}

// ipvsDesired maps the desired services to virtual services: one at
// VIP:port/proto per port VIP, one per firewall mark for each all-port VIP
// and each published port, with the marks given.
func ipvsDesired(svcs map[string]Service, marks map[markOwner]uint32) map[vsKey]ipvsVS {
	out := make(map[vsKey]ipvsVS, len(svcs))
	for _, s := range svcs {
		vs := ipvsVS{Sched: scheduler(s.Backends), Dests: make(map[netip.AddrPort]int, len(s.Backends))}
		for _, b := range s.Backends {
			vs.Dests[b.AddrPort()] = b.Weight
		}
		for _, o := range ownersOf(s) {
			out[vsKey{Mark: marks[o]}] = vs
		}
		if s.VIP.IsValid() && !s.AllPorts() {
			out[vsKey{FE: s.Frontend()}] = vs
		}
	}
	return out
}

// ipvsPlan lists the IPVS changes that turn have into want: services that
// go are deleted first, then each remaining or new service is created or
// updated, its new and reweighted real servers set before the removed ones
// are deleted (so a replaced backend's service never runs empty). It is
// pure and its order deterministic.
func ipvsPlan(have, want map[vsKey]ipvsVS) []ipvsOp {
	var ops []ipvsOp
	for _, fe := range sortedVS(have) {
		if _, ok := want[fe]; !ok {
			ops = append(ops, ipvsOp{Kind: opDelService, VS: fe})
		}
	}
	for _, fe := range sortedVS(want) {
		w := want[fe]
		h, ok := have[fe]
		switch {
		case !ok:
			ops = append(ops, ipvsOp{Kind: opAddService, VS: fe, Sched: w.Sched})
		case h.Sched != w.Sched:
			ops = append(ops, ipvsOp{Kind: opUpdateService, VS: fe, Sched: w.Sched})
		}
		for _, d := range sortedDests(w.Dests) {
			hw, had := h.Dests[d]
			switch {
			case !had:
				ops = append(ops, ipvsOp{Kind: opAddDest, VS: fe, Dest: d, Weight: w.Dests[d]})
			case hw != w.Dests[d]:
				ops = append(ops, ipvsOp{Kind: opUpdateDest, VS: fe, Dest: d, Weight: w.Dests[d]})
			}
		}
		for _, d := range sortedDests(h.Dests) {
			if _, keep := w.Dests[d]; !keep {
				ops = append(ops, ipvsOp{Kind: opDelDest, VS: fe, Dest: d})
			}
		}
	}
	return ops
}

func sortedVS[V any](m map[vsKey]V) []vsKey {
	out := make([]vsKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b vsKey) int {
		return cmp.Or(cmp.Compare(a.Mark, b.Mark), compareFrontends(a.FE, b.FE))
	})
	return out
}

func compareFrontends(a, b Frontend) int {
	return cmp.Or(a.VIP.Compare(b.VIP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
}

func sortedDests(m map[netip.AddrPort]int) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return out
}

// applyOp records in have the effect of op once the kernel performed it. A
// service's dest map is replaced, never modified, so copies of have taken
// before stay intact.
func applyOp(have map[vsKey]ipvsVS, op ipvsOp) {
	vs := have[op.VS]
	dests := make(map[netip.AddrPort]int, len(vs.Dests)+1)
	for k, v := range vs.Dests {
		dests[k] = v
	}
	switch op.Kind {
	case opDelService:
		delete(have, op.VS)
		return
	case opAddService, opUpdateService:
		vs.Sched = op.Sched
	case opAddDest, opUpdateDest:
		dests[op.Dest] = op.Weight
	case opDelDest:
		delete(dests, op.Dest)
	}
	vs.Dests = dests
	have[op.VS] = vs
}

// vipSet lists the distinct VIPs of svcs.
func vipSet(svcs map[string]Service) map[netip.Addr]bool {
	out := make(map[netip.Addr]bool, len(svcs))
	for _, s := range svcs {
		if s.VIP.IsValid() {
			out[s.VIP] = true
		}
	}
	return out
}
