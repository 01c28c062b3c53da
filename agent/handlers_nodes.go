package agent

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
)

// nodeViews decorates stored nodes with what this agent sees right after a
// write the leader acknowledged.
func (cl *cluster) nodeViews(nodes []*types.Node) []api.Node {
	return deriveNodes(nodes, cl.statusView(api.Freshness{Authoritative: true}))
}

func (a *Agent) handleNodeList(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	fresh := cl.readFreshness(r.Context())
	return writeJSON(w, http.StatusOK, deriveNodes(cl.store.View().Nodes(), cl.statusView(fresh)))
}

func (a *Agent) handleNodeInspect(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	fresh := cl.readFreshness(r.Context())
	n, err := cl.store.View().FindNode(r.PathValue("ref"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, deriveNodes([]*types.Node{n}, cl.statusView(fresh))[0])
}

func (a *Agent) handleNodeUpdate(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	var upd api.NodeUpdate
	if err := readJSON(r, &upd); err != nil {
		return err
	}
	if err := validateNodeUpdate(upd); err != nil {
		return err
	}
	// Read-modify-write with a version check; retried if gossip updated
	// the same row in between.
	for attempt := 0; ; attempt++ {
		n, err := cl.store.View().FindNode(r.PathValue("ref"))
		if err != nil {
			return err
		}
		if err := checkLabelRm(n, upd.LabelRm); err != nil {
			return err
		}
		cp := n.Copy()
		applyNodeUpdate(cp, upd)
		_, err = cl.apply(r.Context(), store.Command{Ops: []store.Op{{Kind: store.OpPut, Table: store.TableNodes, Node: cp, IfVersion: n.Version}}})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, cl.nodeViews([]*types.Node{cl.store.View().Node(cp.ID)})[0])
	}
}

func validateNodeUpdate(u api.NodeUpdate) error {
	switch types.Availability(u.Availability) {
	case "", types.AvailabilityActive, types.AvailabilityPause, types.AvailabilityDrain:
	default:
		return badRequest("availability %q: use active, pause or drain", u.Availability)
	}
	for k := range u.LabelAdd {
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			return badRequest("label key %q: must be non-empty without spaces or '='", k)
		}
	}
	for _, k := range u.LabelRm {
		if k == "" {
			return badRequest("label to remove: empty key")
		}
	}
	return nil
}

// checkLabelRm refuses removing a label the node does not have: a typo
// must not pass silently.
func checkLabelRm(n *types.Node, keys []string) error {
	for _, k := range keys {
		if _, ok := n.Labels[k]; !ok {
			return badRequest("--label-rm %q: node %s has no label %q (see `agentctl node inspect %s`)", k, n.Hostname, k, n.Hostname)
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

func (a *Agent) handleNodeRemove(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	n, err := cl.store.View().FindNode(r.PathValue("ref"))
	if err != nil {
		return err
	}
	force := r.URL.Query().Get("force") == "true"
	if n.Status != types.NodeDown && !force {
		return &httpError{code: http.StatusConflict, msg: fmt.Sprintf(
			"node %s (%s) is %s: only a Down node can be removed; run `agent leave` on it or stop its agent first, or pass --force",
			n.Hostname, n.ID, n.Status)}
	}
	if n.ID == cl.id.NodeID {
		return badRequest("node %s is the agent answering this request: run `agent leave` on it instead", n.Hostname)
	}
	if err := cl.removePeer(r.Context(), n.ID); err != nil {
		return err
	}
	ops := []store.Op{{Kind: store.OpDelete, Table: store.TableNodes, ID: n.ID}}
	if _, err := cl.apply(r.Context(), store.Command{Ops: ops}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct{}{})
}
