// Package netplan is how the leader plans overlay networks, as pure
// functions of a snapshot: ranges for new networks, VXLAN IDs, each node's
// lease of a block of every network, and service VIPs. Callers (the API's
// operations, the leader's lease loop) write the result through raft with
// version checks, so two plans made at once conflict instead of sharing an
// address.
package netplan

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/internal/idgen"
	"github.com/shoal-org/shoal/overlay"
	"github.com/shoal-org/shoal/store"
)

// A network's range is cut into node-sized blocks (overlay.NodeBits). The first
// block holds the VIPs of the network's services; every other block can be
// leased to one node, which then owns its addresses (node-local IPAM).

const (
	// DefaultNetwork is the network services join when they name none.
	DefaultNetwork = "shoal"
	// FirstVNI is the default network's VXLAN ID; later networks count up.
	FirstVNI = 4096
	// NetworkPool is where `network create` without --subnet finds a range.
	NetworkPool = "10.241.0.0/16"
	// vipLeaseKey reserves the VIP block in a network's lease table while
	// leases are computed. It sorts before every node ID.
	vipLeaseKey = "\x00vips"
)

// VIPBlock is the block of network n that holds its services' VIPs.
func VIPBlock(n *types.Network) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(n.Subnet)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("network %q: subnet %q: %w", n.Name, n.Subnet, err)
	}
	return overlay.VIPBlock(p), nil
}

// PlanLeases returns changed copies of the networks whose lease tables need
// a change: every node in nodes gets a block of every network (keeping the
// one it holds), and leases of nodes no longer in the store are freed.
// A network that is full is reported in errs and leases what it can.
func PlanLeases(nets []*types.Network, nodes []*types.Node) (changed []*types.Network, errs []error) {
	ids := make([]string, 0, len(nodes))
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	slices.Sort(ids)
	for _, nw := range nets {
		block, err := VIPBlock(nw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		leases := map[string]string{}
		taken := map[string]string{vipLeaseKey: block.String()}
		for _, id := range ids {
			if s, ok := nw.Leases[id]; ok {
				taken[id] = s
			}
		}
		for _, id := range ids {
			s, err := overlay.LeaseSubnet(nw.Subnet, block.Bits(), taken, id)
			if err != nil {
				errs = append(errs, fmt.Errorf("network %q: lease a subnet to node %s: %w (create the network with a wider --subnet)", nw.Name, id, err))
				continue
			}
			taken[id], leases[id] = s, s
		}
		if !maps.Equal(leases, nw.Leases) {
			cp := nw.Copy()
			cp.Leases = leases
			changed = append(changed, cp)
		}
	}
	return changed, errs
}

// ServiceNetworks resolves the networks a service spec joins: those it
// names, or the default network.
func ServiceNetworks(spec types.ServiceSpec, v *store.View) ([]*types.Network, error) {
	names := spec.Task.Networks
	if len(names) == 0 {
		if n := v.DefaultNetwork(); n != nil {
			return []*types.Network{n}, nil
		}
		return nil, nil // a cluster from before networks: host network
	}
	out := make([]*types.Network, 0, len(names))
	for _, name := range names {
		n := v.NetworkByName(name)
		if n == nil {
			return nil, fault.Invalidf("network %q not found: see `agentctl network ls`, or create it with `agentctl network create %s`", name, name)
		}
		if slices.ContainsFunc(out, func(o *types.Network) bool { return o.Name == name }) {
			return nil, fault.Invalidf("network %q is named twice", name)
		}
		out = append(out, n)
	}
	return out, nil
}

// AllocVIPs gives a service a VIP on each of nets, keeping the ones it has
// (old), taking the lowest free address of each network's VIP block. used
// holds every VIP in use by other services, as "network/address". dnsrr
// services get none.
func AllocVIPs(nets []*types.Network, old map[string]string, mode string, used map[string]bool) (map[string]string, error) {
	if mode == "dnsrr" || len(nets) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, n := range nets {
		if a, ok := old[n.Name]; ok {
			out[n.Name] = a
			continue
		}
		block, err := VIPBlock(n)
		if err != nil {
			return nil, err
		}
		// .0 and .1 mirror a node block's network and gateway addresses;
		// the last address is the block's broadcast.
		a := block.Addr().Next().Next()
		for ; block.Contains(a) && used[n.Name+"/"+a.String()]; a = a.Next() {
		}
		if !block.Contains(a) || !block.Contains(a.Next()) {
			return nil, &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf(
				"network %q has no free VIP in %s: remove a service from it, or use another network", n.Name, block)}
		}
		out[n.Name] = a.String()
	}
	return out, nil
}

// UsedVIPs collects the VIPs of every service but skipID.
func UsedVIPs(svcs []*types.Service, skipID string) map[string]bool {
	used := map[string]bool{}
	for _, s := range svcs {
		if s.ID == skipID {
			continue
		}
		for net, a := range s.VIPs {
			used[net+"/"+a] = true
		}
	}
	return used
}

// NewNetworkRange picks the lowest /24 of NetworkPool that overlaps no
// existing network, for `network create` without --subnet.
func NewNetworkRange(nets []*types.Network) (netip.Prefix, error) {
	var taken []netip.Prefix
	for _, n := range nets {
		if p, err := netip.ParsePrefix(n.Subnet); err == nil {
			taken = append(taken, p)
		}
	}
	p, err := overlay.FreeBlock(netip.MustParsePrefix(NetworkPool), 24, taken)
	if err != nil {
		return p, fault.Invalidf("no free /24 left in %s for a new network: pass --subnet", NetworkPool)
	}
	return p, nil
}

// NextVNI is one more than the highest VNI in use.
func NextVNI(nets []*types.Network) uint32 {
	v := uint32(FirstVNI)
	for _, n := range nets {
		v = max(v, n.VNI+1)
	}
	return v
}

// DefaultNetworkOp creates the default network over the cluster's overlay
// CIDR; init writes it with the cluster record.
func DefaultNetworkOp(cidr string) store.Op {
	return store.Op{Kind: store.OpCreate, Table: store.TableNetworks, Network: &types.Network{
		ID: idgen.New(), Name: DefaultNetwork, Subnet: cidr, VNI: FirstVNI, Default: true}}
}
