package membership

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func voter(id string) ServerInfo    { return ServerInfo{ID: id, Address: id + ":7001", Voter: true} }
func nonvoter(id string) ServerInfo { return ServerInfo{ID: id, Address: id + ":7001"} }

func alive(id string) MemberInfo {
	return MemberInfo{ID: id, RaftAddr: id + ":7001", Status: StatusAlive, Since: t0.Add(-time.Hour)}
}

func down(id string, status Status, ago time.Duration) MemberInfo {
	return MemberInfo{ID: id, RaftAddr: id + ":7001", Status: status, Since: t0.Add(-ago)}
}

func aliveAll(ids ...string) []MemberInfo {
	out := make([]MemberInfo, 0, len(ids))
	for _, id := range ids {
		out = append(out, alive(id))
	}
	return out
}

// planString renders a plan as "kind:id ..." for compact table entries.
func planString(plan []Change) string {
	parts := make([]string, 0, len(plan))
	for _, c := range plan {
		parts = append(parts, string(c.Kind)+":"+c.ID)
	}
	return strings.Join(parts, " ")
}

func TestPlanVoters(t *testing.T) {
	p := VoterPolicy{MaxVoters: 5, FailedGrace: 10 * time.Second}
	tests := []struct {
		name    string
		servers []ServerInfo
		members []MemberInfo
		leader  string
		policy  VoterPolicy
		want    string
	}{
		{name: "new alive members join as non-voters",
			servers: []ServerInfo{voter("a")}, members: aliveAll("a", "b", "c"),
			want: "add-nonvoter:b add-nonvoter:c"},
		{name: "3 alive -> 3 voters",
			servers: []ServerInfo{voter("a"), nonvoter("b"), nonvoter("c")}, members: aliveAll("a", "b", "c"),
			want: "promote:b promote:c"},
		{name: "3 voters is stable",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c")}, members: aliveAll("a", "b", "c"),
			want: ""},
		{name: "4 alive -> 3 voters + 1 non-voter",
			servers: []ServerInfo{voter("a"), nonvoter("b"), nonvoter("c"), nonvoter("d")}, members: aliveAll("a", "b", "c", "d"),
			want: "promote:b promote:c"},
		{name: "6 alive -> 5 voters + 1 non-voter",
			servers: []ServerInfo{voter("a"), nonvoter("b"), nonvoter("c"), nonvoter("d"), nonvoter("e"), nonvoter("f")},
			members: aliveAll("a", "b", "c", "d", "e", "f"),
			want:    "promote:b promote:c promote:d promote:e"},
		{name: "voter failed past grace is replaced by the non-voter, promotion first",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f")},
			members: append(aliveAll("a", "b", "c", "d", "f"), down("e", StatusFailed, 11*time.Second)),
			want:    "promote:f remove:e"},
		{name: "voter failed within grace is kept and still counts",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f")},
			members: append(aliveAll("a", "b", "c", "d", "f"), down("e", StatusFailed, 9*time.Second)),
			want:    ""},
		{name: "2 alive -> 1 voter (the leader) + 1 non-voter",
			servers: []ServerInfo{voter("a"), nonvoter("b")}, members: aliveAll("a", "b"),
			want: ""},
		{name: "2 voters alive -> demote the one that is not the leader",
			servers: []ServerInfo{voter("a"), voter("b")}, members: aliveAll("a", "b"), leader: "b",
			want: "demote:a"},
		{name: "no demotion when a new member raises the target next round",
			servers: []ServerInfo{voter("a"), voter("b")}, members: aliveAll("a", "b", "c"),
			want: "add-nonvoter:c"},
		{name: "left voter removed at once, non-voter promoted first",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			members: append(aliveAll("a", "b", "d"), down("c", StatusLeft, time.Second)),
			want:    "promote:d remove:c"},
		{name: "left voter with no replacement: remove, then demote to 1 voter",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c")},
			members: append(aliveAll("a", "b"), down("c", StatusLeft, 0)),
			want:    "remove:c demote:b"},
		{name: "failed within grace blocks demotion",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c")},
			members: append(aliveAll("a", "b"), down("c", StatusFailed, time.Second)),
			want:    ""},
		{name: "leaving counts as failed within grace",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			members: append(aliveAll("a", "b", "d"), down("c", StatusLeaving, time.Second)),
			want:    ""},
		{name: "failed non-voter past grace is removed",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			members: append(aliveAll("a", "b", "c"), down("d", StatusFailed, time.Minute)),
			want:    "remove:d"},
		{name: "the leader is never removed or demoted, whatever gossip says",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c")},
			members: append(aliveAll("b", "c"), down("a", StatusLeft, time.Hour)),
			want:    ""},
		{name: "server unknown to gossip counts as failed within grace",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			members: aliveAll("a", "b", "d"),
			want:    ""},
		{name: "failed with unknown since is never removed by PlanVoters",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c")},
			members: append(aliveAll("a", "b"), MemberInfo{ID: "c", Status: StatusFailed}),
			want:    ""},
		{name: "member without raft address is not added",
			servers: []ServerInfo{voter("a")},
			members: append(aliveAll("a"), MemberInfo{ID: "b", Status: StatusAlive}),
			want:    ""},
		{name: "failed member not in the configuration is not added",
			servers: []ServerInfo{voter("a")},
			members: append(aliveAll("a"), down("b", StatusFailed, time.Second)),
			want:    ""},
		{name: "changed raft address is updated keeping the role",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			members: []MemberInfo{alive("a"), {ID: "b", RaftAddr: "b:9", Status: StatusAlive},
				alive("c"), {ID: "d", RaftAddr: "d:9", Status: StatusAlive}},
			want: "promote:b add-nonvoter:d"},
		{name: "MaxVoters 3 with 5 alive",
			servers: []ServerInfo{voter("a"), nonvoter("b"), nonvoter("c"), nonvoter("d"), nonvoter("e")},
			members: aliveAll("a", "b", "c", "d", "e"), policy: VoterPolicy{MaxVoters: 3},
			want: "promote:b promote:c"},
		{name: "too many voters: demote highest IDs, never the leader",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), voter("f"), voter("g")},
			members: aliveAll("a", "b", "c", "d", "e", "f", "g"), leader: "g",
			want: "demote:f demote:e"},
		{name: "two voters past grace, two non-voters: promote both, then remove",
			servers: []ServerInfo{voter("a"), voter("b"), voter("c"), voter("d"), voter("e"), nonvoter("f"), nonvoter("g")},
			members: append(aliveAll("a", "b", "c", "f", "g"), down("d", StatusFailed, time.Minute), down("e", StatusFailed, time.Minute)),
			want:    "promote:f promote:g remove:d remove:e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leader := tc.leader
			if leader == "" {
				leader = "a"
			}
			policy := p
			if tc.policy != (VoterPolicy{}) {
				policy = tc.policy
			}
			plan := PlanVoters(tc.servers, tc.members, leader, t0, policy)
			if got := planString(plan); got != tc.want {
				t.Fatalf("plan = %q, want %q\n%+v", got, tc.want, plan)
			}
			for _, c := range plan {
				if c.Address == "" || c.Reason == "" {
					t.Fatalf("change without address or reason: %+v", c)
				}
			}
		})
	}
}

