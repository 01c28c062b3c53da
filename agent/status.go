package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/membership"
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

// statusView is what the answering agent knows besides its replica's node
// records when it derives the statuses it shows.
type statusView struct {
	self   string                       // the answering node's ID
	voters map[string]bool              // raft voters in this agent's configuration
	leader string                       // the leader's ID as raft names it; "" for none
	gossip map[string]membership.Status // this agent's gossip view by node ID
	fresh  api.Freshness                // whether a live leader confirmed the replica
}

// statusView gathers raft's and gossip's view for deriveNodes.
func (cl *cluster) statusView(fresh api.Freshness) statusView {
	sv := statusView{self: cl.id.NodeID, voters: map[string]bool{}, gossip: map[string]membership.Status{}, fresh: fresh}
	if servers, err := cl.raft.Servers(); err == nil {
		for _, s := range servers {
			sv.voters[s.ID] = s.Voter
		}
	}
	leader := cl.raft.LeaderID()
	sv.leader = string(leader)
	for _, m := range cl.ml.Members() {
		sv.gossip[m.ID] = m.Status
	}
	return sv
}

// deriveNodes decorates the replica's node records with what the answering
// agent shows for them. With a live leader behind the answer the records
// stand as they are. Without one, a node keeps its recorded status only if
// this agent's gossip sees it alive (or saw it leave, for a node recorded
// Down); every other status is unknown, and no voter is shown as Leader.
// Pure.
func deriveNodes(nodes []*types.Node, sv statusView) []api.Node {
	out := make([]api.Node, 0, len(nodes))
	for _, n := range nodes {
		v := api.Node{Node: *n, Self: n.ID == sv.self, Freshness: sv.fresh}
		seen := sv.gossip[n.ID]
		confirmed := sv.fresh.Authoritative || seen == membership.StatusAlive ||
			(seen == membership.StatusLeft && n.Status == types.NodeDown)
		if !confirmed && n.Status != types.NodeUnknown {
			v.ReplicaStatus, v.Status = n.Status, types.NodeUnknown
			v.StatusMessage = fmt.Sprintf("no leader is reachable and this agent's gossip %s; last recorded status: %s",
				gossipWord(seen), n.Status)
		}
		if sv.voters[n.ID] {
			v.ManagerStatus = managerStatus(n.ID, sv, seen)
		}
		out = append(out, v)
	}
	return out
}

// managerStatus is docker's MANAGER STATUS of voter id.
func managerStatus(id string, sv statusView, seen membership.Status) string {
	switch {
	case sv.fresh.Authoritative && id == sv.leader:
		return "Leader"
	case seen == membership.StatusAlive:
		return "Reachable"
	default:
		return "Unreachable"
	}
}

// gossipWord says how gossip sees a node, for status messages.
func gossipWord(s membership.Status) string {
	if s == "" {
		return "does not know the node"
	}
	return "sees the node " + string(s)
}
