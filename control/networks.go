package control

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/internal/idgen"
	"github.com/shoal-org/shoal/netplan"
	"github.com/shoal-org/shoal/spec"
	"github.com/shoal-org/shoal/store"
)

// withVIPs sets svc.VIPs (svc is a copy about to be written) for the
// networks its spec joins, checks its spec against the rest of the cluster
// and its limits (admitService), and returns ops that guard the allocation: they rewrite the
// networks at the version read, so two services allocating at once
// conflict instead of sharing a VIP.
func withVIPs(v *store.View, svc *types.Service) ([]store.Op, error) {
	if err := admitService(v, svc); err != nil {
		return nil, err
	}
	nets, err := netplan.ServiceNetworks(svc.Spec, v)
	if err != nil {
		return nil, err
	}
	vips, err := netplan.AllocVIPs(nets, svc.VIPs, svc.Spec.Endpoint.Mode, netplan.UsedVIPs(v.Services(), svc.ID))
	if err != nil {
		return nil, err
	}
	svc.VIPs = vips
	var guards []store.Op
	for _, n := range nets {
		guards = append(guards, store.Op{Kind: store.OpPut, Table: store.TableNetworks, Network: n.Copy(), IfVersion: n.Version})
	}
	return guards, nil
}

// commitService writes the service build makes from a fresh view, retrying
// a few times when a concurrent write (another VIP allocation) got in first.
func (cl *Cluster) commitService(ctx context.Context, build func(v *store.View) ([]store.Op, error)) error {
	cl.commitMu.Lock()
	defer cl.commitMu.Unlock()
	var err error
	for range 5 {
		var ops []store.Op
		if ops, err = build(cl.Store.View()); err != nil {
			return err
		}
		if _, err = cl.Apply(ctx, store.Command{Ops: ops}); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return err
}

// NetworkCreate admits a new overlay network (admitNetwork) and records it
// with its range, VNI and every node's lease of it.
func (o *Ops) NetworkCreate(ctx context.Context, req api.NetworkCreateRequest) (api.NetworkCreateResponse, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.NetworkCreateResponse{}, err
	}
	v := cl.Store.View()
	subnet, err := admitNetwork(v, req)
	if err != nil {
		return api.NetworkCreateResponse{}, err
	}
	nets := v.Networks()
	n := &types.Network{ID: idgen.New(), Name: req.Name, Subnet: subnet.String(), VNI: netplan.NextVNI(nets), Labels: req.Labels}
	if leased, _ := netplan.PlanLeases([]*types.Network{n}, v.Nodes()); len(leased) == 1 {
		n.Leases = leased[0].Leases
	}
	if _, err := cl.Apply(ctx, store.Command{Ops: []store.Op{{Kind: store.OpCreate, Table: store.TableNetworks, Network: n}}}); err != nil {
		return api.NetworkCreateResponse{}, err
	}
	return api.NetworkCreateResponse{ID: n.ID}, nil
}

// Networks lists the overlay networks, never nil.
func (o *Ops) Networks(ctx context.Context) ([]*types.Network, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, err
	}
	cl.Sync(ctx)
	nets := cl.Store.View().Networks()
	if nets == nil {
		nets = []*types.Network{}
	}
	return nets, nil
}

// Network finds one overlay network by ID, ID prefix or name.
func (o *Ops) Network(ctx context.Context, ref string) (*types.Network, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, err
	}
	cl.Sync(ctx)
	n, err := cl.Store.View().FindNetwork(ref)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// NetworkRemove removes a network no service uses; the default network
// stays.
func (o *Ops) NetworkRemove(ctx context.Context, ref string) error {
	cl, err := o.cluster()
	if err != nil {
		return err
	}
	v := cl.Store.View()
	n, err := v.FindNetwork(ref)
	if err != nil {
		return err
	}
	if n.Default {
		return fault.Invalidf("network %q is the default network and cannot be removed", n.Name)
	}
	for _, s := range v.Services() {
		if _, ok := s.VIPs[n.Name]; ok || contains(s.Spec.Task.Networks, n.Name) {
			return &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf(
				"network %q is in use by service %q: remove the service or update it with --network-rm %s first", n.Name, s.Spec.Name, n.Name)}
		}
	}
	if _, err := cl.Apply(ctx, store.Command{Ops: []store.Op{{Kind: store.OpDelete, Table: store.TableNetworks, ID: n.ID, IfVersion: n.Version}}}); err != nil {
		return err
	}
	return nil
}

// admitNetwork checks a network create request against the front door's
// rules and the cluster (package spec) and returns the range to use: the
// one asked for, or a free one of NetworkPool.
func admitNetwork(v *store.View, req api.NetworkCreateRequest) (netip.Prefix, error) {
	if err := spec.ValidateNetworkName(req.Name); err != nil {
		return netip.Prefix{}, specError(err)
	}
	for _, n := range v.Networks() {
		if strings.EqualFold(n.Name, req.Name) {
			return netip.Prefix{}, &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf(
				"network %q already exists (as %q; names differ in more than case): pick another name", req.Name, n.Name)}
		}
	}
	sc, lim := specCluster(v), clusterLimits(v)
	if err := spec.CheckNetworkCount(sc, lim); err != nil {
		return netip.Prefix{}, specError(err)
	}
	if err := spec.CheckLabels("label", req.Labels, lim); err != nil {
		return netip.Prefix{}, specError(err)
	}
	subnet, err := netplan.NewNetworkRange(sc.Networks)
	if req.Subnet != "" {
		subnet, err = spec.ParseSubnet(req.Subnet)
	}
	if err != nil {
		return subnet, specError(err)
	}
	return subnet, specError(spec.CheckSubnet(sc, subnet))
}
