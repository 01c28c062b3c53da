package membership

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// startGuardedNode starts a single-voter raft over mutual TLS on loopback,
// gated by a guard of cluster "c" at gen; stale receives the guard's
// OnStale calls. open opens the gate before raft starts.
func startGuardedNode(t *testing.T, id string, ca *testCA, gen Generation, open bool) (*raftNode, *GenGuard, <-chan Generation) {
	t.Helper()
	stale := make(chan Generation, 4)
	guard := NewGenGuard("c", gen, func(h Generation) { stale <- h })
	if open {
		guard.Open()
	}
	srv, cli := tlsConfigs(ca.issue(t, id), ca.pool)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := RaftConfig{NodeID: id, DataDir: t.TempDir(), BindAddr: addr, ServerTLS: srv, ClientTLS: cli,
		Logger: testLogger(), Timing: fastRaft, Guard: guard}
	fsm := &testFSM{}
	r, closer, err := NewRaft(cfg, fsm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown().Error(); _ = closer.Close() })
	if err := BootstrapSingle(r, id, addr); err != nil {
		t.Fatal(err)
	}
	return &raftNode{id: id, addr: addr, r: r, closer: closer, fsm: fsm, cfg: cfg}, guard, stale
}

func waitStale(t *testing.T, who string, stale <-chan Generation, want Generation) {
	t.Helper()
	select {
	case got := <-stale:
		if got != want {
			t.Fatalf("%s: OnStale(%s), want %s", who, got, want)
		}
	case <-time.After(raftWait):
		t.Fatalf("%s: OnStale was not called within %s", who, raftWait)
	}
}

// TestRaftAcrossGenerations: two raft groups of one cluster (same CA) at
// generations 1 and 2. Whichever side dials, the connection is refused, no
// entry crosses, and the generation-1 side learns that it is stale.
func TestRaftAcrossGenerations(t *testing.T) {
	ca := newTestCA(t, "cluster")
	g2 := RecoveryGeneration(InitialGeneration, []string{"new"})
	recovered, rguard, rstale := startGuardedNode(t, "new", ca, g2, true)
	waitLeader(t, recovered)
	applyAll(t, recovered, "recovered-1")

	t.Run("the recovered leader dials a stale node", func(t *testing.T) {
		old, _, ostale := startGuardedNode(t, "old1", ca, InitialGeneration, true)
		waitLeader(t, old)
		if err := recovered.r.AddNonvoter("old1", raft.ServerAddress(old.addr), 0, 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
		applyAll(t, recovered, "recovered-2")
		waitStale(t, "acceptor at generation 1", ostale, g2)
		if slices.Contains(old.fsm.commands(), "recovered-1") {
			t.Fatal("an entry of generation 2 reached the generation-1 node")
		}
	})
	t.Run("a stale leader dials the recovered node", func(t *testing.T) {
		old, _, ostale := startGuardedNode(t, "old2", ca, InitialGeneration, true)
		waitLeader(t, old)
		if err := old.r.AddNonvoter("new", raft.ServerAddress(recovered.addr), 0, 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
		applyAll(t, old, "stale-1")
		waitStale(t, "dialer at generation 1", ostale, g2)
		if slices.Contains(recovered.fsm.commands(), "stale-1") {
			t.Fatal("an entry of generation 1 reached the recovered node")
		}
	})
	if _, stale := rguard.Stale(); stale {
		t.Fatal("the recovered node was made stale by lower generations")
	}
	select {
	case g := <-rstale:
		t.Fatalf("the recovered node's OnStale ran with %s", g)
	default:
	}
	if recovered.r.State() != raft.Leader {
		t.Fatalf("the recovered node is %s, want still the leader", recovered.r.State())
	}
}

// TestRaftGate: with its guard closed, a node with raft state neither
// campaigns (even as the single voter of its configuration), nor dials,
// nor accepts; once opened it elects itself with its real timing.
func TestRaftGate(t *testing.T) {
	ca := newTestCA(t, "cluster")
	n, guard, _ := startGuardedNode(t, "gated", ca, InitialGeneration, false)
	if hb := n.r.ReloadableConfig().HeartbeatTimeout; hb != heldTimeout {
		t.Fatalf("heartbeat timeout while gated = %s, want %s (elections held)", hb, heldTimeout)
	}

	srv, cli := tlsConfigs(ca.issue(t, "peer"), ca.pool)
	closed := NewGenGuard("c", InitialGeneration, nil)
	dialer := NewTLSStreamLayer(nopListener{}, &net.TCPAddr{}, srv, cli, closed, testLogger())
	if _, err := dialer.Dial(raft.ServerAddress(n.addr), 5*time.Second); !errors.Is(err, ErrGateClosed) {
		t.Fatalf("dial with a closed gate = %v, want ErrGateClosed", err)
	}
	closed.Open()
	if _, err := dialer.Dial(raft.ServerAddress(n.addr), 5*time.Second); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial to a gated node = %v, want ErrRefused", err)
	}

	if !guard.Open() {
		t.Fatal("Open on a guard that saw nothing higher failed")
	}
	waitLeader(t, n)
	if hb := n.r.ReloadableConfig().HeartbeatTimeout; hb != fastRaft.HeartbeatTimeout {
		t.Fatalf("heartbeat timeout after the gate opened = %s, want %s", hb, fastRaft.HeartbeatTimeout)
	}
	c, err := dialer.Dial(raft.ServerAddress(n.addr), 5*time.Second)
	if err != nil {
		t.Fatalf("dial to the opened node: %v", err)
	}
	_ = c.Close()
}
