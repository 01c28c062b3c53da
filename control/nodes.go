package control

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/store"
)

// nodeViews decorates stored nodes with what this agent sees right after a
// write the leader acknowledged.
func (cl *Cluster) nodeViews(nodes []*types.Node) []api.Node {
	return deriveNodes(nodes, cl.statusView(api.Freshness{Authoritative: true}))
}

// Nodes lists the nodes with the statuses this agent can vouch for.
func (o *Ops) Nodes(ctx context.Context) ([]api.Node, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, err
	}
	fresh := cl.Sync(ctx)
	return deriveNodes(cl.Store.View().Nodes(), cl.statusView(fresh)), nil
}

// Node is one node of Nodes, by ID, ID prefix or hostname.
func (o *Ops) Node(ctx context.Context, ref string) (api.Node, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.Node{}, err
	}
	fresh := cl.Sync(ctx)
	n, err := cl.Store.View().FindNode(ref)
	if err != nil {
		return api.Node{}, err
	}
	return deriveNodes([]*types.Node{n}, cl.statusView(fresh))[0], nil
}

// NodeUpdate changes a node's availability and labels at the version the
// client read (0: any), and returns the node as written.
func (o *Ops) NodeUpdate(ctx context.Context, ref string, upd api.NodeUpdate) (api.Node, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.Node{}, err
	}
	if err := validateNodeUpdate(upd); err != nil {
		return api.Node{}, err
	}
	// Read-modify-write with a version check; retried if gossip updated
	// the same row in between.
	for attempt := 0; ; attempt++ {
		n, err := cl.Store.View().FindNode(ref)
		if err != nil {
			return api.Node{}, err
		}
		if upd.Version != 0 && upd.Version != n.Version {
			return api.Node{}, &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf(
				"update out of sequence: node %s changed since it was read (version %d, now %d): read it again and retry", n.Hostname, upd.Version, n.Version)}
		}
		if err := checkLabelRm(n, upd.LabelRm); err != nil {
			return api.Node{}, err
		}
		cp := n.Copy()
		applyNodeUpdate(cp, upd)
		_, err = cl.Apply(ctx, store.Command{Ops: []store.Op{{Kind: store.OpPut, Table: store.TableNodes, Node: cp, IfVersion: n.Version}}})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return api.Node{}, err
		}
		return cl.nodeViews([]*types.Node{cl.Store.View().Node(cp.ID)})[0], nil
	}
}

func validateNodeUpdate(u api.NodeUpdate) error {
	switch types.Availability(u.Availability) {
	case "", types.AvailabilityActive, types.AvailabilityPause, types.AvailabilityDrain:
	default:
		return fault.Invalidf("availability %q: use active, pause or drain", u.Availability)
	}
	for k := range u.LabelAdd {
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			return fault.Invalidf("label key %q: must be non-empty without spaces or '='", k)
		}
	}
	for _, k := range u.LabelRm {
		if k == "" {
			return fault.Invalidf("label to remove: empty key")
		}
	}
	return nil
}

// checkLabelRm refuses removing a label the node does not have: a typo
// must not pass silently.
func checkLabelRm(n *types.Node, keys []string) error {
	for _, k := range keys {
		if _, ok := n.Labels[k]; !ok {
			return fault.Invalidf("--label-rm %q: node %s has no label %q (see `agentctl node inspect %s`)", k, n.Hostname, k, n.Hostname)
		}
	}
	return nil
}

func applyNodeUpdate(n *types.Node, u api.NodeUpdate) {
	if u.Availability != "" {
		n.Availability = types.Availability(u.Availability)
	}
	for _, k := range u.LabelRm {
		delete(n.Labels, k)
	}
	if len(u.LabelAdd) > 0 && n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, v := range u.LabelAdd {
		n.Labels[k] = v
	}
}

// NodeRemove takes a Down node (any node but this one, with force) out of
// raft and then out of the nodes table.
func (o *Ops) NodeRemove(ctx context.Context, ref string, force bool) error {
	cl, err := o.cluster()
	if err != nil {
		return err
	}
	n, err := cl.Store.View().FindNode(ref)
	if err != nil {
		return err
	}
	if n.Status != types.NodeDown && !force {
		return &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf(
			"node %s (%s) is %s: only a Down node can be removed; run `agent leave` on it or stop its agent first, or pass --force",
			n.Hostname, n.ID, n.Status)}
	}
	if n.ID == cl.NodeID {
		return fault.Invalidf("node %s is the agent answering this request: run `agent leave` on it instead", n.Hostname)
	}
	if err := cl.RemovePeer(ctx, n.ID); err != nil {
		return err
	}
	ops := []store.Op{{Kind: store.OpDelete, Table: store.TableNodes, ID: n.ID}}
	if _, err := cl.Apply(ctx, store.Command{Ops: ops}); err != nil {
		return err
	}
	return nil
}
