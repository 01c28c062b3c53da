// Package events turns changes of the replicated state into a stream of
// events (a service created, a node drained, a network removed), as docker
// reports them with `docker events --filter scope=swarm`.
//
// Every agent derives the same events from its own replica: Log follows
// the store, compares each new view with the last one it saw (objects by
// ID and version) and keeps the most recent events in a ring, so that a
// client can ask for the events since a time and then follow new ones.
// Changes that the store applies between two reads are seen as one (two
// quick updates of a service may make one update event): events tell what
// changed, not every step.
package events

import (
	"context"
	"sync"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/store"
)

// Kinds of objects an event is about (api.Event.Type).
const (
	TypeService = "service"
	TypeNode    = "node"
	TypeNetwork = "network"
)

// Actions (api.Event.Action).
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionRemove = "remove"
)

// DefaultKeep is how many past events a Log keeps for late readers.
const DefaultKeep = 1024

// Log is one agent's event log. It is safe for concurrent use.
type Log struct {
	keep int
	now  func() time.Time

	mu     sync.Mutex
	ring   []api.Event // the last keep events, oldest first
	subs   map[chan api.Event]struct{}
	last   snapshot
	closed bool // Run has ended: no more events
}

// New returns a log that keeps the last keep events (DefaultKeep if
// keep <= 0).
func New(keep int) *Log {
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &Log{keep: keep, now: time.Now, subs: map[chan api.Event]struct{}{}}
}

// Run follows st until ctx ends, then closes every subscriber's channel.
// The state st holds when Run starts is the baseline: it makes no events.
func (l *Log) Run(ctx context.Context, st *store.Store) {
	changes, cancel := st.Subscribe(store.TableServices, store.TableNodes, store.TableNetworks)
	defer cancel()
	defer l.close()
	l.mu.Lock()
	l.last = take(st.View())
	l.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			l.Observe(st.View())
		}
	}
}

// Observe records the events that lead from the last view seen to v.
func (l *Log) Observe(v *store.View) {
	next := take(v)
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := diff(l.last, next, l.now())
	l.last = next
	for _, e := range evs {
		l.ring = append(l.ring, e)
		for ch := range l.subs {
			select {
			case ch <- e:
			default: // a reader that fell behind by a whole buffer misses events rather than stalling the log
			}
		}
	}
	if over := len(l.ring) - l.keep; over > 0 {
		l.ring = append(l.ring[:0:0], l.ring[over:]...)
	}
}

// close ends every subscription.
func (l *Log) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for ch := range l.subs {
		close(ch)
		delete(l.subs, ch)
	}
}

// Subscribe returns the kept events at or after since (none for a zero
// since) and a channel of the events that follow, until cancel is called
// or the log stops (the channel is closed then). The channel buffers 256
// events; a reader further behind loses events.
func (l *Log) Subscribe(since time.Time) (past []api.Event, live <-chan api.Event, cancel func()) {
	ch := make(chan api.Event, 256)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		close(ch)
		return nil, ch, func() {}
	}
	if !since.IsZero() {
		for _, e := range l.ring {
			if !e.Time.Before(since) {
				past = append(past, e)
			}
		}
	}
	l.subs[ch] = struct{}{}
	var once sync.Once
	return past, ch, func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.subs, ch)
			l.mu.Unlock()
		})
	}
}
