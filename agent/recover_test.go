package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
)

// TestRecoverRefusesBadInput: every bad flag is refused before anything is
// written, with an error naming the flag.
func TestRecoverRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	id, err := loadIdentity(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if id, err = id.saveCluster("c1", []byte("ca"), []byte("cert"), []byte("key"), []byte("gossip")); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "node.json"))
	if err != nil {
		t.Fatal(err)
	}
	self := id.NodeID + "@10.0.0.1:7947"
	for _, c := range []struct {
		name, advertise string
		port            int
		survivors       []string
		want            string
	}{
		{"advertise not an IP", "banana", 7947, nil, "--advertise"},
		{"advertise empty", "", 7947, nil, "--advertise"},
		{"port 0", "10.0.0.1", 0, nil, "--raft-port"},
		{"port too high", "10.0.0.1", 70000, nil, "--raft-port"},
		{"survivor without @", "10.0.0.1", 7947, []string{"10.0.0.2:7947"}, "NODEID@HOST:RAFTPORT"},
		{"survivor host not an IP", "10.0.0.1", 7947, []string{"n2@banana:7947"}, "not an IP"},
		{"survivor without port", "10.0.0.1", 7947, []string{"n2@10.0.0.2"}, "HOST:RAFTPORT"},
		{"survivor bad port", "10.0.0.1", 7947, []string{"n2@10.0.0.2:0"}, "1..65535"},
		{"survivor twice", "10.0.0.1", 7947, []string{"n2@10.0.0.2:7947", "n2@10.0.0.3:7947"}, "named twice"},
		{"two survivors one address", "10.0.0.1", 7947, []string{"n2@10.0.0.2:7947", "n3@10.0.0.2:7947"}, "named twice"},
		{"survivor is self", "10.0.0.1", 7947, []string{self}, "is this agent"},
		{"survivor at own address", "10.0.0.1", 7947, []string{"n9@10.0.0.1:7947"}, "is this agent"},
	} {
		_, err := Recover(dir, c.advertise, c.port, c.survivors, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Recover = %v, want an error containing %q", c.name, err, c.want)
		}
	}
	after, err := os.ReadFile(filepath.Join(dir, "node.json"))
	if err != nil || string(after) != string(before) {
		t.Fatalf("refused recovers changed node.json: %s -> %s (%v)", before, after, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft")); err == nil {
		t.Fatal("a refused recover created raft state")
	}
	if _, err := Recover(t.TempDir(), "10.0.0.1", 7947, nil, nil); err == nil || !strings.Contains(err.Error(), "no agent") {
		t.Fatalf("recover of an empty data dir = %v, want 'holds no agent'", err)
	}
}

