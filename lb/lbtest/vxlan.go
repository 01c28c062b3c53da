package lbtest

import (
	"fmt"
	"net/netip"

	"github.com/shoal-org/shoal/lb"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Addresses of the remote host of the VXLAN case: an underlay link between
// the node and the remote host, and the tunnel's addresses on top of it.
var (
	underNode   = netip.MustParsePrefix("10.203.0.1/24")
	underRemote = netip.MustParsePrefix("10.203.0.2/24")
	overNode    = netip.MustParsePrefix("10.204.0.1/24")
	overRemote  = netip.MustParsePrefix("10.204.0.2/24")
)

const (
	tunnelVNI  = 42
	tunnelPort = 4789
	// tunnelTable is the routing table of packets that arrive through the
	// tunnel, as the overlay's isolated network table in the product.
	tunnelTable = 100
)

// addRemote adds a second host joined to the node by a VXLAN tunnel over an
// underlay link of its own, with a backend named "r1" on the tunnel's
// address, and returns that backend's index for be/pubSvc/allSvc. This is
// how shoal reaches a task on another node: the encapsulated packet leaves
// the node through its output hooks again, carrying the socket buffer (and
// its mark) of the packet it wraps.
func (tp *Topo) addRemote() (int, error) {
	remote, err := tp.ns()
	if err != nil {
		return 0, err
	}
	hn, err := netlink.NewHandleAt(tp.Node, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, fmt.Errorf("netlink handle in node ns: %w", err)
	}
	defer hn.Close()
	if err := plug(hn, remote, "und0", "", underRemote, underNode.Addr()); err != nil {
		return 0, err
	}
	und := mustLink(hn, "und0")
	if err := hn.AddrAdd(und, &netlink.Addr{IPNet: ipnet(underNode)}); err != nil {
		return 0, fmt.Errorf("address node's underlay link: %w", err)
	}
	if err := addTunnel(hn, und, underNode.Addr(), underRemote.Addr(), overNode); err != nil {
		return 0, fmt.Errorf("node: %w", err)
	}
	if err := isolateTunnel(hn); err != nil {
		return 0, err
	}
	hr, err := netlink.NewHandleAt(remote, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, fmt.Errorf("netlink handle in remote ns: %w", err)
	}
	defer hr.Close()
	if err := addTunnel(hr, mustLink(hr, "eth0"), underRemote.Addr(), underNode.Addr(), overRemote); err != nil {
		return 0, fmt.Errorf("remote host: %w", err)
	}
	// A task knows only its overlay: the backend's replies can only go
	// back through the tunnel, to the address the node gave its requests.
	if err := hr.RouteDel(&netlink.Route{LinkIndex: mustLink(hr, "eth0").Attrs().Index, Gw: underNode.Addr().AsSlice()}); err != nil {
		return 0, fmt.Errorf("remote host: remove default route: %w", err)
	}
	if err := tp.waitUp(); err != nil {
		return 0, err
	}
	b := &Backend{Name: "r1", IP: overRemote.Addr(), ns: remote}
	tp.Backends = append(tp.Backends, b)
	if err := b.start(); err != nil {
		return 0, err
	}
	return len(tp.Backends), nil
}

// isolateTunnel routes what arrives through the tunnel by a table of its
// own that only knows the overlay (the tunnel and the bridge), as shoal's
// overlay does for an isolated
// network, with the overlay's exception: packets carrying the dataplane's
// reply mark are routed by the main table. A reply to a client on another
// link gets out only if the dataplane marked it.
func isolateTunnel(h *netlink.Handle) error {
	for _, r := range []struct {
		dev string
		dst netip.Prefix
	}{{"vx0", overNode.Masked()}, {"br0", bridgeNet.Masked()}} {
		rt := &netlink.Route{LinkIndex: mustLink(h, r.dev).Attrs().Index, Dst: ipnet(r.dst), Scope: netlink.SCOPE_LINK, Table: tunnelTable}
		if err := h.RouteAdd(rt); err != nil {
			return fmt.Errorf("add tunnel table route to %s: %w", r.dst, err)
		}
	}
	// Nothing else: without this, a lookup that finds no route in the
	// table falls through to the main table's rule.
	unreachable := &netlink.Route{Dst: ipnet(netip.MustParsePrefix("0.0.0.0/0")), Type: unix.RTN_UNREACHABLE, Table: tunnelTable}
	if err := h.RouteAdd(unreachable); err != nil {
		return fmt.Errorf("add tunnel table default: %w", err)
	}
	in := netlink.NewRule()
	in.IifName, in.Table, in.Priority = "vx0", tunnelTable, 9000
	if err := h.RuleAdd(in); err != nil {
		return fmt.Errorf("add tunnel policy rule: %w", err)
	}
	marked := netlink.NewRule()
	mask := uint32(lb.DefaultMasqueradeMark)
	marked.Mark, marked.Mask, marked.Table, marked.Priority = lb.DefaultMasqueradeMark, &mask, unix.RT_TABLE_MAIN, 8999
	if err := h.RuleAdd(marked); err != nil {
		return fmt.Errorf("add reply mark policy rule: %w", err)
	}
	return nil
}

// addTunnel adds a point-to-point VXLAN device vx0 over dev from local to
// peer and gives it addr.
func addTunnel(h *netlink.Handle, dev netlink.Link, local, peer netip.Addr, addr netip.Prefix) error {
	if dev == nil {
		return fmt.Errorf("underlay link missing")
	}
	vx := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "vx0"}, VxlanId: tunnelVNI,
		VtepDevIndex: dev.Attrs().Index, SrcAddr: local.AsSlice(), Group: peer.AsSlice(), Port: tunnelPort}
	if err := h.LinkAdd(vx); err != nil {
		return fmt.Errorf("add vxlan: %w", err)
	}
	if err := h.AddrAdd(vx, &netlink.Addr{IPNet: ipnet(addr)}); err != nil {
		return fmt.Errorf("address vxlan: %w", err)
	}
	if err := h.LinkSetUp(vx); err != nil {
		return fmt.Errorf("bring vxlan up: %w", err)
	}
	return nil
}

