package control

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
)

// TestNodeUpdate: a typo in --label-rm, a bad availability or label key,
// or a write at an old version is refused and changes nothing; a good
// update changes just what it names.
func TestNodeUpdate(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	n1 := tc.Store.View().Node(selfID).Copy()
	n1.Labels = map[string]string{"zone": "a", "disk": "ssd"}
	tc.mustApply(t, store.Op{Kind: store.OpPut, Table: store.TableNodes, Node: n1})
	before := tc.Store.View().Node(selfID)
	update := func(u api.NodeUpdate) error {
		_, err := tc.ops.NodeUpdate(ctx, selfName, u)
		return err
	}
	refused(t, "--label-rm missing", update(api.NodeUpdate{LabelRm: []string{"zone", "rack"}}), http.StatusBadRequest,
		`--label-rm "rack": node n1 has no label "rack" (see `+"`agentctl node inspect n1`)")
	refused(t, "availability sleep", update(api.NodeUpdate{Availability: "sleep"}), http.StatusBadRequest,
		`availability "sleep": use active, pause or drain`)
	refused(t, "label key with '='", update(api.NodeUpdate{LabelAdd: map[string]string{"a=b": "c"}}), http.StatusBadRequest, `label key "a=b"`)
	refused(t, "an old version", update(api.NodeUpdate{Availability: "drain", Version: before.Version - 1}), http.StatusConflict,
		"update out of sequence: node n1 changed since it was read")
	if after := tc.Store.View().Node(selfID); after.Version != before.Version {
		t.Fatalf("refused updates changed node n1: version %d -> %d", before.Version, after.Version)
	}

	n, err := tc.ops.NodeUpdate(ctx, selfName, api.NodeUpdate{Availability: "drain", LabelRm: []string{"disk"},
		LabelAdd: map[string]string{"rack": "r7"}, Version: before.Version})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"zone": "a", "rack": "r7"}; n.Availability != types.AvailabilityDrain || !reflect.DeepEqual(n.Labels, want) ||
		!n.Self || n.ManagerStatus != "Leader" || !n.Authoritative {
		t.Errorf("after the update: %s %v self=%v %q %+v; want drain, labels %v, self, Leader, authoritative",
			n.Availability, n.Labels, n.Self, n.ManagerStatus, n.Freshness, want)
	}
}

// TestNodeRemove: only a Down node other than the answering one leaves,
// out of raft first.
func TestNodeRemove(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	tc.mustApply(t, store.Op{Kind: store.OpCreate, Table: store.TableNodes, Node: &types.Node{ID: "node-2", Hostname: "n2", Status: types.NodeReady}})
	refused(t, "remove Ready n2", tc.ops.NodeRemove(ctx, "n2", false), http.StatusConflict,
		"node n2 (node-2) is ready: only a Down node can be removed")
	refused(t, "remove self", tc.ops.NodeRemove(ctx, selfName, true), http.StatusBadRequest,
		"node n1 is the agent answering this request: run `agent leave` on it instead")
	if len(tc.removed) != 0 || len(tc.Store.View().Nodes()) != 2 {
		t.Fatalf("refused removals removed %v from raft, left %d nodes", tc.removed, len(tc.Store.View().Nodes()))
	}
	if err := tc.ops.NodeRemove(ctx, "n2", true); err != nil {
		t.Fatalf("remove n2 with force: %v", err)
	}
	_, err := tc.ops.Node(ctx, "n2")
	refused(t, "n2 after its removal", err, http.StatusNotFound, "n2")
	if !reflect.DeepEqual(tc.removed, []string{"node-2"}) {
		t.Errorf("raft removals: %v, want node-2's", tc.removed)
	}
	nodes, err := tc.ops.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Hostname != selfName {
		t.Errorf("nodes: %+v, %v; want n1 alone", nodes, err)
	}
}
