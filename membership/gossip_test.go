package membership

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// All gossip tests run over real UDP/TCP on 127.0.0.1. memberlist's
// MockNetwork cannot model a dead agent: its sends to a transport nobody
// reads block forever, which stalls the prober.

const gossipWait = 20 * time.Second

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// startMember starts a member on a free loopback port; it is shut down at
// the end of the test.
func startMember(t testing.TB, id string, key []byte, mod func(*Config)) *Membership {
	t.Helper()
	cfg := Config{
		NodeID:     id,
		NodeName:   "host-" + id,
		BindAddr:   "127.0.0.1",
		Tags:       map[string]string{"ver": "test"},
		EncryptKey: key,
		Logger:     testLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

func addrOf(m *Membership) string {
	l := m.Local()
	return fmt.Sprintf("%s:%d", l.Addr, l.Port)
}

func statusOf(m *Membership, id string) Status {
	for _, mem := range m.Members() {
		if mem.ID == id {
			return mem.Status
		}
	}
	return ""
}

func countAlive(m *Membership) int {
	n := 0
	for _, mem := range m.Members() {
		if mem.Status == StatusAlive {
			n++
		}
	}
	return n
}

// waitEvent reads m's events until one of kind about id arrives.
func waitEvent(t *testing.T, m *Membership, kind EventKind, id string) Event {
	t.Helper()
	timeout := time.After(gossipWait)
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %s of %s", kind, id)
			}
			if ev.Kind == kind && ev.Member.ID == id {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event for %s within %s", kind, id, gossipWait)
		}
	}
}

func TestGossipJoinUpdateFailLeave(t *testing.T) {
	key := newKey(t)
	a := startMember(t, "a", key, nil)
	b := startMember(t, "b", key, nil)
	c := startMember(t, "c", key, nil)
	for _, m := range []*Membership{b, c} {
		n, err := m.Join([]string{addrOf(a)})
		if err != nil || n != 1 {
			t.Fatalf("join: n=%d err=%v", n, err)
		}
	}
	for _, m := range []*Membership{a, b, c} {
		waitFor(t, gossipWait, m.Local().ID+" sees 3 alive", func() bool { return countAlive(m) == 3 })
	}
	ev := waitEvent(t, a, EventJoin, "c")
	if ev.Member.Name != "host-c" || ev.Member.Tags["ver"] != "test" || ev.Member.Status != StatusAlive {
		t.Fatalf("join event for c = %+v", ev.Member)
	}
	ids := []string{}
	for _, mem := range b.Members() {
		ids = append(ids, mem.ID)
	}
	if fmt.Sprint(ids) != "[a b c]" {
		t.Fatalf("Members not sorted by ID: %v", ids)
	}

	if err := a.SetTags(map[string]string{"api": "7000", "raft": "7001"}); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, b, EventUpdate, "a")
	if ev.Member.Tags["api"] != "7000" || ev.Member.Name != "host-a" {
		t.Fatalf("update event for a: tags %v, name %q", ev.Member.Tags, ev.Member.Name)
	}
	if _, ok := ev.Member.Tags["ver"]; ok {
		t.Fatalf("SetTags should replace the tags, got %v", ev.Member.Tags)
	}

	// Shutdown without Leave is a failure.
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, EventFailed, "c")
	waitEvent(t, b, EventFailed, "c")
	if got := statusOf(a, "c"); got != StatusFailed {
		t.Fatalf("a sees c %q, want failed", got)
	}

	// Leave is graceful.
	if err := b.Leave(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, EventLeft, "b")
	if got := statusOf(a, "b"); got != StatusLeft {
		t.Fatalf("a sees b %q, want left", got)
	}
	infos := a.MemberInfos()
	if len(infos) != 3 || infos[0].ID != "a" || infos[0].RaftAddr != "127.0.0.1:7001" || infos[0].Since.IsZero() {
		t.Fatalf("MemberInfos = %+v", infos)
	}
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		for range b.Events() { // buffered events, then the close
		}
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(gossipWait):
		t.Fatal("Events channel not closed by Shutdown")
	}
}

func TestGossipWrongKeyCannotJoin(t *testing.T) {
	a := startMember(t, "a", newKey(t), nil)
	x := startMember(t, "x", newKey(t), nil)
	n, err := x.Join([]string{addrOf(a)})
	if err == nil || n != 0 {
		t.Fatalf("join with another key: n=%d err=%v, want an error", n, err)
	}
	if len(a.Members()) != 1 || len(x.Members()) != 1 {
		t.Fatalf("members after refused join: a=%v x=%v", a.Members(), x.Members())
	}
}

func TestGossipRejectsBadKey(t *testing.T) {
	_, err := Start(Config{NodeID: "a", BindAddr: "127.0.0.1", EncryptKey: []byte("short"), Logger: testLogger()})
	if err == nil {
		t.Fatal("Start accepted a 5-byte gossip key")
	}
}

func TestGossipSetTagsTooLarge(t *testing.T) {
	a := startMember(t, "a", nil, nil)
	big := make([]byte, 600)
	for i := range big {
		big[i] = 'x'
	}
	if err := a.SetTags(map[string]string{"big": string(big)}); err == nil {
		t.Fatal("SetTags accepted 600 bytes of tags")
	}
}

func TestGossipSnapshotRejoin(t *testing.T) {
	key := newKey(t)
	snap := filepath.Join(t.TempDir(), "serf.snapshot")
	a := startMember(t, "a", key, nil)
	b := startMember(t, "b", key, func(c *Config) { c.SnapshotPath = snap })
	if _, err := b.Join([]string{addrOf(a)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, gossipWait, "a sees b", func() bool { return countAlive(a) == 2 })
	port := b.Local().Port
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, gossipWait, "a sees b failed", func() bool { return statusOf(a, "b") == StatusFailed })

	// Restarted on the same address with no Join: the snapshot finds a.
	b2 := startMember(t, "b", key, func(c *Config) { c.SnapshotPath = snap; c.BindPort = port })
	waitFor(t, gossipWait, "restarted b sees a", func() bool { return statusOf(b2, "a") == StatusAlive })
	waitFor(t, gossipWait, "a sees b alive again", func() bool { return statusOf(a, "b") == StatusAlive })
}

func TestGossipLeaveTimeout(t *testing.T) {
	key := newKey(t)
	a := startMember(t, "a", key, nil)
	b := startMember(t, "b", key, nil)
	if _, err := b.Join([]string{addrOf(a)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, gossipWait, "b sees a", func() bool { return countAlive(b) == 2 })
	// serf's leave waits at least its 1 s propagation delay.
	if err := b.Leave(time.Millisecond); !errors.Is(err, ErrLeaveTimeout) {
		t.Fatalf("Leave(1ms) = %v, want ErrLeaveTimeout", err)
	}
	// The leave goes on in the background; a second Leave waits for it.
	if err := b.Leave(gossipWait); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	waitEvent(t, a, EventLeft, "b")
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

func TestGossipLeaveAfterShutdown(t *testing.T) {
	a := startMember(t, "a", nil, nil)
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := a.Leave(time.Second); err == nil {
		t.Fatal("Leave after Shutdown succeeded")
	}
	if err := a.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
