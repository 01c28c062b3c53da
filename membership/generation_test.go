package membership

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestGenerationCompareStringParse(t *testing.T) {
	g1, g2a, g2b, g3 := InitialGeneration, Generation{2, "0a"}, Generation{2, "ff"}, Generation{3, ""}
	order := []Generation{g1, g2a, g2b, g3}
	for i, a := range order {
		for j, b := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%s.Compare(%s) = %d, want %d", a, b, got, want)
			}
		}
		back, err := ParseGeneration(a.String())
		if err != nil || back != a {
			t.Errorf("ParseGeneration(%q) = %v, %v; want %v", a.String(), back, err, a)
		}
	}
	if g, err := ParseGeneration(""); err != nil || g != InitialGeneration {
		t.Errorf(`ParseGeneration("") = %v, %v; want the initial generation (old data dirs)`, g, err)
	}
	for _, bad := range []string{"0", "x", "-1", "1-a-b", "2-a b", "1.5"} {
		if _, err := ParseGeneration(bad); err == nil {
			t.Errorf("ParseGeneration(%q) succeeded", bad)
		}
	}
}

func TestRecoveryGeneration(t *testing.T) {
	a := RecoveryGeneration(InitialGeneration, []string{"n1", "n2"})
	b := RecoveryGeneration(InitialGeneration, []string{"n2", "n1", "n2"})
	if a != b {
		t.Errorf("same survivors in another order give %s and %s, want one generation", a, b)
	}
	if a.Epoch != 2 || len(a.ID) != 8 {
		t.Errorf("recovery of generation 1 = %s, want epoch 2 and an 8-hex-digit ID", a)
	}
	alone1 := RecoveryGeneration(InitialGeneration, []string{"n1"})
	alone2 := RecoveryGeneration(InitialGeneration, []string{"n2"})
	if alone1 == alone2 || alone1.Compare(alone2) == 0 {
		t.Errorf("independent recoveries n1 alone and n2 alone both give %s: they must differ and one must win", alone1)
	}
	if got := RecoveryGeneration(a, []string{"n1"}); got.Epoch != 3 {
		t.Errorf("recovery of %s = %s, want epoch 3", a, got)
	}
	if got := RecoveryGeneration(Generation{}, []string{"n1"}); got.Epoch != 2 {
		t.Errorf("recovery of an unset generation = %s, want epoch 2 (unset = 1)", got)
	}
}

func TestDecideGeneration(t *testing.T) {
	g1, g2, g2x, g3 := InitialGeneration, Generation{2, "aa"}, Generation{2, "bb"}, Generation{3, "cc"}
	for _, c := range []struct {
		name     string
		own      Generation
		seen     []Generation
		joined   bool
		want     GenAction
		wantHigh Generation
	}{
		{"restart, join not returned yet", g1, nil, false, GenWait, g1},
		{"restart, nobody reachable", g1, nil, true, GenOpen, g1},
		{"old voter meets old voter", g1, []Generation{g1}, true, GenOpen, g1},
		{"old voter meets the recovered node", g1, []Generation{g1, g2}, true, GenRejoin, g2},
		{"old voter learns from a refused handshake before its join returned", g1, []Generation{g2}, false, GenRejoin, g2},
		{"recovered node meets the old voters", g2, []Generation{g1, g1}, true, GenOpen, g2},
		{"two independent recoveries, lower ID", g2, []Generation{g2x}, true, GenRejoin, g2x},
		{"two independent recoveries, higher ID", g2x, []Generation{g2}, true, GenOpen, g2x},
		{"recovered twice: highest wins", g1, []Generation{g2, g3, g2x}, true, GenRejoin, g3},
		{"survivors recovered together", g2, []Generation{g2}, true, GenOpen, g2},
	} {
		got, high := DecideGeneration(c.own, c.seen, c.joined)
		if got != c.want || high != c.wantHigh {
			t.Errorf("%s: DecideGeneration(%s, %v, %v) = %s %s, want %s %s", c.name, c.own, c.seen, c.joined, got, high, c.want, c.wantHigh)
		}
	}
}