func TestTargetVoters(t *testing.T) {
	want := map[int]int{0: 1, 1: 1, 2: 1, 3: 3, 4: 3, 5: 5, 6: 5, 7: 5, 100: 5}
	for alive, w := range want {
		if got := TargetVoters(alive, 5); got != w {
			t.Errorf("TargetVoters(%d, 5) = %d, want %d", alive, got, w)
		}
	}
}

func TestPlanVotersDefaultsPolicy(t *testing.T) {
	servers := []ServerInfo{voter("a"), voter("b"), voter("c")}
	members := append(aliveAll("a", "b"), down("c", StatusFailed, 9*time.Second))
	if plan := PlanVoters(servers, members, "a", t0, VoterPolicy{}); len(plan) != 0 {
		t.Fatalf("zero policy should mean 10 s grace, got %v", planString(plan))
	}
	members[2].Since = t0.Add(-11 * time.Second)
	if got := planString(PlanVoters(servers, members, "a", t0, VoterPolicy{})); got != "remove:c demote:b" {
		t.Fatalf("plan = %q", got)
	}
}

// applyChange is what raft does with one change.
func applyChange(servers []ServerInfo, c Change) []ServerInfo {
	out := append([]ServerInfo(nil), servers...)
	for i, s := range out {
		if s.ID != c.ID {
			continue
		}
		switch c.Kind {
		case AddNonvoter:
			out[i].Address = c.Address
		case Promote:
			out[i].Voter, out[i].Address = true, c.Address
		case Demote:
			out[i].Voter = false
		case Remove:
			return append(out[:i], out[i+1:]...)
		}
		return out
	}
	if c.Kind == AddNonvoter || c.Kind == Promote {
		out = append(out, ServerInfo{ID: c.ID, Address: c.Address, Voter: c.Kind == Promote})
	}
	return out
}

// quorumOK reports whether the alive voters form a quorum of all voters.
func quorumOK(servers []ServerInfo, isAlive map[string]bool) bool {
	voters, up := 0, 0
	for _, s := range servers {
		if s.Voter {
			voters++
			if isAlive[s.ID] {
				up++
			}
		}
	}
	return up >= voters/2+1
}

