package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/spec"
	"github.com/shoal-org/shoal/store"
)

// Volumes. A volume lives on one node, in its runtime's state directory
// (package agent/runtime), so the cluster's view of volumes is gathered:
// the agent asked lists its own and asks every other node's agent for
// theirs (Local), as `service logs` gathers logs. A node that is down or
// does not answer is named in the answer's warnings, never hidden.

// volumeAskTimeout bounds one node's answer to a volume request.
const volumeAskTimeout = 5 * time.Second

// Volumes lists the volumes of every node, or of o.Node, or with o.Local of
// this node only.
func (o *Ops) Volumes(ctx context.Context, opts api.VolumeOptions) (api.VolumeList, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.VolumeList{}, err
	}
	if opts.Local {
		vols, err := cl.localVolumes(ctx)
		return api.VolumeList{Volumes: vols}, err
	}
	list, _, err := o.gatherVolumes(ctx, cl, opts.Node)
	return list, err
}

// gatherVolumes lists the volumes of node ref's, or of every node, sorted
// by name then node, and returns the nodes it asked by ID.
func (o *Ops) gatherVolumes(ctx context.Context, cl *Cluster, ref string) (api.VolumeList, map[string]api.Node, error) {
	nodes, err := o.volumeNodes(ctx, ref)
	if err != nil {
		return api.VolumeList{}, nil, err
	}
	list := api.VolumeList{Volumes: []api.Volume{}}
	byID := make(map[string]api.Node, len(nodes))
	for _, a := range askNodes(ctx, cl, nodes, cl.localVolumes, func(ctx context.Context, c *api.Client) ([]api.Volume, error) {
		l, err := c.Volumes(ctx, api.VolumeOptions{Local: true})
		return l.Volumes, err
	}) {
		byID[a.node.ID] = a.node
		if a.err != nil {
			list.Warnings = append(list.Warnings, a.err.Error())
			continue
		}
		list.Volumes = append(list.Volumes, a.out...)
	}
	slices.SortFunc(list.Volumes, func(a, b api.Volume) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.NodeHostname, b.NodeHostname))
	})
	return list, byID, nil
}

// VolumeRemove removes volume name from every node that has it (or from
// o.Node; with o.Local, from this node). If a container mounts it on any
// of those nodes, nothing is removed: the error names the tasks and nodes.
// Nodes that cannot be asked keep theirs, named in the answer's warnings.
func (o *Ops) VolumeRemove(ctx context.Context, name string, opts api.VolumeOptions) (api.VolumeRemoveResponse, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.VolumeRemoveResponse{}, err
	}
	if err := spec.VolumeName(name); err != nil {
		return api.VolumeRemoveResponse{}, specError(err)
	}
	if opts.Local {
		return cl.removeLocalVolume(ctx, name)
	}
	list, byID, err := o.gatherVolumes(ctx, cl, opts.Node)
	if err != nil {
		return api.VolumeRemoveResponse{}, err
	}
	var holders []api.Node
	var busy []string
	for _, v := range list.Volumes {
		if v.Name != name {
			continue
		}
		holders = append(holders, byID[v.NodeID])
		if len(v.UsedBy) > 0 {
			busy = append(busy, fmt.Sprintf("%s on %s", strings.Join(v.UsedBy, ", "), v.NodeHostname))
		}
	}
	if len(busy) > 0 {
		return api.VolumeRemoveResponse{}, fault.Conflictf("volume %s is in use by %s: remove or update the services that mount it first (the data stays until the volume is removed)", name, strings.Join(busy, "; "))
	}
	if len(holders) == 0 {
		where := "any node"
		if opts.Node != "" {
			where = "node " + opts.Node
		}
		msg := fmt.Sprintf("no volume %s on %s: agentctl volume ls lists them", name, where)
		if len(list.Warnings) > 0 {
			msg += " (not asked: " + strings.Join(list.Warnings, "; ") + ")"
		}
		return api.VolumeRemoveResponse{}, &fault.Error{Kind: fault.NotFound, Msg: msg}
	}
	resp := api.VolumeRemoveResponse{Warnings: list.Warnings}
	var errs []error
	local := func(ctx context.Context) (api.VolumeRemoveResponse, error) { return cl.removeLocalVolume(ctx, name) }
	for _, a := range askNodes(ctx, cl, holders, local, func(ctx context.Context, c *api.Client) (api.VolumeRemoveResponse, error) {
		return c.VolumeRemove(ctx, name, api.VolumeOptions{Local: true})
	}) {
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		resp.Nodes = append(resp.Nodes, a.node.Hostname)
	}
	slices.Sort(resp.Nodes)
	return resp, errors.Join(errs...)
}

