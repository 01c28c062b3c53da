package membership

import (
	"maps"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Status is a member's state as serf reports it. serf does not expose
// memberlist's "suspect" state, so there is no StatusSuspect: a suspected
// member stays alive until it is declared failed.
type Status string

const (
	StatusAlive Status = "alive"
	// StatusLeaving is a member that announced a graceful leave that has not
	// finished spreading yet; it becomes StatusLeft.
	StatusLeaving Status = "leaving"
	StatusFailed  Status = "failed"
	StatusLeft    Status = "left"
)

// Member is one agent as seen through gossip.
type Member struct {
	// ID is the serf member name (Config.NodeID).
	ID string
	// Name is the agent's hostname (tag "name").
	Name string
	// Addr and Port are the advertised gossip address.
	Addr string
	Port int
	// Tags is a copy of the member's tags, including "name".
	Tags   map[string]string
	Status Status
}

// EventKind says what happened to a member.
type EventKind string

const (
	EventJoin   EventKind = "join"
	EventUpdate EventKind = "update"
	EventFailed EventKind = "failed"
	EventLeft   EventKind = "left"
	// EventReap is a failed or left member forgotten after ReconnectTimeout
	// or TombstoneTimeout.
	EventReap EventKind = "reap"
)

// Event is one membership change. At is when this agent learnt of it.
type Event struct {
	Kind   EventKind
	Member Member
	At     time.Time
}

// MemberInfo is what voter management needs to know about a member: its raft
// address and how long it has been in its current status.
type MemberInfo struct {
	ID       string
	RaftAddr string
	Status   Status
	// Since is when Status last changed, as seen by this agent; zero means
	// unknown.
	Since time.Time
	// Generation is the member's recovery generation (tag "gen"; a missing
	// tag is InitialGeneration, a malformed one zero).
	Generation Generation
}

func fromSerfStatus(s serf.MemberStatus) Status {
	switch s {
	case serf.StatusAlive:
		return StatusAlive
	case serf.StatusLeaving:
		return StatusLeaving
	case serf.StatusLeft:
		return StatusLeft
	default: // StatusFailed, and StatusNone which serf never reports for a known member
		return StatusFailed
	}
}

func fromSerf(s serf.Member) Member {
	return Member{
		ID:     s.Name,
		Name:   s.Tags[TagName],
		Addr:   s.Addr.String(),
		Port:   int(s.Port),
		Tags:   maps.Clone(s.Tags),
		Status: fromSerfStatus(s.Status),
	}
}

var eventKinds = map[serf.EventType]EventKind{
	serf.EventMemberJoin:   EventJoin,
	serf.EventMemberUpdate: EventUpdate,
	serf.EventMemberFailed: EventFailed,
	serf.EventMemberLeave:  EventLeft,
	serf.EventMemberReap:   EventReap,
}

// forwardEvents drains serf's event channel until Shutdown, so serf never
// blocks on it, records status changes and forwards one Event per member
// without blocking.
func (m *Membership) forwardEvents() {
	defer m.wg.Done()
	congested := false
	for {
		var ev serf.Event
		select {
		case ev = <-m.serfCh:
		case <-m.done:
			return
		}
		me, ok := ev.(serf.MemberEvent)
		if !ok {
			continue // user events and queries are not used
		}
		kind, ok := eventKinds[me.Type]
		if !ok {
			continue
		}
		now := time.Now()
		for _, sm := range me.Members {
			mem := fromSerf(sm)
			m.tracker.observe(mem.ID, mem.Status, kind == EventReap, now)
			select {
			case m.out <- Event{Kind: kind, Member: mem, At: now}:
				congested = false
			default:
				m.dropped.Add(1)
				if !congested {
					m.log.Warn("membership events consumer is too slow; dropping events", "dropped_total", m.dropped.Load())
					congested = true
				}
			}
		}
	}
}

// MemberInfos returns the voter-management view of every member: raft
// address from the member's address and its "raft" tag (a port, or a full
// host:port; "" when the tag is missing), and when its status last changed.
func (m *Membership) MemberInfos() []MemberInfo {
	members := m.Members()
	now := time.Now()
	out := make([]MemberInfo, 0, len(members))
	for _, mem := range members {
		since := m.tracker.observe(mem.ID, mem.Status, false, now)
		gen, _ := ParseGeneration(mem.Tags[TagGen])
		out = append(out, MemberInfo{ID: mem.ID, RaftAddr: raftAddr(mem), Status: mem.Status, Since: since, Generation: gen})
	}
	return out
}

func raftAddr(mem Member) string {
	tag := mem.Tags[TagRaft]
	switch {
	case tag == "":
		return ""
	case strings.Contains(tag, ":"):
		return tag
	default:
		return net.JoinHostPort(mem.Addr, tag)
	}
}

// statusTracker remembers since when each member has had its status. It is
// fed by events and by polls of the member list, so a dropped event only
// delays the timestamp to the next poll.
type statusTracker struct {
	mu   sync.Mutex
	seen map[string]trackedStatus
}

type trackedStatus struct {
	status Status
	since  time.Time
}

func (t *statusTracker) init() { t.seen = make(map[string]trackedStatus) }

// observe records that id has status at now (forgetting it if reaped) and
// returns since when it has had that status.
func (t *statusTracker) observe(id string, status Status, reaped bool, now time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if reaped {
		delete(t.seen, id)
		return now
	}
	cur, ok := t.seen[id]
	if !ok || cur.status != status {
		cur = trackedStatus{status: status, since: now}
		t.seen[id] = cur
	}
	return cur.since
}