func TestJudgeHandshake(t *testing.T) {
	g1, g2 := InitialGeneration, Generation{2, "aa"}
	for _, c := range []struct {
		name          string
		own           Generation
		open          bool
		peerCluster   string
		peer          Generation
		want          HandshakeVerdict
		wantTellsPeer bool // the refusal carries a higher generation to the dialer
	}{
		{"same generation, open", g2, true, "c", g2, VerdictOK, false},
		{"same generation, gate closed", g1, false, "c", g1, VerdictClosed, false},
		{"stale dialer", g2, true, "c", g1, VerdictLower, true},
		{"stale dialer, acceptor still gated", g2, false, "c", g1, VerdictLower, true},
		{"stale acceptor", g1, true, "c", g2, VerdictHigher, false},
		{"another cluster", g1, true, "other", g1, VerdictOtherCluster, false},
	} {
		if got := JudgeHandshake("c", c.own, c.open, c.peerCluster, c.peer); got != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, got, c.want)
		}
	}
}

// genModel is a pure model of three agents after n1 was recovered alone:
// n1 holds generation 2 and a configuration with only itself as voter; n2
// and n3 hold generation 1 and the old 3-voter configuration. It applies
// DecideGeneration the way the agent does: at start (gate) and whenever
// gossip connects agents.
type genModel struct {
	up, rejoined map[string]bool
	gen          map[string]Generation
	side         map[string]int // partition side; equal sides reach each other
}

func newGenModel(g2 Generation) *genModel {
	return &genModel{up: map[string]bool{}, rejoined: map[string]bool{},
		gen:  map[string]Generation{"n1": g2, "n2": InitialGeneration, "n3": InitialGeneration},
		side: map[string]int{"n1": 0, "n2": 0, "n3": 0}}
}

var modelNodes = []string{"n1", "n2", "n3"}

func (m *genModel) reach(a, b string) bool {
	return a != b && m.up[a] && m.up[b] && m.side[a] == m.side[b]
}

// converge lets gossip spread inside every partition side until no agent
// changes: each agent decides on the generations of those it reaches.
func (m *genModel) converge() {
	for changed := true; changed; {
		changed = false
		for _, n := range modelNodes {
			if !m.up[n] {
				continue
			}
			var seen []Generation
			for _, o := range modelNodes {
				if m.reach(n, o) {
					seen = append(seen, m.gen[o])
				}
			}
			if act, high := DecideGeneration(m.gen[n], seen, true); act == GenRejoin {
				m.gen[n], m.rejoined[n], changed = high, true, true
			}
		}
	}
}

func (m *genModel) apply(ev string) {
	switch f := strings.Fields(ev); f[0] {
	case "up":
		m.up[f[1]] = true
	case "down":
		m.up[f[1]] = false
	case "split": // f[1] is cut off from the others
		for _, n := range modelNodes {
			m.side[n] = 0
		}
		m.side[f[1]] = 1
	case "heal":
		for _, n := range modelNodes {
			m.side[n] = 0
		}
	}
	m.converge()
}

// leaders lists, per partition side, the generations in which a leader can
// be elected: generation 2 by n1 alone (its configuration's only voter) or
// by an agent that rejoined it once promoted (never alone: it needs n1);
// generation 1 by two of the old voters still at generation 1 (n1 left
// that configuration by recovering), reaching each other.
func (m *genModel) leaders(side int) []string {
	var out []string
	if m.up["n1"] && m.side["n1"] == side {
		out = append(out, "gen2 by n1")
	}
	var old []string
	for _, n := range []string{"n2", "n3"} {
		if m.up[n] && m.side[n] == side && m.gen[n] == InitialGeneration {
			old = append(old, n)
		}
	}
	if len(old) == 2 && m.reach(old[0], old[1]) {
		out = append(out, "gen1 by "+strings.Join(old, "+"))
	}
	return out
}