// TestRecoverRaisesGeneration: survivors that recover with the same list
// get the same generation, recorded in node.json.
func TestRecoverRaisesGeneration(t *testing.T) {
	mk := func(name string) (string, *identity) {
		dir := t.TempDir()
		id, err := loadIdentity(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		if id, err = id.saveCluster("c1", []byte("ca"), []byte("cert"), []byte("key"), []byte("gossip")); err != nil {
			t.Fatal(err)
		}
		bootstrapRaft(t, id)
		return dir, id
	}
	dir1, id1 := mk("n1")
	dir2, id2 := mk("n2")
	r1, err := Recover(dir1, "10.0.0.1", 7947, []string{id2.NodeID + "@10.0.0.2:7947"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Recover(dir2, "10.0.0.2", 7947, []string{id1.NodeID + "@10.0.0.1:7947"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Generation != r2.Generation || r1.Generation.Epoch != 2 || r1.Previous != membership.InitialGeneration {
		t.Fatalf("generations %s (was %s) and %s, want one generation of epoch 2", r1.Generation, r1.Previous, r2.Generation)
	}
	back, err := loadIdentity(dir1, "")
	if err != nil || back.generation() != r1.Generation {
		t.Fatalf("node.json generation = %s (%v), want %s", back.generation(), err, r1.Generation)
	}
}

// bootstrapRaft gives id's data dir the raft state of a one-voter cluster.
func bootstrapRaft(t *testing.T, id *identity) {
	t.Helper()
	addr, trans := raft.NewInmemTransport("")
	r, closer, err := membership.NewRaft(membership.RaftConfig{NodeID: id.NodeID, DataDir: id.path("raft"), Transport: trans,
		Logger: slog.New(slog.DiscardHandler)}, store.New(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := membership.BootstrapSingle(r, id.NodeID, string(addr)); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSetRaftAside keeps exactly the newest stale raft dir.
func TestSetRaftAside(t *testing.T) {
	dir := t.TempDir()
	id := &identity{dir: dir}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var paths []string
	for i := range 3 {
		if err := os.MkdirAll(filepath.Join(dir, "raft", "snapshots"), 0o700); err != nil {
			t.Fatal(err)
		}
		p, err := setRaftAside(id, membership.Generation{Epoch: uint64(i + 1)}, now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	left, _ := filepath.Glob(filepath.Join(dir, staleDirPrefix+"*"))
	if len(left) != 1 || left[0] != paths[2] || !strings.Contains(paths[2], "raft.stale-gen3-") {
		t.Fatalf("stale dirs left = %v, want only the newest %s", left, paths[2])
	}
	if _, err := os.Stat(filepath.Join(dir, "raft")); err == nil {
		t.Fatal("the raft dir is still there")
	}
	if p, err := setRaftAside(id, membership.InitialGeneration, now); err != nil || p != "" {
		t.Fatalf("without a raft dir: %q, %v; want nothing done", p, err)
	}
}

func TestMembersAt(t *testing.T) {
	g2 := membership.Generation{Epoch: 2, ID: "aa"}
	ms := []membership.Member{
		{ID: "self", Addr: "10.0.0.1", Port: 7946, Status: membership.StatusAlive, Tags: map[string]string{"gen": g2.String()}},
		{ID: "old", Addr: "10.0.0.2", Port: 7946, Status: membership.StatusAlive},
		{ID: "new", Addr: "10.0.0.3", Port: 7946, Status: membership.StatusAlive, Tags: map[string]string{"gen": g2.String()}},
		{ID: "dead", Addr: "10.0.0.4", Port: 7946, Status: membership.StatusFailed, Tags: map[string]string{"gen": g2.String()}},
	}
	if got := membersAt(ms, "self", g2); strings.Join(got, ",") != "10.0.0.3:7946" {
		t.Errorf("membersAt = %v, want the alive member at the generation", got)
	}
	if got := membersAt(ms, "self", membership.Generation{Epoch: 9}); strings.Join(got, ",") != "10.0.0.2:7946,10.0.0.3:7946" {
		t.Errorf("membersAt an unknown generation = %v, want every alive member", got)
	}
}

func TestUnanswered(t *testing.T) {
	ms := []membership.Member{
		{ID: "a", Addr: "10.0.0.1", Port: 7946, Status: membership.StatusAlive},
		{ID: "b", Addr: "10.0.0.2", Port: 7946, Status: membership.StatusFailed},
	}
	got := unanswered([]string{"10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946"}, ms)
	if strings.Join(got, ",") != "10.0.0.2:7946,10.0.0.3:7946" {
		t.Fatalf("unanswered = %v, want the failed and the unknown peer", got)
	}
}

func TestSerfSnapshotPeers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serf.snapshot")
	snap := "alive: self 10.0.0.1:7946\nalive: b 10.0.0.2:7946\nclock: 3\nalive: c 10.0.0.3:7946\nnot-alive: c\n" +
		"alive: d 10.0.0.4:7946\nalive: b 10.0.0.5:7946\nleave\n"
	if err := os.WriteFile(path, []byte(snap), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(serfSnapshotPeers(path, "self"), ","); got != "10.0.0.5:7946,10.0.0.4:7946" {
		t.Fatalf("serfSnapshotPeers = %s, want b's latest address and d (not self, not c)", got)
	}
	if got := serfSnapshotPeers(filepath.Join(t.TempDir(), "none"), "self"); got != nil {
		t.Fatalf("missing snapshot gave %v", got)
	}
	ms := []membership.Member{{ID: "b", Status: membership.StatusAlive}, {ID: "c", Status: membership.StatusFailed}}
	if got := strings.Join(unansweredIDs([]string{"b", "c", "d"}, ms), ","); got != "c,d" {
		t.Fatalf("unansweredIDs = %s, want c,d", got)
	}
}
