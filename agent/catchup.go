package agent

import (
	"context"
	"time"
)

// Catching up after a restart. raft restores the last snapshot when it
// starts, but applies the log entries after it only once it learns they are
// committed: from its leader, or by becoming leader. Until then the replica
// is older than what this node knew when it stopped, and may be empty. The
// worker would stop containers whose tasks it does not see, the overlay
// would delete bridges and veths, the load balancer would flush its
// services. So everything that acts on the replica waits until it has
// caught up: until it has applied the last command the log held at start,
// or a leader has confirmed (read index) that it holds everything
// committed. The mark is the last command, not the log's last index: the
// no-op and the barrier a leader appends at the start of its term never
// reach the store, so a log ending with them (a quiet cluster's leader
// restarted) never counted as applied, and a lone agent waited for good
// with no worker and no leader duties. A node that
// cannot reach a leader and lost part of its log then stays as it was,
// leaving its containers and network running, until a leader is back.
//
// A stale agent that rejoined a recovered cluster (cl.rejoined) starts with
// an empty raft, so its log says nothing: only a leader's confirmation, or
// leading itself with everything committed applied, ends its wait.

// watchCatchUp closes cl.caughtUp once the replica has caught up.
func (cl *cluster) watchCatchUp() {
	defer close(cl.caughtUp)
	start := time.Now()
	for {
		if cl.rejoined {
			if cl.isLeader() && cl.leaderApplied.Load() && cl.store.View().Cluster() != nil {
				break
			}
		} else if cl.store.Index() >= cl.bootCommand {
			break
		}
		// Another leader confirms what is committed; as leader, this node
		// applies its whole log (the leader's barrier) and the index
		// check above ends the wait.
		if id := cl.raft.LeaderID(); id != "" && id != cl.id.NodeID && !cl.syncReadNow(cl.ctx) &&
			(!cl.rejoined || cl.store.View().Cluster() != nil) {
			break
		}
		select {
		case <-cl.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	if cl.bootIndex > 0 || cl.rejoined {
		cl.log.Info("replica caught up", "index", cl.store.Index(), "log-at-start", cl.bootIndex,
			"last-command-at-start", cl.bootCommand, "took", time.Since(start).Round(time.Millisecond))
	}
}

// waitCaughtUp waits until the replica has caught up, or ctx ends.
func (cl *cluster) waitCaughtUp(ctx context.Context) error {
	select {
	case <-cl.caughtUp:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
