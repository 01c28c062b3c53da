package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
)

// errNoLeader is what a write gets when this agent cannot reach a leader.
var errNoLeader = &fault.Error{Kind: fault.Unavailable, Msg: "no leader reachable: this agent cannot reach a majority of the raft voters, so it cannot accept writes " +
	"(reads still work). Check the network between the agents; if the majority is gone for good, run `agent recover` on a survivor"}

// apply commits cmd through raft. Only the leader may call it.
func (cl *cluster) apply(ctx context.Context, cmd store.Command) (uint64, error) {
	b, err := store.EncodeCommand(cmd)
	if err != nil {
		return 0, fmt.Errorf("encode command: %w", err)
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	resp, err := cl.raft.Apply(b, timeout)
	if errors.Is(err, membership.ErrNotLeader) {
		return 0, errNoLeader
	} else if err != nil {
		return 0, err
	}
	res, ok := resp.(*store.Result)
	if !ok {
		return 0, fmt.Errorf("raft apply: unexpected response %T", resp)
	}
	return res.Index, res.Err
}

// Leader implements apiserver.Leadership: whether this agent leads, and
// if not, where the leader's API is and how to reach it.
func (a *Agent) Leader() (self bool, id, base string, rt http.RoundTripper, err error) {
	cl, err := a.cluster()
	if err != nil {
		return false, "", "", nil, err
	}
	if cl.isLeader() {
		return true, cl.id.NodeID, "", nil, nil
	}
	lid := cl.raft.LeaderID()
	if base, err = cl.leaderBase(); err != nil {
		return false, "", "", nil, err
	}
	return false, lid, base, cl.peerHTTP.Transport, nil
}

// LeaderID implements apiserver.Leadership.
func (a *Agent) LeaderID() string {
	cl, err := a.cluster()
	if err != nil {
		return ""
	}
	return cl.raft.LeaderID()
}

// isLeader reports whether this agent leads right now.
func (cl *cluster) isLeader() bool { return cl.raft.IsLeader() }

// leaderBase returns the HTTPS base URL of the leader's API.
func (cl *cluster) leaderBase() (string, error) {
	id := cl.raft.LeaderID()
	if id == "" {
		return "", errNoLeader
	}
	for _, m := range cl.ml.Members() {
		if m.ID == id && m.Tags["api"] != "" {
			return "https://" + net.JoinHostPort(m.Addr, m.Tags["api"]), nil
		}
	}
	if n := cl.store.View().Node(id); n != nil && n.APIPort != 0 {
		return "https://" + net.JoinHostPort(n.Addr, strconv.Itoa(n.APIPort)), nil
	}
	return "", errNoLeader
}

// leaderClient is an API client for the current leader over mutual TLS.
func (cl *cluster) leaderClient() (*api.Client, error) {
	base, err := cl.leaderBase()
	if err != nil {
		return nil, err
	}
	return api.NewHTTPClient(base, cl.peerHTTP), nil
}

// syncRead makes the local replica at least as new as the leader was when
// the read began, so a read on any agent sees every write acknowledged
// before it (read-your-writes across agents). If the leader cannot be
// reached quickly the local replica answers as it is: reads keep working
// in a partition.
func (cl *cluster) syncRead(ctx context.Context) (stale bool) {
	// A replica still catching up after a restart answers with what it
	// has only if no leader confirms more within a few seconds.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := cl.waitCaughtUp(wctx)
	cancel()
	stale = cl.syncReadNow(ctx) || err != nil
	if stale {
		fault.MarkStale(ctx)
	}
	return stale
}

// syncReadNow is syncRead without the wait for catching up.
func (cl *cluster) syncReadNow(ctx context.Context) (stale bool) {
	if cl.isLeader() {
		return false
	}
	c, err := cl.leaderClient()
	if err != nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	ri, err := c.ReadIndex(ctx)
	if err != nil {
		return true
	}
	return cl.store.WaitIndex(ctx, ri.Index) != nil
}

// voterCount counts voters in the current raft configuration.
func (cl *cluster) voterCount() int {
	servers, err := cl.raft.Servers()
	if err != nil {
		return 0
	}
	n := 0
	for _, s := range servers {
		if s.Voter {
			n++
		}
	}
	return n
}

// removePeer takes a server out of the raft configuration. When the leader
// removes itself it first makes sure another live voter exists, so the
// cluster keeps a quorum after it is gone.
func (cl *cluster) removePeer(ctx context.Context, id string) error {
	servers, err := cl.raft.Servers()
	if err != nil {
		return err
	}
	found := false
	for _, s := range servers {
		found = found || s.ID == id
	}
	if !found {
		return nil
	}
	if id == cl.id.NodeID && cl.voterCount() == 1 {
		alive := map[string]bool{}
		for _, m := range cl.ml.Members() {
			alive[m.ID] = m.Status == membership.StatusAlive
		}
		promoted := false
		for _, s := range servers {
			if s.ID != id && !s.Voter && alive[s.ID] {
				if err := cl.raft.AddVoter(s.ID, s.Address, 10*time.Second); err != nil {
					return fmt.Errorf("promote %s before leaving: %w", s.ID, err)
				}
				promoted = true
				break
			}
		}
		if !promoted {
			return &fault.Error{Kind: fault.Conflict, Msg: "this node is the only raft voter and no other live node can take over: " +
				"start or join another agent first, or stop this one instead of leaving"}
		}
	}
	if err := cl.raft.RemoveServer(id, 10*time.Second); err != nil {
		return fmt.Errorf("remove %s from raft: %w", id, err)
	}
	return nil
}
