package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// ErrNotLeader is returned by Replica's leader-only operations on an agent
// that is not (or stopped being) the leader.
var ErrNotLeader = errors.New("raft: not the leader")

// Replica is this agent's raft member as the rest of the daemon sees it:
// apply a command, whether and whom it follows, the configuration's
// servers, and leadership changes. It is the seam that keeps
// hashicorp/raft inside this package (and the store's FSM).
type Replica struct {
	raft   *raft.Raft
	closer io.Closer
}

// OpenReplica starts raft over cfg.DataDir with fsm (see NewRaft).
func OpenReplica(cfg RaftConfig, fsm raft.FSM) (*Replica, error) {
	r, closer, err := NewRaft(cfg, fsm)
	if err != nil {
		return nil, err
	}
	return &Replica{raft: r, closer: closer}, nil
}

// Close shuts raft down, then closes its transport and stores.
func (r *Replica) Close() error {
	err := r.raft.Shutdown().Error()
	return errors.Join(err, r.closer.Close())
}

// Bootstrap makes the replica a cluster of one voter (id at addr).
func (r *Replica) Bootstrap(id, addr string) error { return BootstrapSingle(r.raft, id, addr) }

// Autopilot returns the voter manager for this replica (see NewAutopilot).
func (r *Replica) Autopilot(members func() []MemberInfo, p VoterPolicy, logger *slog.Logger) *Autopilot {
	return NewAutopilot(r.raft, members, p, logger)
}

// Apply commits data through the log and returns what the FSM answered.
// It fails with ErrNotLeader when this agent cannot commit.
func (r *Replica) Apply(data []byte, timeout time.Duration) (any, error) {
	f := r.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrEnqueueTimeout) {
			return nil, fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return nil, fmt.Errorf("raft apply: %w", err)
	}
	return f.Response(), nil
}

// Barrier waits until every entry of earlier terms is applied (leader only).
func (r *Replica) Barrier(timeout time.Duration) error { return r.raft.Barrier(timeout).Error() }

// VerifyLeader confirms with a quorum that this agent still leads.
func (r *Replica) VerifyLeader() error { return r.raft.VerifyLeader().Error() }

// IsLeader reports whether this agent leads right now.
func (r *Replica) IsLeader() bool { return r.raft.State() == raft.Leader }

// State is raft's word for this member's role: Leader, Follower, Candidate
// or Shutdown.
func (r *Replica) State() string { return r.raft.State().String() }

// LeaderID is the leader this replica knows of; "" for none.
func (r *Replica) LeaderID() string {
	_, id := r.raft.LeaderWithID()
	return string(id)
}

// LeaderCh signals when this agent gains or loses the leadership.
func (r *Replica) LeaderCh() <-chan bool { return r.raft.LeaderCh() }

// AppliedIndex, CommitIndex and LastIndex are raft's log positions.
func (r *Replica) AppliedIndex() uint64 { return r.raft.AppliedIndex() }

// CommitIndex is the highest log index known committed.
func (r *Replica) CommitIndex() uint64 { return r.raft.CommitIndex() }

// LastIndex is the last index in the log or the snapshot.
func (r *Replica) LastIndex() uint64 { return r.raft.LastIndex() }

// LastContact is when this follower last heard from a leader.
func (r *Replica) LastContact() time.Time { return r.raft.LastContact() }

// Servers is the replica's copy of the raft configuration.
func (r *Replica) Servers() ([]ServerInfo, error) {
	f := r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	return serverInfos(f.Configuration()), nil
}

// AddVoter adds or promotes id at addr as a voter (leader only).
func (r *Replica) AddVoter(id, addr string, timeout time.Duration) error {
	return r.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error()
}

// RemoveServer takes id out of the configuration (leader only).
func (r *Replica) RemoveServer(id string, timeout time.Duration) error {
	return r.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
}

// WatchLeader calls fn with the leader's ID ("" for none) now and on every
// change raft observes, until ctx ends.
func (r *Replica) WatchLeader(ctx context.Context, fn func(id string)) {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.raft.RegisterObserver(obs)
	defer r.raft.DeregisterObserver(obs)
	fn(r.LeaderID())
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-ch:
			lo, _ := o.Data.(raft.LeaderObservation)
			fn(string(lo.LeaderID))
		}
	}
}
