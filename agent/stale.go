package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
)

// Stale agents. `agent recover` raises the cluster's recovery generation
// (membership.Generation). An old voter that comes back holds the old raft
// configuration: if it ran raft on it, it could elect a second leader with
// the other old voters. It learns the higher generation from gossip tags or
// from a refused raft handshake before it may vote (see the guard's gate in
// startClusterWith), and then rejoins the recovered cluster by itself: its
// raft state is set aside, and it starts again with an empty raft at the
// higher generation, joining the members that carry it. The recovered
// leader adds it as a non-voter (autopilot ignores members of another
// generation) and promotes it as usual. Its containers keep running
// meanwhile; once its replica caught up with the leader the worker adopts
// the tasks the recovered state still assigns to it and stops the others.

// staleDirPrefix names the raft dirs set aside by a stale rejoin:
// raft.stale-gen<EPOCH>-<UTC time>. Only the newest is kept.
const staleDirPrefix = "raft.stale-gen"

// onStale is the guard's callback: a higher generation of this cluster
// exists. It starts the rejoin in the background, once per cluster.
func (cl *cluster) onStale(higher membership.Generation) {
	if cl.ctx.Err() != nil {
		return // stopping anyway
	}
	cl.log.Warn("this cluster was recovered without this agent: its raft state is stale; rejoining the recovered cluster",
		"own-generation", cl.id.generation(), "cluster-generation", higher)
	a := cl.a
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.rejoinGeneration(cl, higher); err != nil {
			a.log.Error("rejoining the recovered cluster failed; restart the agent to try again", "generation", higher, "err", err)
		}
	}()
}

// rejoinGeneration replaces the stale cluster old by a new one at
// generation higher. It waits for any init, join or leave in progress, and
// does nothing if old is no longer the running cluster.
func (a *Agent) rejoinGeneration(old *cluster, higher membership.Generation) error {
	var done func()
	for {
		var err error
		if done, err = a.beginMembershipChange(true); err == nil {
			break
		}
		select {
		case <-a.runCtx.Done():
			return nil
		case <-old.ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer done()
	if cl, err := a.cluster(); err != nil || cl != old {
		return nil
	}
	peers := membersAt(old.ml.Members(), old.id.NodeID, higher)
	start := time.Now()
	a.stopCluster(false) // containers keep running
	id := a.ident()
	aside, err := setRaftAside(id, id.generation(), start)
	if err != nil {
		return err
	}
	a.log.Warn("stale raft state set aside", "path", aside)
	next, err := id.withGeneration(higher)
	if err != nil {
		return err
	}
	a.setIdent(next)
	if err := a.startClusterWith(a.runCtx, startOpts{peers: peers, rejoin: true}); err != nil {
		return fmt.Errorf("start at generation %s: %w", higher, err)
	}
	a.log.Info("rejoined the recovered cluster", "generation", higher, "via", peers, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// membersAt returns the gossip addresses of the alive members (but self)
// at generation gen, or of every alive member if none carries it yet.
func membersAt(members []membership.Member, self string, gen membership.Generation) []string {
	var at, alive []string
	for _, m := range members {
		if m.ID == self || m.Status != membership.StatusAlive {
			continue
		}
		addr := net.JoinHostPort(m.Addr, strconv.Itoa(m.Port))
		alive = append(alive, addr)
		if g, err := membership.ParseGeneration(m.Tags[membership.TagGen]); err == nil && g == gen {
			at = append(at, addr)
		}
	}
	if len(at) > 0 {
		return at
	}
	return alive
}

// setRaftAside renames the raft dir of id to raft.stale-gen<E>-<time> and
// removes older ones, so a data dir holds at most one. It returns the new
// path ("" if there was no raft dir).
func setRaftAside(id *identity, gen membership.Generation, now time.Time) (string, error) {
	src := id.path("raft")
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	dst := id.path(fmt.Sprintf("%s%d-%s", staleDirPrefix, gen.Epoch, now.UTC().Format("20060102T150405.000Z")))
	if err := os.Rename(src, dst); err != nil {
		return "", fmt.Errorf("set the stale raft state aside: %w", err)
	}
	old, _ := filepath.Glob(id.path(staleDirPrefix + "*"))
	var errs []error
	for _, p := range old {
		if p != dst {
			errs = append(errs, os.RemoveAll(p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return dst, fmt.Errorf("remove older stale raft state: %w", err)
	}
	return dst, nil
}

// generationInfo is what `agentctl info` shows: this agent's generation,
// and a higher one it is rejoining (or "").
func (cl *cluster) generationInfo() (own, stale string) {
	own = cl.guard.Generation().String()
	if high, ok := cl.guard.Stale(); ok {
		stale = high.String()
	}
	return own, stale
}

// raiseGeneration makes the replicated cluster record carry the leader's
// generation, if it carries a lower one. Called by the leader.
func (cl *cluster) raiseGeneration(ctx context.Context) error {
	c := cl.store.View().Cluster()
	if c == nil {
		return nil // init writes the record, at generation 1
	}
	own := cl.guard.Generation()
	cur, err := membership.ParseGeneration(c.Generation)
	if err == nil && cur.Compare(own) >= 0 {
		return nil
	}
	if _, err := cl.apply(ctx, store.SetGeneration(c, own.String())); err != nil {
		return fmt.Errorf("record generation %s in the cluster record: %w", own, err)
	}
	cl.log.Info("cluster record raised to this leader's generation", "from", c.Generation, "to", own)
	return nil
}
