// Package leader holds the raft leader's loops: the orchestrator, which
// turns every change of nodes, services and tasks into a rollout plan and
// commits it; the node loop, which keeps the nodes table in step with
// gossip and the raft configuration; the lease loop, which gives every node
// its block of every overlay network; and autopilot, which picks the
// voters. Each loop reads a snapshot of the replica, plans with a pure
// package (rollout, netplan, membership's voter policy) and writes through
// raft with version checks, so a lost race is recomputed, never
// overwritten. The agent runs them while it leads and stops them when it
// stops leading.
package leader

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
)

// Deps is what the loops need from the agent.
type Deps struct {
	Store   *store.Store
	Replica *membership.Replica
	// Apply commits a command through raft (leader only) and returns its
	// index.
	Apply func(ctx context.Context, cmd store.Command) (uint64, error)
	// Members and MemberInfos are the gossip view.
	Members     func() []membership.Member
	MemberInfos func() []membership.MemberInfo
	// Generation is the cluster's recovery generation; RaiseGeneration
	// makes the replicated cluster record carry it.
	Generation      func() membership.Generation
	RaiseGeneration func(ctx context.Context) error
	// VoterGrace is how long a voter may be failed before it is replaced.
	VoterGrace time.Duration
	// KickNodes and KickPilot are signalled on membership changes (and by
	// the node loop itself after a lost race) to run a round at once.
	KickNodes chan struct{}
	KickPilot chan struct{}
	Log       *slog.Logger
	// Applied, when set, is told true once this leader has applied every
	// entry of earlier terms (its barrier), and false when Run returns:
	// only then may it answer read-index requests with its store's index.
	Applied func(bool)
}

type loops struct{ Deps }

// kick asks the node loop for another round without blocking.
func (l *loops) kick() {
	select {
	case l.KickNodes <- struct{}{}:
	default:
	}
}

// SyncNodes brings the nodes table in step with gossip once; `agent init`
// calls it so that the first node is recorded before init returns.
func SyncNodes(ctx context.Context, d Deps) error { return (&loops{d}).syncNodes(ctx) }

// Run runs the leader's duties until ctx ends.
func Run(ctx context.Context, d Deps) {
	l := &loops{d}
	// Every entry of earlier terms is applied before this leader answers
	// read-index requests or plans from its replica.
	if err := l.Replica.Barrier(10 * time.Second); err != nil {
		l.Log.Warn("leader barrier", "err", err)
		return
	}
	if l.Applied != nil {
		l.Applied(true)
		defer l.Applied(false)
	}
	if err := l.RaiseGeneration(ctx); err != nil {
		l.Log.Warn("leader", "err", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// Autopilot adds and promotes only members of this generation: a stale
	// one rejoins with an empty raft first.
	pilot := l.Replica.Autopilot(l.MemberInfos,
		membership.VoterPolicy{MaxVoters: 5, FailedGrace: l.VoterGrace, Generation: l.Generation()}, l.Log)
	wg.Add(1)
	go func() { defer wg.Done(); pilot.Run(ctx, l.KickPilot) }()
	wg.Add(1)
	go func() { defer wg.Done(); l.orchestrate(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); l.leaseLoop(ctx) }()
	l.nodeLoop(ctx)
}
