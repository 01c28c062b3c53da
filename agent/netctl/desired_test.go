package netctl

import (
	"testing"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
	"github.com/shoal-org/shoal/store/storetest"
)

// testStore builds a replica holding objs (nodes, networks, services,
// tasks), written in one command.
func testStore(t *testing.T, objs ...any) *store.Store {
	t.Helper()
	f := storetest.New(t)
	f.Put(objs...)
	return f.Store
}

func TestDesiredOverlay(t *testing.T) {
	s := testStore(t,
		&types.Node{ID: "a", Addr: "10.77.0.1", Status: types.NodeReady},
		&types.Node{ID: "b", Addr: "10.77.0.2", Status: types.NodeReady},
		&types.Node{ID: "c", Addr: "10.77.0.3", Status: types.NodeDown},
		&types.Node{ID: "d", Addr: "10.77.0.4", Status: types.NodeUnknown},
		&types.Network{ID: "n1", Name: "shoal", Subnet: "10.240.0.0/16", VNI: 4096, Default: true,
			Leases: map[string]string{"a": "10.240.1.0/24", "b": "10.240.2.0/24", "c": "10.240.3.0/24", "d": "10.240.4.0/24"}},
		// A network that has not leased a to a yet is not built on a.
		&types.Network{ID: "n2", Name: "back", Subnet: "10.241.0.0/24", VNI: 4097,
			Leases: map[string]string{"b": "10.241.0.16/28"}},
	)
	got := desiredOverlay(s.View(), "a")
	if len(got) != 1 {
		t.Fatalf("networks = %+v, want only shoal", got)
	}
	n := got[0]
	if n.Name != "shoal" || n.VNI != 4096 || n.Subnet.String() != "10.240.1.0/24" || n.CIDR.String() != "10.240.0.0/16" || n.VIPs.String() != "10.240.0.0/24" {
		t.Errorf("network = %+v", n)
	}
	var peers []string
	for _, p := range n.Peers {
		peers = append(peers, p.NodeID+"@"+p.Underlay.String()+"="+p.Subnet.String())
	}
	// c is down: its routes go; d's status is unknown: kept.
	want := []string{"b@10.77.0.2=10.240.2.0/24", "d@10.77.0.4=10.240.4.0/24"}
	if len(peers) != len(want) || peers[0] != want[0] || peers[1] != want[1] {
		t.Errorf("peers = %v, want %v", peers, want)
	}
}

func TestTaskNetworks(t *testing.T) {
	s := testStore(t, &types.Network{ID: "n1", Name: "shoal", Subnet: "10.240.0.0/16", Default: true})
	if got := taskNetworks(s.View(), &types.Task{}); len(got) != 1 || got[0] != "shoal" {
		t.Errorf("task naming no network joins %v, want the default", got)
	}
	named := &types.Task{Spec: types.TaskTemplate{Networks: []string{"x", "y"}}}
	if got := taskNetworks(s.View(), named); len(got) != 2 {
		t.Errorf("task naming networks joins %v", got)
	}
	if got := taskNetworks(testStore(t).View(), &types.Task{}); got != nil {
		t.Errorf("without networks a task joins %v, want the host network", got)
	}
}
