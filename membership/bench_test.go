package membership

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// The gossip benchmarks run real agents (serf over memberlist, encrypted)
// in this process over UDP/TCP on 127.0.0.1, with DefaultTiming. Run them
// with:
//
//	go test -run '^$' -bench 'Gossip' -benchtime=3x ./membership/
//
// They report milliseconds as custom metrics (ns/op is the whole iteration,
// setup and teardown included, and means little).

const benchWait = 2 * time.Minute

// watcher consumes one agent's events and records when it first saw every
// agent alive and when it saw each agent fail.
type watcher struct {
	m    *Membership
	want int

	mu         sync.Mutex
	alive      map[string]bool
	allAliveAt time.Time
	failedAt   map[string]time.Time
}

func (w *watcher) run() {
	for ev := range w.m.Events() {
		w.mu.Lock()
		switch ev.Kind {
		case EventJoin, EventUpdate:
			w.alive[ev.Member.ID] = true
			if len(w.alive) == w.want && w.allAliveAt.IsZero() {
				w.allAliveAt = ev.At
			}
		case EventFailed, EventLeft, EventReap:
			delete(w.alive, ev.Member.ID)
			if ev.Kind == EventFailed {
				w.failedAt[ev.Member.ID] = ev.At
			}
		}
		w.mu.Unlock()
	}
}

func (w *watcher) convergedAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.allAliveAt
}

func (w *watcher) sawFailed(id string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failedAt[id]
}

// benchCluster is n started (not yet joined) agents with their watchers.
type benchCluster struct {
	watchers []*watcher
	wg       sync.WaitGroup
}

func newBenchCluster(b *testing.B, n int) *benchCluster {
	b.Helper()
	key := newKey(b)
	c := &benchCluster{}
	for i := range n {
		m, err := Start(Config{
			NodeID: fmt.Sprintf("agent-%03d", i), NodeName: fmt.Sprintf("host-%03d", i),
			BindAddr: "127.0.0.1", EncryptKey: key, Logger: testLogger(),
			Tags: map[string]string{"api": "7000", "raft": "7001", "ver": "bench"},
		})
		if err != nil {
			c.shutdown()
			b.Fatalf("start agent %d: %v", i, err)
		}
		w := &watcher{m: m, want: n, alive: map[string]bool{}, failedAt: map[string]time.Time{}}
		c.watchers = append(c.watchers, w)
		c.wg.Add(1)
		go func() { defer c.wg.Done(); w.run() }()
	}
	return c
}

// join makes every agent join the first one, concurrently, and returns when
// the last Join call returned.
func (c *benchCluster) join(b *testing.B) {
	b.Helper()
	seed := []string{addrOf(c.watchers[0].m)}
	errs := make(chan error, len(c.watchers))
	var wg sync.WaitGroup
	for _, w := range c.watchers[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.m.Join(seed); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("join: %v", err)
	}
}

// waitConverged returns when every agent has seen every agent alive, and
// the latest time one of them did.
func (c *benchCluster) waitConverged(b *testing.B) time.Time {
	b.Helper()
	var last time.Time
	waitFor(b, benchWait, "every agent to see every agent alive", func() bool {
		last = time.Time{}
		for _, w := range c.watchers {
			at := w.convergedAt()
			if at.IsZero() {
				return false
			}
			if at.After(last) {
				last = at
			}
		}
		return true
	})
	return last
}

// waitFailed returns when every agent but victim has seen victim fail, and
// the first and last times one of them did.
func (c *benchCluster) waitFailed(b *testing.B, victim *watcher) (first, last time.Time) {
	b.Helper()
	id := victim.m.Local().ID
	waitFor(b, benchWait, "every agent to see "+id+" failed", func() bool {
		first, last = time.Time{}, time.Time{}
		for _, w := range c.watchers {
			if w == victim {
				continue
			}
			at := w.sawFailed(id)
			if at.IsZero() {
				return false
			}
			if first.IsZero() || at.Before(first) {
				first = at
			}
			if at.After(last) {
				last = at
			}
		}
		return true
	})
	return first, last
}

func (c *benchCluster) shutdown() {
	for _, w := range c.watchers {
		_ = w.m.Shutdown()
	}
	c.wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkGossipConverge100 measures how long 100 agents take, from the
// moment they all start joining one seed concurrently, until every agent
// has seen all 100 alive.
func BenchmarkGossipConverge100(b *testing.B) {
	const n = 100
	var total, worst time.Duration
	for range b.N {
		c := newBenchCluster(b, n)
		start := time.Now()
		c.join(b)
		d := c.waitConverged(b).Sub(start)
		c.shutdown()
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(ms(total)/float64(b.N), "converge-ms")
	b.ReportMetric(ms(worst), "converge-max-ms")
}

// BenchmarkGossipDetectFailure measures, in clusters of 3, 10 and 100
// agents, the time from one agent's Shutdown (no Leave: as if SIGKILLed) to
// the first and to the last other agent seeing it failed.
func BenchmarkGossipDetectFailure(b *testing.B) {
	for _, n := range []int{3, 10, 100} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			var first, all, worst time.Duration
			for range b.N {
				c := newBenchCluster(b, n)
				c.join(b)
				c.waitConverged(b)
				victim := c.watchers[n/2]
				start := time.Now()
				_ = victim.m.Shutdown()
				f, l := c.waitFailed(b, victim)
				c.shutdown()
				first += f.Sub(start)
				all += l.Sub(start)
				worst = max(worst, l.Sub(start))
			}
			b.ReportMetric(ms(first)/float64(b.N), "detect-first-ms")
			b.ReportMetric(ms(all)/float64(b.N), "detect-all-ms")
			b.ReportMetric(ms(worst), "detect-all-max-ms")
		})
	}
}
