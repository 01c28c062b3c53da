package netctl

import (
	"net/netip"
	"slices"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/overlay"
	"github.com/shoal-org/shoal/store"
)

// desiredOverlay is the overlay this node should have, from a view of the
// store: every network that leases this node a subnet, with every other
// node that holds a lease and is not down as a peer. It is pure.
func desiredOverlay(v *store.View, self string) []overlay.Network {
	nodes := map[string]*types.Node{}
	for _, n := range v.Nodes() {
		nodes[n.ID] = n
	}
	var out []overlay.Network
	for _, nw := range v.Networks() {
		own, err := netip.ParsePrefix(nw.Leases[self])
		if err != nil {
			continue // no lease here (yet)
		}
		cidr, _ := netip.ParsePrefix(nw.Subnet)
		on := overlay.Network{Name: nw.Name, VNI: nw.VNI, Subnet: own, CIDR: cidr}
		if cidr.IsValid() {
			on.VIPs = overlay.VIPBlock(cidr)
		}
		ids := make([]string, 0, len(nw.Leases))
		for id := range nw.Leases {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			n := nodes[id]
			if id == self || n == nil || n.Status == types.NodeDown {
				continue
			}
			addr, err1 := netip.ParseAddr(n.Addr)
			sub, err2 := netip.ParsePrefix(nw.Leases[id])
			if err1 != nil || err2 != nil || !addr.Is4() {
				continue
			}
			on.Peers = append(on.Peers, overlay.Peer{NodeID: id, Underlay: addr, Subnet: sub})
		}
		out = append(out, on)
	}
	return out
}

// taskNetworks names the networks task t joins: those its spec names, or
// the default network. None means the host network (a cluster without
// networks).
func taskNetworks(v *store.View, t *types.Task) []string {
	if len(t.Spec.Networks) > 0 {
		return t.Spec.Networks
	}
	if n := v.DefaultNetwork(); n != nil {
		return []string{n.Name}
	}
	return nil
}
