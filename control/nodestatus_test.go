package control

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/membership"
)

// statusRows renders derived nodes as "host status/manager" words, so a
// table test reads like `node ls`.
func statusRows(nodes []api.Node) string {
	var rows []string
	for _, n := range nodes {
		row := fmt.Sprintf("%s %s/%s", n.Hostname, n.Status, n.ManagerStatus)
		if n.ReplicaStatus != "" {
			row += " (replica " + string(n.ReplicaStatus) + ")"
		}
		rows = append(rows, row)
	}
	return strings.Join(rows, ", ")
}

func TestDeriveNodes(t *testing.T) {
	since := time.Date(2026, 12, 4, 12, 3, 4, 0, time.UTC)
	live := api.Freshness{Authoritative: true}
	stale := api.Freshness{NoLeaderSince: since}
	const alive, failed, left = membership.StatusAlive, membership.StatusFailed, membership.StatusLeft
	// n1 answers; n1..n3 are voters, n4 a non-voter, n5 left for good.
	nodes := []*types.Node{
		{ID: "n1", Hostname: "n1", Status: types.NodeReady},
		{ID: "n2", Hostname: "n2", Status: types.NodeReady},
		{ID: "n3", Hostname: "n3", Status: types.NodeReady},
		{ID: "n4", Hostname: "n4", Status: types.NodeReady},
		{ID: "n5", Hostname: "n5", Status: types.NodeDown},
	}
	voters := map[string]bool{"n1": true, "n2": true, "n3": true, "n4": false}
	for _, tt := range []struct {
		name   string
		leader string
		gossip map[string]membership.Status
		fresh  api.Freshness
		want   string
	}{
		{"a live leader: the replica's records stand, whatever gossip says", "n2",
			map[string]membership.Status{"n1": alive, "n2": alive, "n3": failed, "n5": left}, live,
			"n1 ready/Reachable, n2 ready/Leader, n3 ready/Unreachable, n4 ready/, n5 down/"},
		{"quorum lost, two voters powered off", "",
			map[string]membership.Status{"n1": alive, "n2": failed, "n3": failed, "n4": alive, "n5": left}, stale,
			"n1 ready/Reachable, n2 unknown/Unreachable (replica ready), n3 unknown/Unreachable (replica ready), n4 ready/, n5 down/"},
		{"raft still names a leader whose reads fail: nobody is shown Leader", "n2",
			map[string]membership.Status{"n1": alive, "n2": alive, "n3": alive, "n4": alive, "n5": left}, stale,
			"n1 ready/Reachable, n2 ready/Reachable, n3 ready/Reachable, n4 ready/, n5 down/"},
		{"nodes gossip has never met, and a Down node gossip sees failed", "",
			map[string]membership.Status{"n1": alive, "n5": failed}, stale,
			"n1 ready/Reachable, n2 unknown/Unreachable (replica ready), n3 unknown/Unreachable (replica ready), n4 unknown/ (replica ready), n5 unknown/ (replica down)"},
		{"a node gossip sees alive keeps its replica status, even Down", "",
			map[string]membership.Status{"n1": alive, "n2": alive, "n3": left, "n4": alive, "n5": alive}, stale,
			"n1 ready/Reachable, n2 ready/Reachable, n3 unknown/Unreachable (replica ready), n4 ready/, n5 down/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sv := statusView{self: "n1", voters: voters, leader: tt.leader, gossip: tt.gossip, fresh: tt.fresh}
			got := deriveNodes(nodes, sv)
			if s := statusRows(got); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
			for _, n := range got {
				if n.Freshness != tt.fresh {
					t.Errorf("%s: freshness %+v, want %+v", n.Hostname, n.Freshness, tt.fresh)
				}
				if n.Self != (n.ID == "n1") {
					t.Errorf("%s: Self = %v", n.Hostname, n.Self)
				}
				if (n.ReplicaStatus != "") != strings.Contains(n.StatusMessage, "no leader is reachable") {
					t.Errorf("%s: replica status %q but message %q", n.Hostname, n.ReplicaStatus, n.StatusMessage)
				}
			}
		})
	}
	// The records themselves are left alone.
	if nodes[1].Status != types.NodeReady || nodes[1].StatusMessage != "" {
		t.Errorf("deriveNodes changed the replica's record: %+v", nodes[1])
	}
}
