package store

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-org/shoal/api/types"
)

// countingFSM counts Restore calls so the test can prove a snapshot was
// installed.
type countingFSM struct {
	*Store
	restores atomic.Int32
}

func (f *countingFSM) Restore(rc io.ReadCloser) error {
	f.restores.Add(1)
	return f.Store.Restore(rc)
}

type raftNode struct {
	id    raft.ServerID
	addr  raft.ServerAddress
	trans *raft.InmemTransport
	fsm   *countingFSM
	raft  *raft.Raft
}

func newRaftNode(t *testing.T, id string) *raftNode {
	t.Helper()
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(id))
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(id)
	conf.HeartbeatTimeout = 50 * time.Millisecond
	conf.ElectionTimeout = 50 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotThreshold = 8
	conf.TrailingLogs = 4
	conf.LogOutput = io.Discard
	fsm := &countingFSM{Store: New(quietLogger())}
	r, err := raft.NewRaft(conf, fsm, raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatalf("NewRaft %s: %v", id, err)
	}
	n := &raftNode{id: conf.LocalID, addr: addr, trans: trans, fsm: fsm, raft: r}
	t.Cleanup(func() {
		if err := r.Shutdown().Error(); err != nil {
			t.Errorf("shutdown %s: %v", id, err)
		}
	})
	return n
}

func connect(nodes ...*raftNode) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.trans.Connect(b.addr, b.trans)
			}
		}
	}
}

// waitLeader returns the node that is leader, waiting up to 10s.
func waitLeader(t *testing.T, nodes []*raftNode) *raftNode {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.raft.State() == raft.Leader {
				return n
			}
		}
		<-tick.C
	}
	t.Fatal("no leader elected within 10s")
	return nil
}

// raftApply submits ops through the leader and returns the FSM's result.
func raftApply(t *testing.T, leader *raftNode, ops ...Op) *Result {
	t.Helper()
	data, err := EncodeCommand(Command{Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	f := leader.raft.Apply(data, 5*time.Second)
	if err := f.Error(); err != nil {
		t.Fatalf("raft.Apply: %v", err)
	}
	res, ok := f.Response().(*Result)
	if !ok {
		t.Fatalf("response is %T, want *Result", f.Response())
	}
	return res
}

// waitSame waits until every node's store has applied idx and checks that
// they hold identical state.
func waitSame(t *testing.T, idx uint64, nodes []*raftNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var want string
	for i, n := range nodes {
		if err := n.fsm.WaitIndex(ctx, idx); err != nil {
			t.Fatalf("node %s: %v", n.id, err)
		}
		got := dump(t, n.fsm.Store)
		if i == 0 {
			want = got
		} else if got != want {
			t.Fatalf("node %s differs from %s:\n%s\nvs\n%s", n.id, nodes[0].id, got, want)
		}
	}
}

func TestRaftReplication(t *testing.T) {
	nodes := []*raftNode{newRaftNode(t, "n1"), newRaftNode(t, "n2"), newRaftNode(t, "n3")}
	connect(nodes...)
	var servers []raft.Server
	for _, n := range nodes {
		servers = append(servers, raft.Server{ID: n.id, Address: n.addr})
	}
	if err := nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	leader := waitLeader(t, nodes)

	raftApply(t, leader, put(&types.Cluster{ID: "c1", JoinSecret: "x"}), put(network("w1", "front")))
	for _, n := range nodes {
		raftApply(t, leader, put(node(string(n.id), "host-"+string(n.id))))
	}
	res := raftApply(t, leader, put(service("s1", "web")))
	svcVersion := res.Index
	for i := range 12 {
		raftApply(t, leader, put(task(fmt.Sprintf("t%02d", i), "s1", string(nodes[i%3].id))))
	}
	if res := raftApply(t, leader, put(service("s2", "web"))); res.Err == nil {
		t.Fatal("duplicate name accepted through raft")
	}
	if res := raftApply(t, leader, ifVersion(put(service("s1", "web2")), svcVersion+100)); res.Err == nil {
		t.Fatal("stale IfVersion accepted through raft")
	}
	res = raftApply(t, leader, ifVersion(put(service("s1", "web2")), svcVersion), del(TableTasks, "t00"))
	if res.Err != nil {
		t.Fatalf("CAS update: %v", res.Err)
	}
	waitSame(t, res.Index, nodes)
	v := nodes[2].fsm.View()
	if v.ServiceByName("web2") == nil || len(v.TasksByService("s1")) != 11 || v.Cluster() == nil {
		t.Fatal("replica lacks the applied state")
	}

	// Compact the log, then add a fourth node: it must catch up by snapshot.
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	for i := range 5 {
		raftApply(t, leader, put(task(fmt.Sprintf("u%02d", i), "s1", "n1")))
	}
	n4 := newRaftNode(t, "n4")
	nodes = append(nodes, n4)
	connect(nodes...)
	if err := leader.raft.AddVoter(n4.id, n4.addr, 0, 5*time.Second).Error(); err != nil {
		t.Fatalf("AddVoter n4: %v", err)
	}
	res = raftApply(t, leader, put(node("n4", "host-n4")))
	waitSame(t, res.Index, nodes)
	if n4.fsm.restores.Load() == 0 {
		t.Fatal("n4 caught up without installing a snapshot: the test did not exercise Restore")
	}
	if got := len(n4.fsm.View().Tasks()); got != 16 {
		t.Fatalf("n4 has %d tasks, want 16", got)
	}
}
