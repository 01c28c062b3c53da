package membership

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
)

// TestForwardEventsNeverBlocks feeds the real forwarder more events than
// its output holds while nobody reads: it must keep draining serf's channel,
// drop the excess and count it.
func TestForwardEventsNeverBlocks(t *testing.T) {
	m := &Membership{
		log:    testLogger(),
		serfCh: make(chan serf.Event), // unbuffered: a send completes only if the forwarder reads
		out:    make(chan Event, 2),
		done:   make(chan struct{}),
	}
	m.tracker.init()
	m.wg.Add(1)
	go m.forwardEvents()

	member := func(id string) serf.Member {
		return serf.Member{Name: id, Addr: net.IPv4(127, 0, 0, 1), Port: 7946, Status: serf.StatusAlive, Tags: map[string]string{TagName: "h-" + id}}
	}
	for i := range 5 {
		select {
		case m.serfCh <- serf.MemberEvent{Type: serf.EventMemberJoin, Members: []serf.Member{member(string(rune('a' + i)))}}:
		case <-time.After(10 * time.Second):
			t.Fatalf("forwarder blocked on event %d", i)
		}
	}
	m.serfCh <- serf.UserEvent{Name: "ignored"} // not a member event: skipped, not counted
	close(m.done)
	m.wg.Wait()

	if got := m.Dropped(); got != 3 {
		t.Fatalf("Dropped = %d, want 3", got)
	}
	first := <-m.out
	if first.Kind != EventJoin || first.Member.ID != "a" || first.Member.Name != "h-a" || first.At.IsZero() {
		t.Fatalf("first event = %+v", first)
	}
	// Dropped events still update the status tracker.
	if since := m.tracker.observe("e", StatusAlive, false, time.Now().Add(time.Hour)); since.After(time.Now()) {
		t.Fatalf("tracker did not record the dropped event for e: since %v", since)
	}
}

func TestStatusTracker(t *testing.T) {
	var tr statusTracker
	tr.init()
	t1 := time.Unix(100, 0)
	if got := tr.observe("a", StatusAlive, false, t1); !got.Equal(t1) {
		t.Fatalf("first observation since %v", got)
	}
	if got := tr.observe("a", StatusAlive, false, t1.Add(time.Minute)); !got.Equal(t1) {
		t.Fatalf("same status moved since to %v", got)
	}
	t2 := t1.Add(2 * time.Minute)
	if got := tr.observe("a", StatusFailed, false, t2); !got.Equal(t2) {
		t.Fatalf("status change since %v, want %v", got, t2)
	}
	tr.observe("a", StatusFailed, true, t2)
	if _, ok := tr.seen["a"]; ok {
		t.Fatal("reaped member still tracked")
	}
}

// bufHandler is a slog handler into a buffer, safe for concurrent use.
type bufHandler struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *bufHandler) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{b}, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

type lockedWriter struct{ b *bufHandler }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.buf.Write(p)
}

func (b *bufHandler) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLogAdapters(t *testing.T) {
	var h bufHandler
	l := h.logger()
	stdLogger(l).Printf("[ERR] memberlist: boom %d", 1)
	stdLogger(l).Printf("[DEBUG] serf: chatter")
	stdLogger(l).Printf("no level")
	hcLogger(l, "raft").Warn("heartbeat timeout", "peer", "n2", "n", 3)
	want := []string{
		`level=ERROR msg="memberlist: boom 1"`,
		`level=DEBUG msg="serf: chatter"`,
		`level=INFO msg="no level"`,
		`level=WARN msg="heartbeat timeout" component=raft peer=n2 n=3`,
	}
	got := strings.Split(strings.TrimSpace(h.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("log lines:\n%s", h.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %s\nwant       %s", i, got[i], want[i])
		}
	}
}
