package membership

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// memNode is a raft node on raft's in-memory transport, with real bolt
// stores in dir.
type memNode struct {
	*raftNode
	trans *raft.InmemTransport
}

func startMemNode(t *testing.T, id, dir string) *memNode {
	t.Helper()
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(id + "-addr"))
	cfg := RaftConfig{NodeID: id, DataDir: dir, Logger: testLogger(), Timing: fastRaft, Transport: trans}
	fsm := &testFSM{}
	r, closer, err := NewRaft(cfg, fsm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown().Error(); _ = closer.Close() })
	return &memNode{raftNode: &raftNode{id: id, addr: string(addr), r: r, closer: closer, fsm: fsm, cfg: cfg}, trans: trans}
}

func connectAll(nodes []*memNode) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.trans.Connect(raft.ServerAddress(b.addr), b.trans)
			}
		}
	}
}

// isolate cuts n off from every other node, in both directions.
func isolate(n *memNode, nodes []*memNode) {
	n.trans.DisconnectAll()
	for _, o := range nodes {
		if o != n {
			o.trans.Disconnect(raft.ServerAddress(n.addr))
		}
	}
}

func TestHasStateAndRecover(t *testing.T) {
	empty := t.TempDir()
	if ok, err := HasState(empty); err != nil || ok {
		t.Fatalf("HasState(empty) = %v, %v", ok, err)
	}
	nodes := []*memNode{startMemNode(t, "n1", t.TempDir()), startMemNode(t, "n2", t.TempDir()), startMemNode(t, "n3", t.TempDir())}
	connectAll(nodes)
	if err := BootstrapSingle(nodes[0].r, "n1", nodes[0].addr); err != nil {
		t.Fatal(err)
	}
	leader := waitLeader(t, nodes[0].raftNode)
	for _, n := range nodes[1:] {
		if err := leader.r.AddVoter(raft.ServerID(n.id), raft.ServerAddress(n.addr), 0, 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
	}
	applyAll(t, leader, "a", "b", "c")
	for _, n := range nodes {
		waitFor(t, raftWait, n.id+" has a,b,c", func() bool { return len(n.fsm.commands()) == 3 })
	}

	// Two of three voters die: n1 alone has no quorum.
	nodes[1].stop(t)
	nodes[2].stop(t)
	isolate(nodes[1], nodes)
	isolate(nodes[2], nodes)
	waitFor(t, raftWait, "n1 to lose leadership", func() bool { return nodes[0].r.State() != raft.Leader })
	n1 := nodes[0]
	n1.stop(t)

	if ok, err := HasState(n1.cfg.DataDir); err != nil || !ok {
		t.Fatalf("HasState(n1) = %v, %v", ok, err)
	}
	scratch := &testFSM{}
	survivor := []ServerInfo{{ID: "n1", Address: n1.addr}}
	if err := Recover(n1.cfg, scratch, survivor); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(scratch.commands(), ","); got != "a,b,c" {
		t.Fatalf("recovery replayed %q", got)
	}

	// Restart on the recovered data: n1 is the only voter and leads alone.
	again := startMemNode(t, "n1", n1.cfg.DataDir)
	waitLeader(t, again.raftNode)
	if got := strings.Join(again.fsm.commands(), ","); got != "a,b,c" {
		t.Fatalf("restored FSM = %q", got)
	}
	applyAll(t, again.raftNode, "d")
	cf := again.r.GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	servers := cf.Configuration().Servers
	if len(servers) != 1 || servers[0].ID != "n1" || servers[0].Suffrage != raft.Voter {
		t.Fatalf("configuration after recover = %+v", servers)
	}
}

func TestRecoverRefusesEmptyInput(t *testing.T) {
	cfg := RaftConfig{NodeID: "n1", DataDir: t.TempDir(), Logger: testLogger()}
	if err := Recover(cfg, &testFSM{}, nil); err == nil {
		t.Fatal("Recover with no voters succeeded")
	}
	// No state: raft refuses, as an operator error.
	if err := Recover(cfg, &testFSM{}, []ServerInfo{{ID: "n1", Address: "x"}}); err == nil {
		t.Fatal("Recover on an empty data dir succeeded")
	}
}
