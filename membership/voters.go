package membership

import (
	"fmt"
	"sort"
	"time"
)

// ServerInfo is one server of the raft configuration.
type ServerInfo struct {
	ID, Address string
	Voter       bool
}

// VoterPolicy tunes voter management.
type VoterPolicy struct {
	// MaxVoters caps the voter set (default 5); the set is kept odd.
	MaxVoters int
	// FailedGrace is how long a server may be failed before it is removed
	// from the configuration (default 10 s). Shorter means a dead voter is
	// replaced sooner; longer tolerates a reboot without churn.
	FailedGrace time.Duration
	// Generation is the leader's recovery generation; when set, members of
	// any other generation are ignored (see SameGeneration).
	Generation Generation
}

// DefaultVoterPolicy returns MaxVoters 5 and FailedGrace 10 s.
func DefaultVoterPolicy() VoterPolicy {
	return VoterPolicy{MaxVoters: 5, FailedGrace: 10 * time.Second}
}

func (p VoterPolicy) withDefaults() VoterPolicy {
	d := DefaultVoterPolicy()
	if p.MaxVoters <= 0 {
		p.MaxVoters = d.MaxVoters
	}
	if p.FailedGrace <= 0 {
		p.FailedGrace = d.FailedGrace
	}
	return p
}

// ChangeKind is one raft configuration change.
type ChangeKind string

const (
	// AddNonvoter adds a server as a non-voter (raft AddNonvoter); it is
	// also used to update a non-voter's address.
	AddNonvoter ChangeKind = "add-nonvoter"
	// Promote makes a server a voter (raft AddVoter); it is also used to
	// update a voter's address.
	Promote ChangeKind = "promote"
	// Demote makes a voter a non-voter (raft DemoteVoter).
	Demote ChangeKind = "demote"
	// Remove drops a server from the configuration (raft RemoveServer).
	Remove ChangeKind = "remove"
)

// Change is one step of a voter plan.
type Change struct {
	Kind        ChangeKind
	ID, Address string
	Reason      string
}

// health is how PlanVoters classifies a server.
type health int

const (
	healthAlive   health = iota
	healthGrace          // failed or leaving, within FailedGrace (or since unknown)
	healthExpired        // failed or leaving for longer than FailedGrace
	healthLeft           // left gracefully
)

// TargetVoters is the voter count PlanVoters aims for with alive servers
// alive: the largest odd number <= min(maxVoters, alive), at least 1.
//
// An even voter set is worse than the odd one below it: 2k voters need k+1
// for a quorum and so tolerate k-1 failures, exactly like 2k-1 voters, but
// have one more server whose failure counts. With 2 agents, 2 voters stop
// the cluster if either fails; 1 voter (the leader) stops it only if that
// one fails, and the other agent still holds a full replica as a non-voter.
func TargetVoters(alive, maxVoters int) int {
	n := min(alive, maxVoters)
	if n%2 == 0 {
		n--
	}
	return max(n, 1)
}

