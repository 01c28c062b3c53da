package overlay

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/shoal-org/shoal/internal/nsthread"
	"github.com/shoal-org/shoal/internal/testenv"
)

var (
	frontNet = labNet{"front", 42, 10}
	backNet  = labNet{"back", 43, 20}
	bothNets = []labNet{frontNet, backNet}
)

func req(network, ip string) AttachRequest {
	return AttachRequest{Network: network, IP: netip.MustParseAddr(ip)}
}

// overlayLab is three nodes on two networks with tasks on them.
type overlayLab struct {
	l                                                 *lab
	taFront, taBack, tbFront, tbBack, tbBoth, tcFront string
}

// TestNetlinkOverlay builds a three-node lab with two networks on the real
// kernel, runs tasks on them and checks reachability, isolation,
// idempotence, peer removal, detach and teardown, in that order.
func TestNetlinkOverlay(t *testing.T) {
	l := newLab(t, 3)
	for i, n := range l.nodes {
		must(t, n.m.Apply(context.Background(), l.desired(i, bothNets, 0, 1, 2)))
	}
	x := &overlayLab{l: l}
	t.Run("kernel state is the rendered state", x.checkRenderedState)
	x.taFront = l.task(t, 0, "ta-front", req("front", "10.10.1.5"))
	x.taBack = l.task(t, 0, "ta-back", req("back", "10.20.1.5"))
	x.tbFront = l.task(t, 1, "tb-front", req("front", "10.10.2.5"))
	x.tbBack = l.task(t, 1, "tb-back", req("back", "10.20.2.5"))
	x.tbBoth = l.task(t, 1, "tb-both", req("front", "10.10.2.6"), req("back", "10.20.2.6"))
	x.tcFront = l.task(t, 2, "tc-front", req("front", "10.10.3.5"))
	for path, name := range map[string]string{x.taBack: "ta-back", x.tbFront: "tb-front", x.tbBack: "tb-back",
		x.tbBoth: "tb-both", x.tcFront: "tc-front"} {
		serve(t, path, name)
	}
	t.Run("same network across nodes", x.checkReachable)
	t.Run("networks are isolated", x.checkIsolated)
	t.Run("second Apply makes no netlink changes", x.checkIdempotent)
	t.Run("removing a peer removes its route, neighbour and FDB entry", x.checkPeerRemoved)
	t.Run("detach removes the task's veths", x.checkDetach)
	t.Run("teardown leaves nothing", x.checkTeardown)
}

func (x *overlayLab) checkRenderedState(t *testing.T) {
	for i, n := range x.l.nodes {
		want, err := render(x.l.desired(i, bothNets, 0, 1, 2), 1500)
		must(t, err)
		got, err := n.k.State()
		must(t, err)
		if got.String() != want.String() {
			t.Fatalf("node %s:\n%s\nwant\n%s", n.name, got, want)
		}
	}
	a := x.l.nodes[0].ns
	if got := ipIn(t, a, "cat", "/proc/sys/net/ipv4/conf/eth0/forwarding", "/proc/sys/net/ipv4/conf/all/forwarding",
		"/proc/sys/net/ipv4/conf/shoalbr42/forwarding", "/proc/sys/net/ipv4/conf/shoalvx42/forwarding"); got != "0\n0\n1\n1\n" {
		t.Fatalf("forwarding eth0/all/bridge/vxlan = %q, want only the overlay devices on", got)
	}
	if out := ipIn(t, a, "ip", "-d", "link", "show", "shoalvx42"); !strings.Contains(out, "vxlan id 42 local 10.78.0.1 dev eth0") ||
		!strings.Contains(out, "dstport 4789") || !strings.Contains(out, "nolearning") || !strings.Contains(out, "mtu 1450") {
		t.Fatalf("ip -d link show shoalvx42:\n%s", out)
	}
}

