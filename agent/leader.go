package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
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
		leading := cl.raft.State() == raft.Leader
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
	go func() { defer close(done); cl.lead(ctx) }()
	return func() { cancel(); <-done }
}

// lead runs the leader's duties until ctx ends.
func (cl *cluster) lead(ctx context.Context) {
	// Every entry of earlier terms is applied before this leader answers
	// read-index requests or plans from its replica.
	if err := cl.raft.Barrier(10 * time.Second).Error(); err != nil {
		cl.log.Warn("leader barrier", "err", err)
		return
	}
	cl.leaderApplied.Store(true)
	defer cl.leaderApplied.Store(false)
	if err := cl.raiseGeneration(ctx); err != nil {
		cl.log.Warn("leader", "err", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// Autopilot adds and promotes only members of this generation: a stale
	// one rejoins with an empty raft first.
	pilot := membership.NewAutopilot(cl.raft, cl.ml.MemberInfos,
		membership.VoterPolicy{MaxVoters: 5, FailedGrace: cl.a.cfg.VoterGrace, Generation: cl.guard.Generation()}, cl.log)
	wg.Add(1)
	go func() { defer wg.Done(); pilot.Run(ctx, cl.kickPilot) }()
	wg.Add(1)
	go func() { defer wg.Done(); cl.orchestrate(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); cl.leaseLoop(ctx) }()
	cl.nodeLoop(ctx)
}

// nodeLoop keeps the nodes table in step with gossip and the raft
// configuration. It owns no state between rounds: each round compares the
// whole picture, so a missed event is repaired by the next tick.
func (cl *cluster) nodeLoop(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		if err := cl.syncNodes(ctx); err != nil && ctx.Err() == nil {
			cl.log.Warn("sync nodes", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-cl.kickNodes:
		case <-tick.C:
		}
	}
}

func (cl *cluster) syncNodes(ctx context.Context) error {
	cfgFuture := cl.raft.GetConfiguration()
	if err := cfgFuture.Error(); err != nil {
		return fmt.Errorf("raft configuration: %w", err)
	}
	roles := map[string]store.Role{}
	for _, s := range cfgFuture.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			roles[string(s.ID)] = store.RoleVoter
		} else {
			roles[string(s.ID)] = store.RoleNonvoter
		}
	}
	view := cl.store.View()
	seen := map[string]bool{}
	var ops []store.Op
	for _, m := range cl.ml.Members() {
		seen[m.ID] = true
		cur := view.Node(m.ID)
		if cur == nil && m.Status != membership.StatusAlive {
			continue // a removed node that gossip still remembers as gone
		}
		if n := desiredNode(cur, m, roles[m.ID], cl.guard.Generation()); n != nil {
			ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableNodes, Node: n, IfVersion: n.Version})
		}
	}
	for _, n := range view.Nodes() {
		if !seen[n.ID] && n.Status != store.NodeDown {
			cp := n.Copy()
			setStatus(cp, store.NodeDown, "node is unknown to gossip")
			ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableNodes, Node: cp, IfVersion: n.Version})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	_, err := cl.apply(ctx, store.Command{Ops: ops})
	if errors.Is(err, store.ErrConflict) {
		kick(cl.kickNodes) // someone wrote in between: redo with fresh data
		return nil
	}
	return err
}

// desiredNode returns the node row that gossip says should be stored, or nil
// if the stored one is already right. IfVersion-ready: Version is the
// stored version (0 for a new row).
//
// An alive member of another recovery generation is Unknown, not Ready:
// it is stale and rejoining, and runs none of this cluster's tasks yet.
func desiredNode(cur *store.Node, m membership.Member, role store.Role, gen membership.Generation) *store.Node {
	var n *store.Node
	if cur == nil {
		n = &store.Node{ID: m.ID, Availability: store.AvailabilityActive}
	} else {
		n = cur.Copy()
	}
	n.Hostname = m.Name
	n.Addr = m.Addr
	n.GossipPort = m.Port
	n.APIPort = atoi(m.Tags["api"])
	n.RaftPort = atoi(m.Tags["raft"])
	n.EngineVersion = m.Tags["ver"]
	n.Dataplane = m.Tags["dp"]
	n.Platform = store.Platform{OS: m.Tags["os"], Architecture: m.Tags["arch"]}
	n.Resources = store.Resources{NanoCPUs: int64(atoi(m.Tags["cpus"])), MemoryBytes: int64(atoi(m.Tags["mem"]))}
	if role != "" {
		n.Role = role
	} else if n.Role == "" {
		n.Role = store.RoleNonvoter
	}
	mgen, _ := membership.ParseGeneration(m.Tags[membership.TagGen])
	switch m.Status {
	case membership.StatusAlive:
		if mgen != gen {
			setStatus(n, store.NodeUnknown, fmt.Sprintf("node is at recovery generation %s, the cluster at %s: it is rejoining", mgen, gen))
			break
		}
		setStatus(n, store.NodeReady, "")
	case membership.StatusLeft:
		setStatus(n, store.NodeDown, "node left the cluster")
	case membership.StatusFailed:
		setStatus(n, store.NodeDown, "node failed: no gossip answer")
	default:
		setStatus(n, store.NodeUnknown, "node status "+string(m.Status))
	}
	if cur != nil && sameNode(cur, n) {
		return nil
	}
	return n
}

func setStatus(n *store.Node, s store.NodeStatus, msg string) {
	if n.Status != s {
		n.StatusSince = time.Now().UTC()
	}
	n.Status, n.StatusMessage = s, msg
}

func sameNode(a, b *store.Node) bool {
	return a.Hostname == b.Hostname && a.Addr == b.Addr && a.GossipPort == b.GossipPort &&
		a.APIPort == b.APIPort && a.RaftPort == b.RaftPort && a.EngineVersion == b.EngineVersion && a.Dataplane == b.Dataplane &&
		a.Platform == b.Platform && a.Resources == b.Resources && a.Role == b.Role &&
		a.Status == b.Status && a.StatusMessage == b.StatusMessage
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