// publishedOverVXLAN: a published port and an all-port VIP whose backends
// include one on another host, behind a VXLAN tunnel, answer from an
// external host, from the node itself and from a task, and requests reach
// both the local and the remote backend. On IPVS the firewall mark of a
// balanced packet once stayed on its VXLAN encapsulation, so IPVS balanced
// the tunnel packet itself, again and again, until the kernel's stack
// overflowed ("Dead loop on virtual device", a kernel panic).
func (s *suite) publishedOverVXLAN() {
	dp := s.setup(1)
	r, err := s.topo.addRemote()
	if err != nil {
		s.t.Fatalf("add remote host: %v", err)
	}
	both := []string{"b1", "r1"}
	pub := s.pubSvc("web/8080/tcp", publishedPort, backendHTTPPort, lb.TCP, 1, r)
	s.apply(dp, pub, s.allSvc("api", vip2, 1, r))
	nodePub := netip.AddrPortFrom(s.topo.NodeIP, publishedPort)
	s.expect("published over VXLAN from external host", s.survey("external", nodePub), both, both)
	s.expect("published over VXLAN from node itself", s.survey("node", nodePub), both, both)
	s.expect("all-port VIP over VXLAN from task", s.survey("client", netip.AddrPortFrom(vip2, backendHTTPPort)), both, both)
	s.expect("only remote backend", s.onlyRemote(dp, r, nodePub), []string{"r1"}, []string{"r1"})
}

// onlyRemote leaves r as the published port's only backend and surveys it
// from the external host, so every request crosses the tunnel.
func (s *suite) onlyRemote(dp lb.Dataplane, r int, to netip.AddrPort) tally {
	s.apply(dp, s.pubSvc("web/8080/tcp", publishedPort, backendHTTPPort, lb.TCP, r))
	return s.survey("external", to)
}