func (x *overlayLab) checkReachable(t *testing.T) {
	checks := []struct{ from, to, want string }{
		{x.taFront, "10.10.2.5", "tb-front"},
		{x.taFront, "10.10.3.5", "tc-front"},
		{x.taBack, "10.20.2.5", "tb-back"},
		{x.taBack, "10.20.2.6", "tb-both"}, // via tb-both's eth1 and its CIDR route
		{x.taFront, "10.10.2.6", "tb-both"},
	}
	for _, c := range checks {
		if got := dialUntil(t, c.from, c.to); got != c.want {
			t.Fatalf("dial %s answered by %q, want %q", c.to, got, c.want)
		}
	}
	if out := ipIn(t, x.tbBoth, "ip", "-o", "-4", "addr"); !strings.Contains(out, "eth0    inet 10.10.2.6/24") ||
		!strings.Contains(out, "eth1    inet 10.20.2.6/24") {
		t.Fatalf("tb-both addresses:\n%s", out)
	}
	if out := ipIn(t, x.tbBoth, "ip", "-4", "route"); out != "default via 10.10.2.1 dev eth0 \n"+
		"10.10.2.0/24 dev eth0 proto kernel scope link src 10.10.2.6 \n"+
		"10.20.0.0/16 via 10.20.2.1 dev eth1 \n"+
		"10.20.2.0/24 dev eth1 proto kernel scope link src 10.20.2.6 \n" {
		t.Fatalf("tb-both routes:\n%q", out)
	}
	if out := ipIn(t, x.tbBoth, "ip", "-o", "link", "show", "eth1"); !strings.Contains(out, "mtu 1450") {
		t.Fatalf("tb-both eth1: %s", out)
	}
}

func (x *overlayLab) checkIsolated(t *testing.T) {
	for _, c := range []struct{ from, to string }{
		{x.taFront, "10.20.2.5"}, // back network, other node
		{x.taFront, "10.20.1.5"}, // back network, same node
		{x.taBack, "10.10.2.5"},  // front network, other node
		{x.taBack, "10.10.3.5"},
	} {
		_, err := dial(c.from, c.to)
		if !errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("dial %s from %s: %v, want refused as unreachable", c.to, c.from, err)
		}
	}
}

func (x *overlayLab) checkIdempotent(t *testing.T) {
	a := x.l.nodes[0]
	before := linkIndex(t, a.ns, "shoalvx42")
	ck := &countingKernel{Kernel: a.k}
	must(t, NewManager(ck, quiet).Apply(context.Background(), x.l.desired(0, bothNets, 0, 1, 2)))
	if len(ck.n) != 0 {
		t.Fatalf("a restarted manager changed %v", ck.n)
	}
	if after := linkIndex(t, a.ns, "shoalvx42"); after != before {
		t.Fatalf("shoalvx42 was recreated (ifindex %d -> %d)", before, after)
	}
	dialUntil(t, x.taFront, "10.10.2.5")
}

func (x *overlayLab) checkPeerRemoved(t *testing.T) {
	a := x.l.nodes[0]
	must(t, a.m.Apply(context.Background(), x.l.desired(0, bothNets, 0, 1)))
	macC := VTEPMAC(x.l.nodes[2].underlay, 42).String()
	routes := ipIn(t, a.ns, "ip", "-4", "route", "show", "table", "all", "proto", "73")
	neighs := ipIn(t, a.ns, "ip", "-4", "neigh", "show", "dev", "shoalvx42")
	fdb := ipIn(t, a.ns, "bridge", "fdb", "show", "dev", "shoalvx42")
	for what, out := range map[string]string{"routes": routes, "neighbours": neighs, "fdb": fdb} {
		if strings.Contains(out, "10.10.3.0") || strings.Contains(out, macC) || strings.Contains(out, "10.78.0.3") {
			t.Errorf("%s still mention node c:\n%s", what, out)
		}
	}
	if !strings.Contains(routes, "10.10.2.0/24 via 10.10.2.0 dev shoalvx42 table 100000042") ||
		!strings.Contains(neighs, "10.10.2.0") || !strings.Contains(fdb, "dst 10.78.0.2") {
		t.Errorf("node b's entries are gone too:\n%s\n%s\n%s", routes, neighs, fdb)
	}
	dialUntil(t, x.taFront, "10.10.2.5")
}

func (x *overlayLab) checkDetach(t *testing.T) {
	must(t, x.l.nodes[1].m.Detach(context.Background(), "tb-both"))
	if out := ipIn(t, x.tbBoth, "ip", "-o", "link"); strings.Contains(out, "eth0") || strings.Contains(out, "eth1") {
		t.Fatalf("tb-both still has interfaces:\n%s", out)
	}
	if out := ipIn(t, x.l.nodes[1].ns, "ip", "-o", "link"); strings.Contains(out, hostVethName("tb-both", 0)) {
		t.Fatalf("host end of tb-both's veth remains:\n%s", out)
	}
}