// volumeNodes are the nodes a volume request goes to: ref's, or all.
func (o *Ops) volumeNodes(ctx context.Context, ref string) ([]api.Node, error) {
	if ref != "" {
		n, err := o.Node(ctx, ref)
		if err != nil {
			return nil, err
		}
		return []api.Node{n}, nil
	}
	return o.Nodes(ctx)
}

// answer is one node's answer to askNodes.
type answer[T any] struct {
	node api.Node
	out  T
	err  error
}

// askNodes asks every node at once, this one by local and the others by
// remote through their agents, and returns the answers in the nodes'
// order. A node that is down is not asked: its answer is an error that
// says so.
func askNodes[T any](ctx context.Context, cl *Cluster, nodes []api.Node, local func(context.Context) (T, error), remote func(context.Context, *api.Client) (T, error)) []answer[T] {
	out := make([]answer[T], len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		out[i].node = n
		switch {
		case n.ID == cl.NodeID:
			out[i].out, out[i].err = local(ctx)
			continue
		case n.Status == types.NodeDown:
			out[i].err = fmt.Errorf("node %s is down: it was not asked", n.Hostname)
			continue
		case n.Addr == "" || n.APIPort == 0:
			out[i].err = fmt.Errorf("node %s has no API address yet", n.Hostname)
			continue
		}
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, volumeAskTimeout)
			defer cancel()
			c := cl.Dial(net.JoinHostPort(n.Addr, strconv.Itoa(n.APIPort)))
			if out[i].out, out[i].err = remote(actx, c); out[i].err != nil {
				out[i].err = fmt.Errorf("node %s: %w", n.Hostname, out[i].err)
			}
		})
	}
	wg.Wait()
	return out
}

// localVolumes lists this node's volumes, naming the tasks that use them.
func (cl *Cluster) localVolumes(ctx context.Context) ([]api.Volume, error) {
	rt, err := cl.containerd()
	if err != nil {
		return nil, err
	}
	vols, err := rt.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	v := cl.Store.View()
	out := make([]api.Volume, 0, len(vols))
	for _, vol := range vols {
		out = append(out, api.Volume{
			Name: vol.Name, Driver: "local", Scope: "local", NodeID: cl.NodeID, NodeHostname: cl.NodeName,
			Mountpoint: vol.Mountpoint, CreatedAt: vol.CreatedAt, UsedBy: taskNames(v, vol.Containers),
		})
	}
	return out, nil
}

// removeLocalVolume removes volume name from this node.
func (cl *Cluster) removeLocalVolume(ctx context.Context, name string) (api.VolumeRemoveResponse, error) {
	rt, err := cl.containerd()
	if err != nil {
		return api.VolumeRemoveResponse{}, err
	}
	var inUse *runtime.VolumeInUseError
	switch err := rt.RemoveVolume(ctx, name); {
	case errors.As(err, &inUse):
		return api.VolumeRemoveResponse{}, fault.Conflictf("volume %s is in use by %s on %s: remove or update the services that mount it first",
			name, strings.Join(taskNames(cl.Store.View(), inUse.Containers), ", "), cl.NodeName)
	case errors.Is(err, runtime.ErrVolumeNotFound):
		return api.VolumeRemoveResponse{}, &fault.Error{Kind: fault.NotFound, Msg: fmt.Sprintf("no volume %s on %s", name, cl.NodeName)}
	case err != nil:
		return api.VolumeRemoveResponse{}, fmt.Errorf("volume %s on %s: %w", name, cl.NodeName, err)
	}
	return api.VolumeRemoveResponse{Nodes: []string{cl.NodeName}}, nil
}

// taskNames names containers by their tasks (SERVICE.SLOT.ID), or by
// their IDs when the cluster has forgotten them.
func taskNames(v *store.View, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if t := v.Task(id); t != nil {
			out = append(out, taskName(t))
		} else {
			out = append(out, id)
		}
	}
	return out
}
