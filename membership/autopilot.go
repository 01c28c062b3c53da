package membership

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

const (
	// reconcileInterval is how often Autopilot re-plans without a kick.
	reconcileInterval = time.Second
	// changeEnqueueTimeout bounds how long a configuration change may wait
	// to enter raft's queue (raft's own timeout argument).
	changeEnqueueTimeout = 10 * time.Second
)

// Autopilot keeps the raft voter set in shape (see PlanVoters) from the
// leader. Create it with NewAutopilot and run it with Run on every agent:
// it acts only while its raft is the leader.
type Autopilot struct {
	r       *raft.Raft
	members func() []MemberInfo
	policy  VoterPolicy
	log     *slog.Logger
	now     func() time.Time

	// firstBad is when a server was first seen missing from members, or
	// not alive with an unknown Since; owned by Run's goroutine.
	firstBad map[string]time.Time
}

// NewAutopilot returns an Autopilot for r. members returns the gossip view
// (e.g. Membership.MemberInfos); it is called from Run's goroutine.
func NewAutopilot(r *raft.Raft, members func() []MemberInfo, p VoterPolicy, logger *slog.Logger) *Autopilot {
	return &Autopilot{
		r:        r,
		members:  members,
		policy:   p.withDefaults(),
		log:      orDefault(logger).With("component", "autopilot"),
		now:      time.Now,
		firstBad: make(map[string]time.Time),
	}
}

// Run reconciles the voter set every second and whenever kick receives (kick
// may be nil), while r is the leader. It returns when ctx ends; a
// configuration change in flight is waited for, which takes at most raft's
// leader lease if the quorum is gone. Call Run from one goroutine only.
func (a *Autopilot) Run(ctx context.Context, kick <-chan struct{}) {
	t := time.NewTicker(reconcileInterval)
	defer t.Stop()
	for {
		a.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
	}
}

// reconcile runs one round: plan from the current configuration and apply
// the changes in order, stopping at the first failure (the next round
// re-plans from what raft then holds).
func (a *Autopilot) reconcile(ctx context.Context) {
	if a.r.State() != raft.Leader {
		clear(a.firstBad)
		return
	}
	_, leaderID := a.r.LeaderWithID()
	cf := a.r.GetConfiguration()
	if err := cf.Error(); err != nil || leaderID == "" {
		return
	}
	index := cf.Index()
	servers := serverInfos(cf.Configuration())
	now := a.now()
	members := a.fillUnknown(servers, SameGeneration(a.members(), a.policy.Generation), now)
	for _, c := range PlanVoters(servers, members, string(leaderID), now, a.policy) {
		if ctx.Err() != nil {
			return
		}
		f := a.apply(c, index)
		if err := waitFuture(ctx, f); err != nil {
			a.log.Warn("voter change failed", "change", c.Kind, "id", c.ID, "reason", c.Reason, "err", err)
			return
		}
		index = f.Index()
		a.log.Info("voter change", "change", c.Kind, "id", c.ID, "addr", c.Address, "reason", c.Reason)
	}
}

// waitFuture waits for f, or for ctx to end: a change that cannot commit
// (its new configuration has no reachable quorum) must not hold the
// autopilot, and with it the leader's loops, after leadership or the
// agent ends. The abandoned wait ends when raft answers f, at the latest
// on shutdown.
func waitFuture(ctx context.Context, f raft.IndexFuture) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// apply starts one change; prevIndex makes it fail if the configuration
// changed since it was read.
func (a *Autopilot) apply(c Change, prevIndex uint64) raft.IndexFuture {
	id, addr := raft.ServerID(c.ID), raft.ServerAddress(c.Address)
	switch c.Kind {
	case AddNonvoter:
		return a.r.AddNonvoter(id, addr, prevIndex, changeEnqueueTimeout)
	case Promote:
		return a.r.AddVoter(id, addr, prevIndex, changeEnqueueTimeout)
	case Demote:
		return a.r.DemoteVoter(id, prevIndex, changeEnqueueTimeout)
	case Remove:
		return a.r.RemoveServer(id, prevIndex, changeEnqueueTimeout)
	default:
		return errFuture{fmt.Errorf("autopilot: unknown change kind %q", c.Kind)}
	}
}

// fillUnknown gives the plan a Since for servers gossip does not know (they
// count as failed from the first round that noticed) and for non-alive
// members with a zero Since, so that a server that vanished from gossip is
// eventually replaced.
func (a *Autopilot) fillUnknown(servers []ServerInfo, members []MemberInfo, now time.Time) []MemberInfo {
	out := make([]MemberInfo, 0, len(members)+len(servers))
	seen := make(map[string]bool, len(members))
	bad := make(map[string]bool)
	for _, m := range members {
		seen[m.ID] = true
		if m.Status != StatusAlive && m.Status != StatusLeft && m.Since.IsZero() {
			m.Since = a.firstBadSince(m.ID, now)
			bad[m.ID] = true
		}
		out = append(out, m)
	}
	for _, s := range servers {
		if !seen[s.ID] {
			out = append(out, MemberInfo{ID: s.ID, RaftAddr: s.Address, Status: StatusFailed, Since: a.firstBadSince(s.ID, now)})
			bad[s.ID] = true
		}
	}
	for id := range a.firstBad {
		if !bad[id] {
			delete(a.firstBad, id)
		}
	}
	return out
}

func (a *Autopilot) firstBadSince(id string, now time.Time) time.Time {
	t, ok := a.firstBad[id]
	if !ok {
		t = now
		a.firstBad[id] = t
	}
	return t
}

func serverInfos(c raft.Configuration) []ServerInfo {
	out := make([]ServerInfo, 0, len(c.Servers))
	for _, s := range c.Servers {
		out = append(out, ServerInfo{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out
}

// errFuture is an IndexFuture that has already failed.
type errFuture struct{ err error }

func (f errFuture) Error() error  { return f.err }
func (f errFuture) Index() uint64 { return 0 }
