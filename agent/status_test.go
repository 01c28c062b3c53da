package agent

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
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

func TestLeaderWatch(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var never time.Time
	for _, tt := range []struct {
		name        string
		steps       func(w *leaderWatch)
		lastContact time.Time
		want        time.Time
	}{
		{"never a leader: since the watch started", func(w *leaderWatch) {
			w.observe(false, at(0))
		}, never, at(0)},
		{"a leader lost: since the loss was observed", func(w *leaderWatch) {
			w.observe(true, at(1))
			w.observe(false, at(30))
		}, at(29), at(30)},
		{"a read confirmed after the election counts as a sighting", func(w *leaderWatch) {
			w.observe(true, at(1))
			w.confirmed(at(20))
		}, never, at(20)},
		{"raft names a leader whose reads fail: its last heartbeat", func(w *leaderWatch) {
			w.observe(true, at(1))
		}, at(50), at(50)},
		{"no second loss: a lost leader stays lost at the first moment", func(w *leaderWatch) {
			w.observe(true, at(1))
			w.observe(false, at(10))
			w.observe(false, at(40))
		}, never, at(10)},
		{"a new leader, lost again", func(w *leaderWatch) {
			w.observe(true, at(1))
			w.observe(false, at(10))
			w.observe(true, at(60))
			w.observe(false, at(70))
		}, at(65), at(70)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var w leaderWatch
			w.start(at(0))
			tt.steps(&w)
			if got := w.lastSeen(tt.lastContact); !got.Equal(tt.want) {
				t.Errorf("lastSeen = %s, want %s", got.Format(time.TimeOnly), tt.want.Format(time.TimeOnly))
			}
		})
	}
}

// TestStatusWithoutLeaderInProcess stops two agents of three at once: the
// survivor has no quorum. Its answers must say so and date the loss, and
// show the two it cannot see as unknown; the e2e test does the same with
// powered-off lab hosts and agentctl.
func TestStatusWithoutLeaderInProcess(t *testing.T) {
	agents := formCluster(t, "n1", "n2", "n3")
	eventually(t, 15*time.Second, "three Ready voters under a leader", func() error {
		got := statusRows(agents[0].nodes(t))
		if strings.Count(got, "ready/Leader") != 1 || strings.Count(got, "ready/Reachable") != 2 {
			return fmt.Errorf("nodes: %s", got)
		}
		return nil
	})
	before := time.Now()
	var wg sync.WaitGroup
	for _, ta := range agents[1:] {
		wg.Add(1)
		go func() { defer wg.Done(); ta.stop() }()
	}
	wg.Wait()
	eventually(t, 30*time.Second, "n2 and n3 unknown on n1", func() error {
		ns := agents[0].nodes(t)
		got := statusRows(ns)
		if !strings.HasPrefix(got, "n1 ready/Reachable, n2 unknown/Unreachable (replica ") ||
			!strings.Contains(got, "n3 unknown/Unreachable (replica ") {
			return fmt.Errorf("nodes: %s", got)
		}
		for _, n := range ns {
			if n.Authoritative || n.NoLeaderSince.Before(before) || n.NoLeaderSince.After(time.Now()) {
				return fmt.Errorf("%s: %+v, want no leader since a moment after %s", n.Hostname, n.Freshness, before)
			}
		}
		return nil
	})
	var info api.Info
	if err := agents[0].do(http.MethodGet, "/v1/info", nil, &info); err != nil {
		t.Fatal(err)
	}
	if info.Authoritative || info.NoLeaderSince.Before(before) || info.NoLeaderSince.After(time.Now()) {
		t.Errorf("info without a leader: %+v, want no leader since a moment after %s", info.Freshness, before)
	}
}
