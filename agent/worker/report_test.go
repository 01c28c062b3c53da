package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// fakeClock hands the reporter timers that fire only when the test says.
type fakeClock struct {
	asked chan time.Duration
	fire  chan time.Time
	done  chan struct{} // closed at the end of the test
}

func newFakeClock() *fakeClock {
	return &fakeClock{asked: make(chan time.Duration), fire: make(chan time.Time), done: make(chan struct{})}
}

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	select {
	case c.asked <- d:
	case <-c.done:
	}
	return c.fire
}

// expire waits for the reporter to ask for a timer of d and fires it.
func (c *fakeClock) expire(t *testing.T, want time.Duration) {
	t.Helper()
	select {
	case d := <-c.asked:
		if d != want {
			t.Fatalf("reporter waits %v, want %v", d, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("reporter never waited (want a %v timer)", want)
	}
	c.fire <- time.Time{}
}

type sendCall struct {
	ups   []types.TaskUpdate
	reply chan error
}

// reporterHarness runs a reporter whose sends the test answers one by one.
type reporterHarness struct {
	r     *reporter
	clock *fakeClock
	calls chan sendCall
	mu    sync.Mutex
	gone  map[string]bool
}

func newReporterHarness(t *testing.T) *reporterHarness {
	h := &reporterHarness{clock: newFakeClock(), calls: make(chan sendCall), gone: map[string]bool{}}
	send := func(ctx context.Context, ups []types.TaskUpdate) error {
		c := sendCall{ups: ups, reply: make(chan error)}
		select {
		case h.calls <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-c.reply:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	alive := func(id string) bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return !h.gone[id]
	}
	h.r = newReporter(send, alive, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.r.after = h.clock.after
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { h.r.run(ctx) })
	t.Cleanup(func() { close(h.clock.done); cancel(); wg.Wait() })
	return h
}

// next waits for a Report call and answers it with err.
func (h *reporterHarness) next(t *testing.T, err error) []string {
	t.Helper()
	select {
	case c := <-h.calls:
		c.reply <- err
		var got []string
		for _, u := range c.ups {
			s := u.TaskID + ":" + string(u.Status.State)
			for _, k := range slices.Sorted(maps.Keys(u.Addresses)) {
				s += "@" + k + "=" + u.Addresses[k]
			}
			got = append(got, s)
		}
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("no Report call")
		return nil
	}
}

func up(id string, st types.TaskState) types.TaskUpdate {
	return types.TaskUpdate{TaskID: id, Status: types.TaskStatus{State: st}}
}

func TestReporterCoalesces(t *testing.T) {
	h := newReporterHarness(t)
	h.r.enqueue(up("a", types.TaskPreparing))
	h.r.enqueue(up("b", types.TaskPreparing))
	h.r.enqueue(up("a", types.TaskStarting)) // replaces a:preparing, keeps its place after b
	h.clock.expire(t, DefaultReportWindow)
	if got, want := h.next(t, nil), []string{"b:preparing", "a:starting"}; !slices.Equal(got, want) {
		t.Fatalf("batch = %q, want %q", got, want)
	}
	h.r.enqueue(up("a", types.TaskRunning))
	h.clock.expire(t, DefaultReportWindow)
	if got, want := h.next(t, nil), []string{"a:running"}; !slices.Equal(got, want) {
		t.Fatalf("second batch = %q, want %q", got, want)
	}
}

// TestReporterKeepsAddresses: a task's addresses ride on one update only,
// so neither a newer status replacing it in the queue nor a failed send
// may lose them.
func TestReporterKeepsAddresses(t *testing.T) {
	h := newReporterHarness(t)
	addrs := map[string]string{"web-net": "10.240.1.5"}
	starting := up("a", types.TaskStarting)
	starting.Addresses = addrs
	h.r.enqueue(starting)
	h.r.enqueue(up("a", types.TaskRunning)) // replaces starting in the queue
	h.clock.expire(t, DefaultReportWindow)
	if got, want := h.next(t, errors.New("no leader")), []string{"a:running@web-net=10.240.1.5"}; !slices.Equal(got, want) {
		t.Fatalf("batch = %q, want %q", got, want)
	}
	// The failed batch is superseded by a newer status before its retry.
	h.r.enqueue(up("a", types.TaskFailed))
	h.clock.expire(t, reportBackoffMin)
	if got, want := h.next(t, nil), []string{"a:failed@web-net=10.240.1.5"}; !slices.Equal(got, want) {
		t.Fatalf("retry = %q, want %q", got, want)
	}
	// Once sent, they are not sent again.
	h.r.enqueue(up("a", types.TaskShutdown))
	h.clock.expire(t, DefaultReportWindow)
	if got, want := h.next(t, nil), []string{"a:shutdown"}; !slices.Equal(got, want) {
		t.Fatalf("after success = %q, want %q", got, want)
	}
}

func TestReporterRetriesWithBackoff(t *testing.T) {
	h := newReporterHarness(t)
	h.r.enqueue(up("a", types.TaskPreparing))
	h.r.enqueue(up("b", types.TaskRunning))
	h.r.enqueue(up("c", types.TaskRunning))
	h.clock.expire(t, DefaultReportWindow)
	noLeader := errors.New("no leader")
	if got := h.next(t, noLeader); len(got) != 3 {
		t.Fatalf("first batch = %q", got)
	}
	// While the batch waits for its retry, a's newer status arrives and
	// c's task is deleted from the store.
	h.r.enqueue(up("a", types.TaskFailed))
	h.mu.Lock()
	h.gone["c"] = true
	h.mu.Unlock()
	wantBackoff := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second}
	for i, d := range wantBackoff {
		h.clock.expire(t, d)
		err := noLeader
		if i == len(wantBackoff)-1 {
			err = nil
		}
		if got, want := h.next(t, err), []string{"b:running", "a:failed"}; !slices.Equal(got, want) {
			t.Fatalf("retry %d = %q, want %q (newest status per task, gone task dropped)", i+1, got, want)
		}
	}
	// Success resets the backoff: the next batch waits only the window.
	h.r.enqueue(up("b", types.TaskComplete))
	h.clock.expire(t, DefaultReportWindow)
	if got, want := h.next(t, nil), []string{"b:complete"}; !slices.Equal(got, want) {
		t.Fatalf("after success = %q, want %q", got, want)
	}
}

func TestNextBackoff(t *testing.T) {
	var got []time.Duration
	var d time.Duration
	for range 7 {
		d = nextBackoff(d, 100*time.Millisecond, 2*time.Second)
		got = append(got, d)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("backoff = %v, want %v", got, want)
	}
}
