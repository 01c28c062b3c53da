package agent

import (
	"context"
	"sync"
	"time"

	"github.com/shoal-org/shoal/leader"
)

// leadershipLoop starts the leader's loops when this agent becomes the raft
// leader and stops them when it stops being one.
func (cl *cluster) leadershipLoop() {
	var stop func() // non-nil while leading
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-cl.ctx.Done():
			return
		case <-cl.raft.LeaderCh():
		case <-tick.C:
		}
		leading := cl.raft.IsLeader()
		switch {
		case leading && stop == nil:
			cl.log.Info("became the leader")
			stop = cl.startLeading()
		case !leading && stop != nil:
			stop()
			stop = nil
			cl.log.Info("no longer the leader")
		}
	}
}

// startLeading runs lead in the background and returns a function that
// stops it and waits for it.
func (cl *cluster) startLeading() func() {
	ctx, cancel := context.WithCancel(cl.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Go(func() { cl.keyLoop(ctx) })
		leader.Run(ctx, cl.leaderDeps())
		wg.Wait()
		cl.dek.forget()
	}()
	return func() { cancel(); <-done }
}

// leaderDeps wires the leader's loops to this agent's replica, gossip and
// generation.
func (cl *cluster) leaderDeps() leader.Deps {
	return leader.Deps{
		Store: cl.store, Replica: cl.raft, Apply: cl.apply,
		Members: cl.ml.Members, MemberInfos: cl.ml.MemberInfos,
		Generation: cl.guard.Generation, RaiseGeneration: cl.raiseGeneration,
		VoterGrace: cl.a.cfg.VoterGrace, KickNodes: cl.kickNodes, KickPilot: cl.kickPilot, Log: cl.log,
		Applied: cl.leaderApplied.Store,
	}
}
