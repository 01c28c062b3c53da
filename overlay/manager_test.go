package overlay

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// TestPlanAddsBeforeDeletes replaces peer b by peer c and checks that every
// addition precedes every deletion and that untouched objects are left alone.
func TestPlanAddsBeforeDeletes(t *testing.T) {
	cur, err := render(desired(front(peer("b", ulB, "10.10.2.0/24"))), 1500)
	if err != nil {
		t.Fatal(err)
	}
	want, err := render(desired(front(peer("c", ulC, "10.10.3.0/24"))), 1500)
	if err != nil {
		t.Fatal(err)
	}
	ops := plan(cur, want)
	var got []string
	for _, o := range ops {
		got = append(got, o.String())
	}
	wantOps := expand(`
		set fdb shoalvx42 <mac 10.78.0.3 42> dst 10.78.0.3
		set neigh shoalvx42 10.10.3.0 lladdr <mac 10.78.0.3 42>
		add route table=100000042 10.10.3.0/24 via 10.10.3.0 dev shoalvx42 onlink
		add route table=main 10.10.3.0/24 via 10.10.3.0 dev shoalvx42 onlink
		delete route table=100000042 10.10.2.0/24 via 10.10.2.0 dev shoalvx42 onlink
		delete route table=main 10.10.2.0/24 via 10.10.2.0 dev shoalvx42 onlink
		delete neigh shoalvx42 10.10.2.0 lladdr <mac 10.78.0.2 42>
		delete fdb shoalvx42 <mac 10.78.0.2 42> dst 10.78.0.2`)
	if strings.Join(got, "\n") != wantOps {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), wantOps)
	}
}

// TestPlanDeletedNetworkCascades checks that removing a network deletes its
// links and the device-less objects (rules, unreachable route) only: the
// kernel drops everything else with the links.
func TestPlanDeletedNetworkCascades(t *testing.T) {
	cur, _ := render(desired(front(peer("b", ulB, "10.10.2.0/24"))), 1500)
	var got []string
	for _, o := range plan(cur, State{}) {
		got = append(got, o.String())
	}
	want := `delete rule 9000 iif shoalbr42 table 100000042
delete rule 9000 iif shoalvx42 table 100000042
delete route table=100000042 unreachable 0.0.0.0/0
delete link shoalbr42
delete link shoalvx42`
	if strings.Join(got, "\n") != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// TestApplyConvergesFromDebris starts from a kernel holding leftovers of
// other configurations and a device of the right name but wrong identity.
func TestApplyConvergesFromDebris(t *testing.T) {
	f := newFakeKernel()
	f.links["shoalvx42"] = Link{Name: "shoalvx42", Kind: KindVXLAN, MTU: 1400, VNI: 7, Local: ulA,
		Port: 8472, VtepDev: "eth0", MAC: "02:00:00:00:00:01"}
	f.links["shoalbr42"] = Link{Name: "shoalbr42", Kind: KindBridge, MTU: 1500}
	f.links["shoalbr99"] = Link{Name: "shoalbr99", Kind: "dummy", MTU: 1500}
	f.addrs[Addr{"shoalbr42", pfx("10.99.0.1/24")}] = true
	f.neighs[[2]string{"shoalvx42", "10.10.5.0"}] = Neigh{"shoalvx42", netip.MustParseAddr("10.10.5.0"), "02:00:00:00:00:05"}
	f.routes[routeKey{Table(42), pfx("10.10.5.0/24")}] = Route{Table: Table(42), Dst: pfx("10.10.5.0/24"),
		Dev: "shoalvx42", Gw: netip.MustParseAddr("10.10.5.0"), OnLink: true}
	f.routes[routeKey{Table(99), pfx("0.0.0.0/0")}] = Route{Table: Table(99), Dst: pfx("0.0.0.0/0"), Unreachable: true}
	f.rules[Rule{Priority: RulePriority, IifName: "shoalbr99", Table: Table(99)}] = true
	c := applyCases()[2]
	applyAndCheck(t, NewManager(f, quiet), f, c, "debris")
}

// TestApplyPartialFailure fails the creation of one network's VXLAN device:
// the other network is configured, the ops depending on the failed device
// are skipped (one error, not a cascade), and the next Apply heals.
func TestApplyPartialFailure(t *testing.T) {
	f := newFakeKernel()
	f.failIf = failOn("add link shoalvx43")
	m := NewManager(f, quiet)
	c := applyCases()[5]
	err := m.Apply(context.Background(), c.d)
	if err == nil || !strings.Contains(err.Error(), "shoalvx43") || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("Apply error = %v, want exactly one error naming shoalvx43", err)
	}
	if !strings.Contains(f.text(), "link shoalvx42") || strings.Contains(f.text(), "neigh shoalvx43") {
		t.Fatalf("unexpected state after partial failure:\n%s", f.text())
	}
	f.failIf = nil
	applyAndCheck(t, m, f, c, "partial failure")
}

func TestApplyCancelled(t *testing.T) {
	f := newFakeKernel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewManager(f, quiet).Apply(ctx, applyCases()[2].d)
	if !errors.Is(err, context.Canceled) || f.calls != 0 {
		t.Fatalf("Apply on cancelled context = %v after %d calls, want context.Canceled and none", err, f.calls)
	}
}

