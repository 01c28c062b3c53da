package overlay

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var (
	ulA = netip.MustParseAddr("10.78.0.1")
	ulB = netip.MustParseAddr("10.78.0.2")
	ulC = netip.MustParseAddr("10.78.0.3")
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func peer(id string, ul netip.Addr, subnet string) Peer {
	return Peer{NodeID: id, Underlay: ul, Subnet: pfx(subnet)}
}

func desired(nets ...Network) Desired {
	return Desired{Underlay: ulA, UnderlayDev: "eth0", Networks: nets}
}

var macToken = regexp.MustCompile(`<mac ([0-9.]+) ([0-9]+)>`)

// expand replaces "<mac IP VNI>" with VTEPMAC(IP, VNI) and trims each line,
// so wanted states read like `ip` output.
func expand(s string) string {
	s = macToken.ReplaceAllStringFunc(s, func(m string) string {
		sub := macToken.FindStringSubmatch(m)
		vni, _ := strconv.Atoi(sub[2])
		return VTEPMAC(netip.MustParseAddr(sub[1]), uint32(vni)).String()
	})
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

const front42 = `
addr shoalbr42 10.10.1.1/24
addr shoalvx42 10.10.1.0/32
link shoalbr42 bridge mtu=1450 up forwarding
link shoalvx42 vxlan mtu=1450 vni=42 local=10.78.0.1 port=4789 dev=eth0 mac=<mac 10.78.0.1 42> nolearning up forwarding
route table=100000042 10.10.1.0/24 dev shoalbr42 src 10.10.1.1
route table=100000042 unreachable 0.0.0.0/0
rule 9000 iif shoalbr42 table 100000042
rule 9000 iif shoalvx42 table 100000042
`

const peerB42 = `
fdb shoalvx42 <mac 10.78.0.2 42> dst 10.78.0.2
neigh shoalvx42 10.10.2.0 lladdr <mac 10.78.0.2 42>
route table=100000042 10.10.2.0/24 via 10.10.2.0 dev shoalvx42 onlink
route table=main 10.10.2.0/24 via 10.10.2.0 dev shoalvx42 onlink
`

const peerC42 = `
fdb shoalvx42 <mac 10.78.0.3 42> dst 10.78.0.3
neigh shoalvx42 10.10.3.0 lladdr <mac 10.78.0.3 42>
route table=100000042 10.10.3.0/24 via 10.10.3.0 dev shoalvx42 onlink
route table=main 10.10.3.0/24 via 10.10.3.0 dev shoalvx42 onlink
`

const back43 = `
addr shoalbr43 10.20.1.1/24
addr shoalvx43 10.20.1.0/32
link shoalbr43 bridge mtu=1450 up forwarding
link shoalvx43 vxlan mtu=1450 vni=43 local=10.78.0.1 port=4789 dev=eth0 mac=<mac 10.78.0.1 43> nolearning up forwarding
route table=100000043 10.20.1.0/24 dev shoalbr43 src 10.20.1.1
route table=100000043 unreachable 0.0.0.0/0
rule 9000 iif shoalbr43 table 100000043
rule 9000 iif shoalvx43 table 100000043
fdb shoalvx43 <mac 10.78.0.2 43> dst 10.78.0.2
neigh shoalvx43 10.20.2.0 lladdr <mac 10.78.0.2 43>
route table=100000043 10.20.2.0/24 via 10.20.2.0 dev shoalvx43 onlink
route table=main 10.20.2.0/24 via 10.20.2.0 dev shoalvx43 onlink
`

type applyCase struct {
	name string
	d    Desired
	want string // expanded, sorted lines
}

func front(peers ...Peer) Network {
	return Network{Name: "front", VNI: 42, Subnet: pfx("10.10.1.0/24"), Peers: peers}
}

func back() Network {
	return Network{Name: "back", VNI: 43, Subnet: pfx("10.20.1.0/24"), CIDR: pfx("10.20.0.0/16"),
		Peers: []Peer{peer("b", ulB, "10.20.2.0/24")}}
}

func applyCases() []applyCase {
	cs := []applyCase{
		{"empty", desired(), ""},
		{"front alone", desired(front()), front42},
		{"front with b", desired(front(peer("b", ulB, "10.10.2.0/24"))), front42 + peerB42},
		{"front with b and c", desired(front(peer("b", ulB, "10.10.2.0/24"), peer("c", ulC, "10.10.3.0/24"))),
			front42 + peerB42 + peerC42},
		{"front with c", desired(front(peer("c", ulC, "10.10.3.0/24"))), front42 + peerC42},
		{"front and back", desired(front(peer("b", ulB, "10.10.2.0/24")), back()), front42 + peerB42 + back43},
		{"back alone", desired(back()), back43},
		{"b moved to another subnet", desired(front(peer("b", ulB, "10.10.7.0/24"))),
			front42 + strings.ReplaceAll(peerB42, "10.10.2.", "10.10.7.")},
		{"own subnet changed", desired(Network{Name: "front", VNI: 42, Subnet: pfx("10.10.9.0/24"),
			Peers: []Peer{peer("b", ulB, "10.10.2.0/24")}}),
			strings.ReplaceAll(front42, "10.10.1.", "10.10.9.") + peerB42},
		{"jumbo underlay eth1", Desired{Underlay: ulA, UnderlayDev: "eth1", Networks: []Network{front()}},
			strings.NewReplacer("mtu=1450", "mtu=8950", "dev=eth0", "dev=eth1").Replace(front42)},
	}
	for i := range cs {
		cs[i].want = sortedLines(expand(cs[i].want))
	}
	return cs
}

func sortedLines(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// applyAndCheck applies c and checks the fake's state, then checks that a
// second Apply changes nothing.
func applyAndCheck(t *testing.T, m *Manager, f *fakeKernel, c applyCase, from string) {
	t.Helper()
	if err := m.Apply(context.Background(), c.d); err != nil {
		t.Fatalf("%s -> %s: Apply: %v", from, c.name, err)
	}
	if got := f.text(); got != c.want {
		t.Fatalf("%s -> %s: state\n%s\nwant\n%s\nops:\n%s", from, c.name, got, c.want, strings.Join(f.log, "\n"))
	}
	before := f.calls
	if err := m.Apply(context.Background(), c.d); err != nil {
		t.Fatalf("%s -> %s: second Apply: %v", from, c.name, err)
	}
	if f.calls != before {
		t.Fatalf("%s -> %s: second Apply made %d kernel changes: %v", from, c.name, f.calls-before, f.log[before:])
	}
}

// TestApplyEveryTransition applies every case after every other case, on a
// fresh fake each time, so each transition is checked in isolation.
func TestApplyEveryTransition(t *testing.T) {
	cs := applyCases()
	for _, from := range cs {
		for _, to := range cs {
			f := newFakeKernel()
			m := NewManager(f, quiet)
			applyAndCheck(t, m, f, from, "start")
			applyAndCheck(t, m, f, to, from.name)
		}
	}
}

// TestApplyRandomOrder replays the cases in random orders on one fake, as
// tailscale does, to show that no transition leaves debris for a later one.
func TestApplyRandomOrder(t *testing.T) {
	cs := applyCases()
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 1))
		f := newFakeKernel()
		m := NewManager(f, quiet)
		prev := "start"
		for _, i := range r.Perm(len(cs)) {
			applyAndCheck(t, m, f, cs[i], prev)
			prev = cs[i].name
		}
	}
}

// TestApplyAdoptsAfterRestart shows that a new Manager over a kernel that
// already has the desired state changes nothing (no flapping on restart).
func TestApplyAdoptsAfterRestart(t *testing.T) {
	c := applyCases()[5]
	f := newFakeKernel()
	applyAndCheck(t, NewManager(f, quiet), f, c, "start")
	before := f.calls
	if err := NewManager(f, quiet).Apply(context.Background(), c.d); err != nil {
		t.Fatal(err)
	}
	if f.calls != before {
		t.Fatalf("restarted manager made %d changes: %v", f.calls-before, f.log[before:])
	}
}

// quiet is the logger of tests that do not look at logs.
var quiet = slog.New(slog.DiscardHandler)
