package agent

import (
	"context"
	"sync"
	"time"

	"github.com/shoal-org/shoal/api"
)

// Honest status without a leader. Reads are answered from this agent's
// replica after a leader confirmed it is current (syncRead). When no leader
// can be reached the replica answers as it is, but its node statuses are
// the last word of a leader that may be gone: a node the replica calls
// Ready may have been powered off since. So such answers are marked
// (api.Freshness) and the node statuses this agent cannot confirm itself,
// through its own gossip view, are shown as unknown, as docker's `node ls`
// refuses to vouch for anything on a manager without quorum.

// leaderWatch remembers when this agent last observed a leader, for the
// "no leader since" of answers given without one. Safe for concurrent use.
type leaderWatch struct {
	mu      sync.Mutex
	started time.Time // when watching began: the answer if no leader was ever seen
	seen    time.Time // the last moment a leader was known to be there
	present bool      // raft's last leader observation named a leader
}

// start records when watching began.
func (w *leaderWatch) start(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started = now
}

// observe records raft's leader observation at now: whether raft names a
// leader. Losing one means a leader was there until now.
func (w *leaderWatch) observe(present bool, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if present || w.present {
		w.seen = now
	}
	w.present = present
}

// confirmed records a read a leader confirmed at now.
func (w *leaderWatch) confirmed(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = now
}

// lastSeen returns the last moment a leader was observed. lastContact is
// raft's last contact with a leader (zero if none): while raft still names
// a leader whose reads fail, raft's heartbeats are the latest sign of it.
func (w *leaderWatch) lastSeen(lastContact time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.seen
	if lastContact.After(t) {
		t = lastContact
	}
	if t.IsZero() {
		t = w.started
	}
	return t
}

// watchLeader feeds raft's leader observations into cl.leaders until
// cl.ctx ends. It runs in its own goroutine.
func (cl *cluster) watchLeader() {
	cl.leaders.start(time.Now())
	// Observations dropped on a full channel are repaired by the next one;
	// reads that reach a leader also count as seeing it.
	cl.raft.WatchLeader(cl.ctx, func(id string) { cl.leaders.observe(id != "", time.Now()) })
}

// readFreshness brings the replica up to date as syncRead does and says
// whether a live leader confirmed it.
func (cl *cluster) readFreshness(ctx context.Context) api.Freshness {
	return cl.freshness(!cl.syncRead(ctx))
}

// freshness turns the outcome of a read-index confirmation into what the
// answer carries, and records a confirmation as a sighting of the leader.
func (cl *cluster) freshness(confirmed bool) api.Freshness {
	if confirmed {
		cl.leaders.confirmed(time.Now())
		return api.Freshness{Authoritative: true}
	}
	return api.Freshness{NoLeaderSince: cl.leaders.lastSeen(cl.raft.LastContact())}
}
