package agent

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// restartAgent starts a new agent on cfg (the data dir and ports of one
// that was stopped).
func restartAgent(t *testing.T, cfg Config) *testAgent {
	t.Helper()
	a, err := New(Config{DataDir: cfg.DataDir, Name: cfg.Name, BindAddr: cfg.BindAddr, GossipPort: cfg.GossipPort,
		RaftPort: cfg.RaftPort, APIPort: cfg.APIPort, APISocket: cfg.APISocket, VoterGrace: cfg.VoterGrace, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	if ta.c, err = api.NewClient("unix://"+cfg.APISocket, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ta.stop)
	return ta
}

// TestStaleVotersRejoinRecoveredCluster: three voters stop; r1 is recovered
// alone and restarted; then r2 and r3 restart with the old 3-voter
// configuration. They must never lead, must rejoin r1's generation by
// themselves with their old raft state set aside, and r1's leader must
// record its generation in the replicated cluster record.
func TestStaleVotersRejoinRecoveredCluster(t *testing.T) {
	agents := formCluster(t, "s1", "s2", "s3")
	eventually(t, 30*time.Second, "three voters", func() error {
		if v := agents[0].a.cl.voterCount(); v != 3 {
			return fmt.Errorf("%d voters", v)
		}
		return nil
	})
	cfgs := make([]Config, 3)
	for i, ta := range agents {
		cfgs[i] = ta.a.cfg
		ta.stop()
	}
	res, err := Recover(cfgs[0].DataDir, "127.0.0.1", cfgs[0].RaftPort, nil, cfgs[0].Logger)
	if err != nil {
		t.Fatal(err)
	}
	r1 := restartAgent(t, cfgs[0])
	eventually(t, 30*time.Second, "s1 leads at the new generation", func() error {
		cl, err := r1.a.cluster()
		if err != nil || !cl.isLeader() {
			return fmt.Errorf("not leading yet (%v)", err)
		}
		if c := cl.store.View().Cluster(); c == nil || c.Generation != res.Generation.String() {
			return fmt.Errorf("cluster record generation %+v, want %s", c, res.Generation)
		}
		return nil
	})

	var mu sync.Mutex
	var leaders []string
	stopWatch := make(chan struct{})
	var wg sync.WaitGroup
	others := make([]*testAgent, 2)
	for i := range others {
		others[i] = restartAgent(t, cfgs[i+1])
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, ta := range others {
				if cl, err := ta.a.cluster(); err == nil && cl.isLeader() {
					mu.Lock()
					leaders = append(leaders, ta.a.cfg.Name+" at "+cl.id.generation().String())
					mu.Unlock()
				}
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	for _, ta := range others {
		eventually(t, 60*time.Second, ta.a.cfg.Name+" rejoined", func() error {
			cl, err := ta.a.cluster()
			if err != nil {
				return err
			}
			if g := cl.id.generation(); g != res.Generation {
				return fmt.Errorf("generation %s", g)
			}
			for _, n := range r1.nodes(t) {
				if n.Hostname == ta.a.cfg.Name && n.Status == types.NodeReady && n.Role == types.RoleVoter {
					return nil
				}
			}
			return fmt.Errorf("not a Ready voter on s1 yet: %+v", r1.nodes(t))
		})
		aside, _ := filepath.Glob(filepath.Join(ta.a.cfg.DataDir, staleDirPrefix+"1-*"))
		if len(aside) != 1 {
			t.Errorf("%s: stale raft dirs %v, want one", ta.a.cfg.Name, aside)
		}
	}
	close(stopWatch)
	wg.Wait()
	if len(leaders) > 0 {
		t.Fatalf("returning old voters led: %v", leaders)
	}
	var info api.Info
	if err := others[0].do(http.MethodGet, "/v1/info", nil, &info); err != nil || info.Generation != res.Generation.String() {
		t.Fatalf("info on s2: generation %q (%v), want %s", info.Generation, err, res.Generation)
	}
}