// TestGenerationOrderings runs every ordering of the old voters' returns,
// n1's restart, a partition isolating each agent and its heal, and checks
// after every step that no partition side can elect two leaders, and at
// the end (all up, healed) that everyone is at generation 2.
func TestGenerationOrderings(t *testing.T) {
	g2 := RecoveryGeneration(InitialGeneration, []string{"n1"})
	base := []string{"up n1", "up n2", "up n3", "down n1", "up n1"}
	runs := 0
	for _, cut := range modelNodes {
		events := append(slices.Clone(base), "split "+cut, "heal")
		permute(events, func(seq []string) {
			if !validOrder(seq) {
				return
			}
			runs++
			m := newGenModel(g2)
			for i, ev := range seq {
				m.apply(ev)
				for side := 0; side <= 1; side++ {
					if ls := m.leaders(side); len(ls) > 1 {
						t.Fatalf("%v: after step %d (%s) side %d can elect %v", seq, i, ev, side, ls)
					}
				}
			}
			for _, n := range modelNodes {
				if m.gen[n] != g2 {
					t.Fatalf("%v: %s ends at generation %s, want %s", seq, n, m.gen[n], g2)
				}
			}
			for _, n := range []string{"n2", "n3"} {
				if !m.rejoined[n] {
					t.Fatalf("%v: %s never rejoined", seq, n)
				}
			}
		})
	}
	if runs < 100 {
		t.Fatalf("only %d orderings ran", runs)
	}
	t.Logf("%d orderings", runs)
}

// validOrder: n1 goes down after it came up and comes back after that; the
// heal follows the split; the run ends healed with everyone up.
func validOrder(seq []string) bool {
	idx := func(ev string) int {
		for i, e := range seq {
			if e == ev || (strings.HasPrefix(ev, "split") && strings.HasPrefix(e, "split")) {
				return i
			}
		}
		return -1
	}
	first := slices.Index(seq, "up n1")
	last := slices.Index(seq[first+1:], "up n1") + first + 1
	down := idx("down n1")
	return first < down && down < last && idx("split") < idx("heal")
}

// permute calls f with every permutation of s (Heap's algorithm); equal
// events give repeated sequences, which is harmless.
func permute(s []string, f func([]string)) {
	var gen func(k int)
	gen = func(k int) {
		if k == 1 {
			f(s)
			return
		}
		for i := 0; i < k; i++ {
			gen(k - 1)
			if k%2 == 0 {
				s[i], s[k-1] = s[k-1], s[i]
			} else {
				s[0], s[k-1] = s[k-1], s[0]
			}
		}
	}
	gen(len(s))
}

func TestGenGuard(t *testing.T) {
	g1, g2, g3 := InitialGeneration, Generation{2, "aa"}, Generation{3, "bb"}
	var calls []string
	g := NewGenGuard("c", g1, func(h Generation) { calls = append(calls, h.String()) })
	opened := 0
	g.whenOpen(func() { opened++ })
	if g.IsOpen() || opened != 0 {
		t.Fatal("a new guard is open")
	}
	if g.Observe(g1) {
		t.Fatal("an equal generation made the guard stale")
	}
	if !g.Open() || !g.IsOpen() || opened != 1 {
		t.Fatalf("Open: open %v, whenOpen ran %d times", g.IsOpen(), opened)
	}
	g.whenOpen(func() { opened++ })
	if opened != 2 {
		t.Fatal("whenOpen on an open guard did not run at once")
	}
	if !g.Observe(g2) || g.IsOpen() {
		t.Fatal("a higher generation left the guard open")
	}
	g.Observe(g3)
	g.Observe(g2)
	if fmt.Sprint(calls) != "[2-aa]" {
		t.Fatalf("onStale calls = %v, want exactly one, with the first higher generation", calls)
	}
	if high, stale := g.Stale(); !stale || high != g3 {
		t.Fatalf("Stale() = %s %v, want %s true", high, stale, g3)
	}
	if g.Open() {
		t.Fatal("a stale guard opened again")
	}
	members := []Member{
		{ID: "self", Status: StatusAlive, Tags: map[string]string{TagGen: "9"}},
		{ID: "dead", Status: StatusFailed, Tags: map[string]string{TagGen: "9"}},
		{ID: "old", Status: StatusAlive},
	}
	if NewGenGuard("c", g1, nil).ObserveMembers("self", members) {
		t.Fatal("self's own tag or a failed member's made the guard stale")
	}
	members = append(members, Member{ID: "new", Status: StatusAlive, Tags: map[string]string{TagGen: g2.String()}})
	if !NewGenGuard("c", g1, nil).ObserveMembers("self", members) {
		t.Fatal("an alive member at a higher generation did not make the guard stale")
	}
}
