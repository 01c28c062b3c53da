package membership

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// memberTable is the gossip view the test controls.
type memberTable struct {
	mu sync.Mutex
	m  map[string]MemberInfo
}

func (t *memberTable) set(mi MemberInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[mi.ID] = mi
}

func (t *memberTable) list() []MemberInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]MemberInfo, 0, len(t.m))
	for _, mi := range t.m {
		out = append(out, mi)
	}
	return out
}

// configSummary describes the configuration held by the current leader
// among live, e.g. "voters=[n1 n2 n3] nonvoters=[n4]"; "" if no leader.
func configSummary(live []*memNode) (leader string, summary string) {
	for _, n := range live {
		if n.r.State() != raft.Leader {
			continue
		}
		cf := n.r.GetConfiguration()
		if cf.Error() != nil {
			return "", ""
		}
		var voters, nonvoters []string
		for _, s := range cf.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				voters = append(voters, string(s.ID))
			} else {
				nonvoters = append(nonvoters, string(s.ID))
			}
		}
		sort.Strings(voters)
		sort.Strings(nonvoters)
		return n.id, fmt.Sprintf("voters=%v nonvoters=%v", voters, nonvoters)
	}
	return "", ""
}

// countRoles returns the current leader among live and the number of
// voters, servers and the server IDs of its configuration.
func countRoles(live []*memNode) (leader string, voters, servers int, ids map[string]bool) {
	for _, n := range live {
		if n.r.State() != raft.Leader {
			continue
		}
		cf := n.r.GetConfiguration()
		if cf.Error() != nil {
			return "", 0, 0, nil
		}
		ids = map[string]bool{}
		for _, s := range cf.Configuration().Servers {
			ids[string(s.ID)] = true
			if s.Suffrage == raft.Voter {
				voters++
			}
		}
		return n.id, voters, len(ids), ids
	}
	return "", 0, 0, nil
}

func without(nodes []*memNode, gone *memNode) []*memNode {
	var out []*memNode
	for _, n := range nodes {
		if n != gone {
			out = append(out, n)
		}
	}
	return out
}

func TestAutopilotKeepsFiveVoters(t *testing.T) {
	var nodes []*memNode
	table := &memberTable{m: map[string]MemberInfo{}}
	for i := 1; i <= 6; i++ {
		n := startMemNode(t, fmt.Sprintf("n%d", i), t.TempDir())
		nodes = append(nodes, n)
		table.set(MemberInfo{ID: n.id, RaftAddr: n.addr, Status: StatusAlive, Since: time.Now()})
	}
	connectAll(nodes)
	if err := BootstrapSingle(nodes[0].r, nodes[0].id, nodes[0].addr); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	policy := VoterPolicy{MaxVoters: 5, FailedGrace: time.Second}
	for _, n := range nodes {
		ap := NewAutopilot(n.r, table.list, policy, testLogger())
		wg.Add(1)
		go func() { defer wg.Done(); ap.Run(ctx, nil) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() }) // runs before the nodes shut down

	live := nodes
	waitFor(t, raftWait, "6 servers with 5 voters", func() bool {
		_, v, s, _ := countRoles(live)
		return v == 5 && s == 6
	})
	leaderID, summary := configSummary(live)
	t.Logf("converged: leader %s, %s", leaderID, summary)

	// Every agent, voter or not, holds a full replica.
	leader := waitLeader(t, raftNodes(live)...)
	applyAll(t, leader, "x")
	for _, n := range live {
		waitFor(t, raftWait, n.id+" replica", func() bool { return len(n.fsm.commands()) == 1 })
	}

	// A voter (not the leader) dies: after the grace it is replaced by the
	// non-voter.
	victim := pickVoter(t, live, leader.id)
	kill(t, victim, nodes, table)
	live = without(live, victim)
	waitFor(t, raftWait, "5 voters without "+victim.id, func() bool {
		_, v, s, ids := countRoles(live)
		return v == 5 && s == 5 && !ids[victim.id]
	})

	// The leader dies: a new leader is elected and its autopilot removes the
	// old one; 4 alive agents keep 3 voters + 1 non-voter.
	oldLeader := memNodeOf(live, leader.id)
	kill(t, oldLeader, nodes, table)
	live = without(live, oldLeader)
	waitFor(t, raftWait, "3 voters + 1 non-voter without "+oldLeader.id, func() bool {
		l, v, s, ids := countRoles(live)
		return l != "" && v == 3 && s == 4 && !ids[oldLeader.id]
	})
	leaderID, summary = configSummary(live)
	t.Logf("after two failures: leader %s, %s", leaderID, summary)
}

func raftNodes(ms []*memNode) []*raftNode {
	out := make([]*raftNode, len(ms))
	for i, m := range ms {
		out[i] = m.raftNode
	}
	return out
}

func memNodeOf(ms []*memNode, id string) *memNode {
	for _, m := range ms {
		if m.id == id {
			return m
		}
	}
	return nil
}

// pickVoter returns a voter of the leader's configuration other than the
// leader.
func pickVoter(t *testing.T, live []*memNode, leaderID string) *memNode {
	t.Helper()
	leader := memNodeOf(live, leaderID)
	cf := leader.r.GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != leaderID {
			return memNodeOf(live, string(s.ID))
		}
	}
	t.Fatal("no voter besides the leader")
	return nil
}

// kill stops n's raft, cuts it off and marks its member failed, as gossip
// would.
func kill(t *testing.T, n *memNode, all []*memNode, table *memberTable) {
	t.Helper()
	n.stop(t)
	isolate(n, all)
	table.set(MemberInfo{ID: n.id, RaftAddr: n.addr, Status: StatusFailed, Since: time.Now()})
}

func TestAutopilotFillUnknown(t *testing.T) {
	a := NewAutopilot(nil, nil, VoterPolicy{}, testLogger())
	now := time.Now()
	servers := []ServerInfo{voter("a"), voter("b"), voter("c")}
	members := []MemberInfo{alive("a"), {ID: "b", Status: StatusFailed}}
	got := a.fillUnknown(servers, members, now)
	if len(got) != 3 || got[1].Since != now || got[2].ID != "c" || got[2].Status != StatusFailed || got[2].Since != now {
		t.Fatalf("first round: %+v", got)
	}
	// Later rounds keep the first time; a member that reappears is forgotten.
	later := now.Add(5 * time.Second)
	got = a.fillUnknown(servers, []MemberInfo{alive("a"), {ID: "b", Status: StatusFailed}, alive("c")}, later)
	if got[1].Since != now || len(a.firstBad) != 1 {
		t.Fatalf("second round: %+v, firstBad %v", got, a.firstBad)
	}
}