func TestApplyRejectsInvalid(t *testing.T) {
	ok := front(peer("b", ulB, "10.10.2.0/24"))
	cases := map[string]Desired{
		"no underlay dev":      {Underlay: ulA, Networks: []Network{ok}},
		"duplicate VNI":        desired(ok, Network{Name: "x", VNI: 42, Subnet: pfx("10.30.1.0/24")}),
		"duplicate name":       desired(ok, Network{Name: "front", VNI: 44, Subnet: pfx("10.30.1.0/24")}),
		"VNI too big":          desired(Network{Name: "x", VNI: 1 << 24, Subnet: pfx("10.30.1.0/24")}),
		"IPv6 subnet":          desired(Network{Name: "x", VNI: 5, Subnet: pfx("fd00::/64")}),
		"subnet too small":     desired(Network{Name: "x", VNI: 5, Subnet: pfx("10.30.1.0/31")}),
		"peer overlaps own":    desired(front(peer("b", ulB, "10.10.1.0/25"))),
		"peers overlap":        desired(front(peer("b", ulB, "10.10.2.0/24"), peer("c", ulC, "10.10.2.0/23"))),
		"networks overlap":     desired(ok, Network{Name: "x", VNI: 5, Subnet: pfx("10.10.0.0/16")}),
		"CIDR excludes subnet": desired(Network{Name: "x", VNI: 5, Subnet: pfx("10.30.1.0/24"), CIDR: pfx("10.40.0.0/16")}),
		"peer is self":         desired(front(peer("a", ulA, "10.10.2.0/24"))),
		"peer family mismatch": desired(front(peer("b", netip.MustParseAddr("fd00::2"), "10.10.2.0/24"))),
		"multicast VTEP MAC": desired(front(Peer{NodeID: "b", Underlay: ulB, Subnet: pfx("10.10.2.0/24"),
			VTEPMAC: net.HardwareAddr{1, 0, 0, 0, 0, 1}})),
	}
	for name, d := range cases {
		f := newFakeKernel()
		err := NewManager(f, quiet).Apply(context.Background(), d)
		if !errors.Is(err, ErrInvalid) || f.calls != 0 {
			t.Errorf("%s: Apply = %v after %d calls, want ErrInvalid and no calls", name, err, f.calls)
		}
	}
}

func TestVTEPMAC(t *testing.T) {
	m := VTEPMAC(ulA, 42)
	if len(m) != 6 || m[0]&1 != 0 || m[0]&2 == 0 {
		t.Fatalf("VTEPMAC = %s, want a locally administered unicast MAC", m)
	}
	if m.String() != VTEPMAC(ulA, 42).String() {
		t.Fatal("VTEPMAC is not deterministic")
	}
	if m.String() == VTEPMAC(ulB, 42).String() || m.String() == VTEPMAC(ulA, 43).String() {
		t.Fatal("VTEPMAC does not depend on both address and VNI")
	}
	if n := BridgeName(MaxVNI); len(n) > 15 || len(VXLANName(MaxVNI)) > 15 {
		t.Fatalf("device name %s exceeds IFNAMSIZ-1", n)
	}
}

func TestTeardownRemovesEverything(t *testing.T) {
	f := newFakeKernel()
	m := NewManager(f, quiet)
	applyAndCheck(t, m, f, applyCases()[5], "start")
	if _, err := m.Attach(context.Background(), "/ns/t1", "t1",
		[]AttachRequest{{"front", netip.MustParseAddr("10.10.1.5")}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.text(); got != "" {
		t.Fatalf("after Teardown the fake still holds:\n%s", got)
	}
	if _, err := m.Attach(context.Background(), "/ns/t2", "t2",
		[]AttachRequest{{"front", netip.MustParseAddr("10.10.1.6")}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Attach after Teardown = %v, want ErrInvalid (network not configured)", err)
	}
}

// TestPlanVIPBlockRoute checks that a network's VIP block becomes one
// main-table route through its bridge, and that a VIP block overlapping a
// subnet is refused.
func TestPlanVIPBlockRoute(t *testing.T) {
	base := desired(front(peer("b", ulB, "10.10.2.0/24")))
	cur, err := render(base, 1500)
	if err != nil {
		t.Fatal(err)
	}
	withVIPs := desired(front(peer("b", ulB, "10.10.2.0/24")))
	withVIPs.Networks[0].VIPs = netip.MustParsePrefix("10.10.0.0/24")
	want, err := render(withVIPs, 1500)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range plan(cur, want) {
		got = append(got, o.String())
	}
	if len(got) != 1 || !strings.Contains(got[0], "add route table=main 10.10.0.0/24 dev shoalbr42") {
		t.Fatalf("plan = %q, want one main-table route for the VIP block through the bridge", got)
	}
	if again := plan(want, want); len(again) != 0 {
		t.Errorf("re-apply plans %v", again)
	}
	bad := desired(front(peer("b", ulB, "10.10.2.0/24")))
	bad.Networks[0].VIPs = bad.Networks[0].Subnet
	if _, err := render(bad, 1500); !errors.Is(err, ErrInvalid) {
		t.Errorf("VIP block overlapping the subnet: err = %v, want ErrInvalid", err)
	}
}

// TestPlanReplyMarkRule checks that a reply mark becomes one policy rule,
// ahead of the networks' own, sending marked packets to the main table.
func TestPlanReplyMarkRule(t *testing.T) {
	base := desired(front(peer("b", ulB, "10.10.2.0/24")))
	cur, err := render(base, 1500)
	if err != nil {
		t.Fatal(err)
	}
	marked := desired(front(peer("b", ulB, "10.10.2.0/24")))
	marked.ReplyMark = 0x100000
	want, err := render(marked, 1500)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range plan(cur, want) {
		got = append(got, o.String())
	}
	if len(got) != 1 || got[0] != "add rule 8999 fwmark 0x100000/0x100000 table 254" {
		t.Fatalf("plan = %q, want the one fwmark rule", got)
	}
}