// PlanVoters returns the raft configuration changes that bring servers to
// the voter policy, given the gossip view of the members. It is pure: now is
// the only clock. The rules:
//
//   - an alive member with a raft address that is not in the configuration
//     is added as a non-voter (promoted in a later round, once it has had a
//     round to catch up);
//   - a server whose member left is removed at once; one failed (or leaving)
//     for longer than p.FailedGrace is removed, voter or not (it is added
//     again when it comes back alive); a server missing from members, or
//     whose Since is zero, counts as failed within grace;
//   - the target is TargetVoters(alive servers in the configuration);
//     alive non-voters are promoted in ID order while voters (alive +
//     failed-within-grace) are fewer than the target;
//   - extra alive voters are demoted (highest ID first) only when voters
//     exceed the target (counting the members being added) and no server
//     is failed within grace;
//   - the leader counts as alive and is never removed or demoted.
//
// Changes come in a safe order: additions and promotions first, then
// removals, then demotions, so quorum is never smaller than needed.
func PlanVoters(servers []ServerInfo, members []MemberInfo, leaderID string, now time.Time, p VoterPolicy) []Change {
	p = p.withDefaults()
	byID := make(map[string]MemberInfo, len(members))
	for _, m := range members {
		byID[m.ID] = m
	}
	servers = sortedServers(servers)

	var adds, promotes, removes, demotes []Change
	var aliveVoters, aliveNonvoters []ServerInfo
	voters, graceFailed := 0, false
	inConfig := make(map[string]bool, len(servers))
	for _, s := range servers {
		inConfig[s.ID] = true
		m, known := byID[s.ID]
		h := classify(s.ID == leaderID, m, known, now, p.FailedGrace)
		switch h {
		case healthAlive:
			if c, ok := addressChange(s, m, s.ID == leaderID); ok {
				adds = append(adds, c)
			}
			if s.Voter {
				voters++
				aliveVoters = append(aliveVoters, s)
			} else {
				aliveNonvoters = append(aliveNonvoters, s)
			}
		case healthGrace:
			graceFailed = true
			if s.Voter {
				voters++
			}
		case healthExpired:
			removes = append(removes, Change{Kind: Remove, ID: s.ID, Address: s.Address,
				Reason: fmt.Sprintf("%s for %s (grace %s)", m.Status, now.Sub(m.Since).Round(time.Second), p.FailedGrace)})
		case healthLeft:
			removes = append(removes, Change{Kind: Remove, ID: s.ID, Address: s.Address, Reason: "left the cluster"})
		}
	}
	newMembers := 0
	for _, m := range sortedMembers(members) {
		if m.Status == StatusAlive && !inConfig[m.ID] && m.RaftAddr != "" {
			adds = append(adds, Change{Kind: AddNonvoter, ID: m.ID, Address: m.RaftAddr, Reason: "new alive member"})
			newMembers++
		}
	}

	aliveServers := len(aliveVoters) + len(aliveNonvoters)
	target := TargetVoters(aliveServers, p.MaxVoters)
	// Members being added now raise the target next round: do not demote a
	// voter that would then be promoted again.
	demoteTarget := TargetVoters(aliveServers+newMembers, p.MaxVoters)
	for _, s := range aliveNonvoters {
		if voters >= target {
			break
		}
		promotes = append(promotes, Change{Kind: Promote, ID: s.ID, Address: s.Address,
			Reason: fmt.Sprintf("voters %d < target %d", voters, target)})
		voters++
	}
	for i := len(aliveVoters) - 1; i >= 0 && voters > demoteTarget && !graceFailed; i-- {
		s := aliveVoters[i]
		if s.ID == leaderID {
			continue
		}
		demotes = append(demotes, Change{Kind: Demote, ID: s.ID, Address: s.Address,
			Reason: fmt.Sprintf("voters %d > target %d", voters, demoteTarget)})
		voters--
	}

	plan := make([]Change, 0, len(adds)+len(promotes)+len(removes)+len(demotes))
	plan = append(plan, adds...)
	plan = append(plan, promotes...)
	plan = append(plan, removes...)
	return append(plan, demotes...)
}

// classify decides a server's health from its member entry.
func classify(isLeader bool, m MemberInfo, known bool, now time.Time, grace time.Duration) health {
	switch {
	case isLeader:
		return healthAlive
	case !known:
		return healthGrace
	case m.Status == StatusAlive:
		return healthAlive
	case m.Status == StatusLeft:
		return healthLeft
	case !m.Since.IsZero() && now.Sub(m.Since) > grace:
		return healthExpired
	default:
		return healthGrace
	}
}

// addressChange returns the change that updates an alive server's raft
// address when its member advertises another one.
func addressChange(s ServerInfo, m MemberInfo, isLeader bool) (Change, bool) {
	if isLeader || m.RaftAddr == "" || m.RaftAddr == s.Address {
		return Change{}, false
	}
	kind := AddNonvoter
	if s.Voter {
		kind = Promote
	}
	return Change{Kind: kind, ID: s.ID, Address: m.RaftAddr,
		Reason: fmt.Sprintf("raft address changed from %s", s.Address)}, true
}

func sortedServers(in []ServerInfo) []ServerInfo {
	out := append([]ServerInfo(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func sortedMembers(in []MemberInfo) []MemberInfo {
	out := append([]MemberInfo(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SameGeneration returns the members of generation gen (all members when
// gen is zero). Voter management ignores the others: a member of a lower
// generation still holds a stale raft configuration and must rejoin (with
// an empty raft state) before it is added; it is never added or promoted
// as it is.
func SameGeneration(members []MemberInfo, gen Generation) []MemberInfo {
	if gen.IsZero() {
		return members
	}
	out := make([]MemberInfo, 0, len(members))
	for _, m := range members {
		if m.Generation == gen {
			out = append(out, m)
		}
	}
	return out
}
