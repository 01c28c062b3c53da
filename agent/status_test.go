package agent

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
)

// statusCounts counts nodes by "status/manager status", as `node ls`
// shows them.
func statusCounts(nodes []api.Node) map[string]int {
	out := map[string]int{}
	for _, n := range nodes {
		out[string(n.Status)+"/"+n.ManagerStatus]++
	}
	return out
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
		got := statusCounts(agents[0].nodes(t))
		if got["ready/Leader"] != 1 || got["ready/Reachable"] != 2 {
			return fmt.Errorf("nodes: %v", got)
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
		want := map[string]string{"n1": "ready/Reachable", "n2": "unknown/Unreachable", "n3": "unknown/Unreachable"}
		if len(ns) != len(want) {
			return fmt.Errorf("%d nodes, want n1, n2 and n3", len(ns))
		}
		for _, n := range ns {
			if got := string(n.Status) + "/" + n.ManagerStatus; got != want[n.Hostname] || (n.Hostname != "n1") != (n.ReplicaStatus != "") {
				return fmt.Errorf("%s: %s (replica %q), want %s and a replica status only for n2 and n3", n.Hostname, got, n.ReplicaStatus, want[n.Hostname])
			}
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
