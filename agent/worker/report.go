package worker

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// Reporting defaults: how long updates are gathered into one Report call,
// and the backoff between failed calls.
const (
	DefaultReportWindow = 50 * time.Millisecond
	reportBackoffMin    = 100 * time.Millisecond
	reportBackoffMax    = 2 * time.Second
)

// queued is an update waiting to be sent; seq orders updates by the time
// they were enqueued.
type queued struct {
	u   types.TaskUpdate
	seq uint64
}

// reporter batches status updates to the leader. enqueue may be called
// from any goroutine; run is called from one goroutine only.
//
// It keeps at most one update per task, the newest: a newer status for a
// task replaces an unsent older one, keeping the older one's Addresses if
// the newer has none. A batch that fails is put back (unless a newer
// update for its task arrived meanwhile, which then takes over the
// failed one's Addresses if it has none) and retried with backoff; an
// update is dropped only once sent successfully or once its task is gone
// from the store (alive returns false).
type reporter struct {
	send   func(context.Context, []types.TaskUpdate) error
	alive  func(taskID string) bool
	log    *slog.Logger
	window time.Duration
	minBO  time.Duration
	maxBO  time.Duration
	after  func(time.Duration) <-chan time.Time // time.After; a fake clock in tests

	mu      sync.Mutex
	seq     uint64
	pending map[string]queued
	wake    chan struct{} // one token: "something was enqueued"
}

func newReporter(send func(context.Context, []types.TaskUpdate) error, alive func(string) bool, log *slog.Logger) *reporter {
	return &reporter{
		send: send, alive: alive, log: log,
		window: DefaultReportWindow, minBO: reportBackoffMin, maxBO: reportBackoffMax,
		after:   time.After,
		pending: make(map[string]queued),
		wake:    make(chan struct{}, 1),
	}
}

// enqueue queues u, replacing any unsent update for the same task.
func (r *reporter) enqueue(u types.TaskUpdate) {
	r.mu.Lock()
	r.seq++
	if old, ok := r.pending[u.TaskID]; ok && u.Addresses == nil {
		u.Addresses = old.u.Addresses
	}
	r.pending[u.TaskID] = queued{u: u, seq: r.seq}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run sends batches until ctx ends. Updates still unsent then are dropped
// with the process's memory; the worker that starts next re-derives them
// from the containers and the store.
func (r *reporter) run(ctx context.Context) {
	var backoff time.Duration
	for {
		wait := backoff
		if wait == 0 {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
			}
			wait = r.window // let a burst of updates gather
		}
		select {
		case <-ctx.Done():
			return
		case <-r.after(wait):
		}
		batch := r.take()
		if len(batch) == 0 {
			backoff = 0
			continue
		}
		err := r.send(ctx, updates(batch))
		if err == nil {
			backoff = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		r.putBack(batch)
		backoff = nextBackoff(backoff, r.minBO, r.maxBO)
		r.log.Warn("report task status to the leader failed; retrying", "updates", len(batch), "retry_in", backoff, "err", err)
	}
}

// take removes and returns every pending update whose task still exists,
// oldest first.
func (r *reporter) take() []queued {
	r.mu.Lock()
	batch := make([]queued, 0, len(r.pending))
	for _, q := range r.pending {
		batch = append(batch, q)
	}
	clear(r.pending)
	r.mu.Unlock()
	batch = slices.DeleteFunc(batch, func(q queued) bool { return !r.alive(q.u.TaskID) })
	slices.SortFunc(batch, func(a, b queued) int { return cmp.Compare(a.seq, b.seq) })
	return batch
}

// putBack re-queues the updates of a failed batch, except where a newer
// update for the same task has been enqueued since.
func (r *reporter) putBack(batch []queued) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range batch {
		newer, ok := r.pending[q.u.TaskID]
		switch {
		case !ok:
			r.pending[q.u.TaskID] = q
		case newer.u.Addresses == nil && q.u.Addresses != nil:
			newer.u.Addresses = q.u.Addresses
			r.pending[q.u.TaskID] = newer
		}
	}
}

func updates(batch []queued) []types.TaskUpdate {
	out := make([]types.TaskUpdate, len(batch))
	for i, q := range batch {
		out[i] = q.u
	}
	return out
}

// nextBackoff doubles cur within [lo, hi]; zero starts at lo.
func nextBackoff(cur, lo, hi time.Duration) time.Duration {
	if cur == 0 {
		return lo
	}
	return min(2*cur, hi)
}