// TestPlanVotersConverges replays random clusters through PlanVoters until
// the plan is empty, checking after every single change that the leader
// stays a voter and that a quorum that existed is never lost, and at the
// end that the voter set has its target size.
func TestPlanVotersConverges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := VoterPolicy{MaxVoters: 5, FailedGrace: 10 * time.Second}
	for iter := range 2000 {
		servers, members, isAlive := randomCluster(rng)
		start := fmt.Sprint(servers, members)
		hadQuorum := quorumOK(servers, isAlive)
		rounds := 0
		for ; rounds < 5; rounds++ {
			plan := PlanVoters(servers, members, "n0", t0, p)
			if len(plan) == 0 {
				break
			}
			for _, c := range plan {
				if c.ID == "n0" {
					t.Fatalf("iter %d: plan touches the leader: %+v\nstart %s", iter, c, start)
				}
				servers = applyChange(servers, c)
				if hadQuorum && !quorumOK(servers, isAlive) {
					t.Fatalf("iter %d: quorum lost after %+v\nnow %v\nstart %s", iter, c, servers, start)
				}
			}
		}
		if rounds == 5 {
			t.Fatalf("iter %d: no convergence in 5 rounds\nstart %s\nend %v", iter, start, servers)
		}
		checkConverged(t, iter, servers, members, isAlive, start)
	}
}

func checkConverged(t *testing.T, iter int, servers []ServerInfo, members []MemberInfo, isAlive map[string]bool, start string) {
	t.Helper()
	inConfig := map[string]bool{}
	voters, aliveServers, graceFailed := 0, 0, false
	for _, s := range servers {
		inConfig[s.ID] = true
		if isAlive[s.ID] {
			aliveServers++
		} else {
			graceFailed = true // anything left that is not alive is within grace
		}
		if s.Voter {
			voters++
		}
	}
	for _, m := range members {
		if m.Status == StatusAlive && !inConfig[m.ID] {
			t.Fatalf("iter %d: alive %s not added\nstart %s", iter, m.ID, start)
		}
	}
	target := TargetVoters(aliveServers, 5)
	if voters < target || (!graceFailed && voters != target) {
		t.Fatalf("iter %d: %d voters, target %d (grace failures %v): %v\nstart %s", iter, voters, target, graceFailed, servers, start)
	}
}

// randomCluster makes a configuration of up to 9 servers (n0 is the leader
// and a voter) and members, some failed (within or past grace), some left,
// some not yet in the configuration.
func randomCluster(rng *rand.Rand) ([]ServerInfo, []MemberInfo, map[string]bool) {
	n := 1 + rng.IntN(9)
	var servers []ServerInfo
	var members []MemberInfo
	isAlive := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("n%d", i)
		inConfig, isVoter := i == 0 || rng.IntN(4) > 0, i == 0 || rng.IntN(2) == 0
		m := alive(id)
		if i > 0 {
			switch rng.IntN(6) {
			case 0:
				m = down(id, StatusFailed, 5*time.Second)
			case 1:
				m = down(id, StatusFailed, time.Minute)
			case 2:
				m = down(id, StatusLeft, time.Second)
			}
		}
		isAlive[id] = m.Status == StatusAlive
		members = append(members, m)
		if inConfig {
			s := nonvoter(id)
			s.Voter = isVoter
			servers = append(servers, s)
		}
	}
	return servers, members, isAlive
}

func TestPlanVotersIsPure(t *testing.T) {
	servers := []ServerInfo{voter("c"), voter("a"), nonvoter("b")}
	members := aliveAll("c", "b", "a")
	s0 := append([]ServerInfo(nil), servers...)
	m0 := append([]MemberInfo(nil), members...)
	p1 := PlanVoters(servers, members, "a", t0, VoterPolicy{})
	p2 := PlanVoters(servers, members, "a", t0, VoterPolicy{})
	if !reflect.DeepEqual(p1, p2) || !reflect.DeepEqual(servers, s0) || !reflect.DeepEqual(members, m0) {
		t.Fatal("PlanVoters changed its inputs or is not deterministic")
	}
}

// TestPlanIgnoresOtherGenerations: a stale member (lower generation) alive
// in gossip is neither added nor promoted; once it rejoined at the
// leader's generation it is added.
func TestPlanIgnoresOtherGenerations(t *testing.T) {
	now := time.Now()
	g2 := RecoveryGeneration(InitialGeneration, []string{"a"})
	servers := []ServerInfo{{ID: "a", Address: "a:1", Voter: true}}
	members := []MemberInfo{
		{ID: "a", RaftAddr: "a:1", Status: StatusAlive, Generation: g2},
		{ID: "b", RaftAddr: "b:1", Status: StatusAlive, Generation: InitialGeneration},
	}
	p := VoterPolicy{Generation: g2}
	if plan := PlanVoters(servers, SameGeneration(members, g2), "a", now, p); len(plan) != 0 {
		t.Fatalf("plan with a stale member = %v, want nothing", plan)
	}
	members[1].Generation = g2
	plan := PlanVoters(servers, SameGeneration(members, g2), "a", now, p)
	if len(plan) != 1 || plan[0].Kind != AddNonvoter || plan[0].ID != "b" {
		t.Fatalf("plan after b rejoined = %v, want b added as a non-voter", plan)
	}
	if got := SameGeneration(members, Generation{}); len(got) != 2 {
		t.Fatalf("SameGeneration with no generation kept %d members, want all", len(got))
	}
}