func (x *overlayLab) checkTeardown(t *testing.T) {
	a := x.l.nodes[0]
	must(t, a.m.Teardown(context.Background()))
	must(t, a.m.Teardown(context.Background()))
	links := ipIn(t, a.ns, "ip", "-o", "link")
	if strings.Count(links, "\n") != 2 || !strings.Contains(links, "lo:") || !strings.Contains(links, "eth0@") {
		t.Errorf("links after teardown, want only lo and eth0:\n%s", links)
	}
	if out := ipIn(t, a.ns, "ip", "rule"); strings.Contains(out, "shoal") || strings.Contains(out, "9000:") {
		t.Errorf("rules after teardown:\n%s", out)
	}
	if out := ipIn(t, a.ns, "ip", "route", "show", "table", "all", "proto", "73"); out != "" {
		t.Errorf("routes after teardown:\n%s", out)
	}
	if out := ipIn(t, x.taFront, "ip", "-o", "link"); strings.Contains(out, "eth0") {
		t.Errorf("node a's task still has its interface after teardown:\n%s", out)
	}
}

func linkIndex(t *testing.T, path, name string) int {
	t.Helper()
	l, err := handleAt(t, path).LinkByName(name)
	must(t, err)
	return l.Attrs().Index
}

// TestNewNetlinkKernelUsesCallersNamespace creates the Kernel on a thread
// inside a lab node, then uses it from the test's own thread: the devices
// must appear in the node, not in the test's namespace.
func TestNewNetlinkKernelUsesCallersNamespace(t *testing.T) {
	l := newLab(t, 1)
	var k *NetlinkKernel
	must(t, nsthread.DoPath(l.nodes[0].ns, func() (err error) {
		k, err = NewNetlinkKernel()
		return err
	}))
	defer k.Close()
	m := NewManager(k, quiet)
	must(t, m.Apply(context.Background(), l.desired(0, []labNet{{"iso", 777, 30}})))
	if linkIndex(t, l.nodes[0].ns, "shoalbr777") == 0 {
		t.Fatal("bridge missing in the node")
	}
	if _, err := netlink.LinkByName("shoalbr777"); err == nil {
		t.Fatal("bridge created in the test's own namespace")
	}
	must(t, m.Teardown(context.Background()))
}

func TestCreateDeleteNetNS(t *testing.T) {
	testenv.RequireRoot(t, rootWhy)
	path := t.TempDir() + "/ns"
	must(t, CreateNetNS(path))
	if err := CreateNetNS(path); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second CreateNetNS = %v, want os.ErrExist", err)
	}
	ns, err := netns.GetFromPath(path)
	must(t, err)
	self, err := netns.Get()
	must(t, err)
	if ns.Equal(self) {
		t.Fatal("the pinned namespace is the caller's own")
	}
	ns.Close()
	self.Close()
	must(t, DeleteNetNS(path))
	must(t, DeleteNetNS(path))
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("netns file still there: %v", err)
	}
}

// TestNetlinkApplyChanges changes the underlay MTU (devices change in place)
// and then the underlay address (the VXLAN device must be recreated) on the
// real kernel, checking after each Apply that the kernel holds exactly the
// rendered state.
func TestNetlinkApplyChanges(t *testing.T) {
	l := newLab(t, 2)
	a := l.nodes[0]
	ctx := context.Background()
	d := l.desired(0, []labNet{frontNet}, 0, 1)
	must(t, a.m.Apply(ctx, d))
	check := func(d Desired, mtu int) {
		t.Helper()
		want, err := render(d, mtu)
		must(t, err)
		got, err := a.k.State()
		must(t, err)
		if got.String() != want.String() {
			t.Fatalf("kernel:\n%s\nwant\n%s", got, want)
		}
	}
	check(d, 1500)
	h := handleAt(t, a.ns)
	eth0, err := h.LinkByName("eth0")
	must(t, err)
	vx := linkIndex(t, a.ns, "shoalvx42")

	must(t, h.LinkSetMTU(eth0, 1400))
	must(t, a.m.Apply(ctx, d))
	check(d, 1400)
	if linkIndex(t, a.ns, "shoalvx42") != vx {
		t.Fatal("an MTU change recreated the VXLAN device")
	}

	must(t, h.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(pfx("10.78.0.101/24"))}))
	d.Underlay = netip.MustParseAddr("10.78.0.101")
	must(t, a.m.Apply(ctx, d))
	check(d, 1400)
	if linkIndex(t, a.ns, "shoalvx42") == vx {
		t.Fatal("the VXLAN device kept its old local address instead of being recreated")
	}
}
