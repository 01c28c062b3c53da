package lbtest

import (
	"fmt"
	"net/netip"

	"github.com/shoal-org/shoal/lb"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Published ports of the all-port cases.
const (
	publishedUDPPort = 30053
)

// allSvc is an all-port VIP service over backends idx with weight 1.
func (s *suite) allSvc(key string, vip netip.Addr, idx ...int) lb.Service {
	svc := lb.Service{Key: key, VIP: vip}
	for _, i := range idx {
		svc.Backends = append(svc.Backends, lb.Backend{IP: s.topo.Backends[i-1].IP, Weight: 1})
	}
	return svc
}

// pubSvc is a published port without VIP: published/proto to port target of
// backends idx with weight 1.
func (s *suite) pubSvc(key string, published, target uint16, p lb.Proto, idx ...int) lb.Service {
	svc := lb.Service{Key: key, Port: target, Proto: p, PublishedPort: published}
	for _, i := range idx {
		svc.Backends = append(svc.Backends, lb.Backend{IP: s.topo.Backends[i-1].IP, Port: target, Weight: 1})
	}
	return svc
}

// keepTCP opens connections from `from` to `to` until one is served by
// backend want, and returns it open. It gives up after 3 failed requests.
func (s *suite) keepTCP(from string, to netip.AddrPort, want string) *httpConn {
	s.t.Helper()
	failures := 0
	for range 3 * s.env.Requests {
		c, err := openHTTP(s.ns(from), to, s.env.Timeout)
		if err != nil {
			s.t.Fatalf("open connection to %s: %v", to, err)
		}
		name, err := c.get(s.env.Timeout)
		if err == nil && name == want {
			s.t.Cleanup(c.close)
			return c
		}
		c.close()
		if err != nil {
			if failures++; failures == 3 {
				s.t.Fatalf("request to %s from %s: %v", to, from, err)
			}
		}
	}
	s.t.Fatalf("no connection to %s from %s reached %s", to, from, want)
	return nil
}

// keepUDP opens UDP flows from the client to `to` until one is answered by
// backend want, and returns it open. It gives up after 3 unanswered flows.
func (s *suite) keepUDP(to netip.AddrPort, want string) *udpClient {
	s.t.Helper()
	failures := 0
	for range 3 * s.env.Requests {
		c, err := openUDP(s.topo.Client, to)
		if err != nil {
			s.t.Fatalf("open UDP flow to %s: %v", to, err)
		}
		name, err := c.ask(s.env.Timeout)
		if err == nil && name == want {
			s.t.Cleanup(c.close)
			return c
		}
		c.close()
		if err != nil {
			if failures++; failures == 3 {
				s.t.Fatalf("datagram to %s: %v", to, err)
			}
		}
	}
	s.t.Fatalf("no UDP flow to %s reached %s", to, want)
	return nil
}

// expectSame checks that an open connection is still served by want.
func (s *suite) expectSame(what string, c *httpConn, want string) {
	s.t.Helper()
	if name, err := c.get(s.env.Timeout); err != nil || name != want {
		s.t.Errorf("%s: got %q, %v; want %s to keep serving it", what, name, err, want)
	}
}

// expectSameUDP checks that an open UDP flow is still answered by want.
func (s *suite) expectSameUDP(what string, c *udpClient, want string) {
	s.t.Helper()
	if name, err := c.ask(s.env.Timeout); err != nil || name != want {
		s.t.Errorf("%s: got %q, %v; want %s to keep answering it", what, name, err, want)
	}
}

// flowsTo counts the node's conntrack entries of connections to vip whose
// replies come from backend.
func (s *suite) flowsTo(vip, backend netip.Addr) int {
	s.t.Helper()
	h, err := netlink.NewHandleAt(s.topo.Node, unix.NETLINK_NETFILTER)
	if err != nil {
		s.t.Fatalf("netlink handle in node ns: %v", err)
	}
	defer h.Close()
	flows, err := h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		s.t.Fatalf("list conntrack entries: %v", err)
	}
	n := 0
	for _, f := range flows {
		dst, _ := netip.AddrFromSlice(f.Forward.DstIP)
		src, _ := netip.AddrFromSlice(f.Reverse.SrcIP)
		if dst.Unmap() == vip && src.Unmap() == backend {
			n++
		}
	}
	return n
}

// allPorts: an all-port VIP answers on any TCP port (80 and 8080 here)
// and UDP, from a task and from the node, each connection served on the
// port the client used.
func (s *suite) allPorts() {
	dp := s.setup(2)
	s.apply(dp, s.allSvc("web/vip", vip1, 1, 2), s.tcpSvc("api/80/tcp", vip2, 2))
	two := []string{"b1", "b2"}
	for _, port := range []uint16{backendAltPort, backendHTTPPort} {
		to := netip.AddrPortFrom(vip1, port)
		s.expect(fmt.Sprintf("all-port VIP at %d from client", port), s.surveyAt("client", to, port), two, two)
		s.expect(fmt.Sprintf("all-port VIP at %d from node", port), s.surveyAt("node", to, port), two, two)
	}
	s.expect("all-port VIP over UDP", s.surveyUDP("client", netip.AddrPortFrom(vip1, backendUDPPort)), two, two)
	s.expect("port VIP beside it", s.survey("client", vipAP(vip2)), []string{"b2"}, []string{"b2"})
	s.expectDown("all-port VIP at a port no backend serves", "client", netip.AddrPortFrom(vip1, 9))
}

// allPortsPublished: the same backends behind an all-port VIP and behind
// published TCP and UDP ports (services without VIP) that map to other
// ports; unpublishing leaves the VIP.
func (s *suite) allPortsPublished() {
	dp := s.setup(2)
	two := []string{"b1", "b2"}
	vip := s.allSvc("web/vip", vip1, 1, 2)
	pubTCP := s.pubSvc("web/published/30080/tcp", publishedPort, backendAltPort, lb.TCP, 1, 2)
	pubUDP := s.pubSvc("web/published/30053/udp", publishedUDPPort, backendUDPPort, lb.UDP, 1, 2)
	s.apply(dp, vip, pubTCP, pubUDP)
	nodePub := netip.AddrPortFrom(s.topo.NodeIP, publishedPort)
	s.expect("published from external host", s.surveyAt("external", nodePub, backendAltPort), two, two)
	s.expect("published from node itself", s.surveyAt("node", nodePub, backendAltPort), two, two)
	bridgePub := netip.AddrPortFrom(s.topo.BridgeIP, publishedPort)
	s.expect("published on bridge address from task", s.surveyAt("client", bridgePub, backendAltPort), two, two)
	udpPub := netip.AddrPortFrom(s.topo.NodeIP, publishedUDPPort)
	s.expect("published UDP from external host", s.surveyUDP("external", udpPub), two, two)
	s.expect("all-port VIP beside published ports", s.surveyAt("client", netip.AddrPortFrom(vip1, backendHTTPPort), backendHTTPPort), two, two)
	s.expectDown("VIP at the published port", "client", netip.AddrPortFrom(vip1, publishedPort))
	s.apply(dp, vip, pubUDP)
	s.expectDown("unpublished", "external", nodePub)
	s.expect("all-port VIP after unpublishing", s.surveyAt("client", netip.AddrPortFrom(vip1, backendAltPort), backendAltPort), two, two)
}

// allPortsRemoveBackend: a backend removed from an all-port service gets no
// new connection on any port, its conntrack entries for the VIP are gone,
// and neither its open TCP connection nor its UDP flow reach it again.
func (s *suite) allPortsRemoveBackend() {
	dp := s.setup(3)
	s.apply(dp, s.allSvc("web/vip", vip1, 1, 2, 3))
	kept := s.keepTCP("client", netip.AddrPortFrom(vip1, backendAltPort), "b2")
	flow := s.keepUDP(netip.AddrPortFrom(vip1, backendUDPPort), "b2")
	b2 := s.topo.Backends[1].IP
	if n := s.flowsTo(vip1, b2); n < 2 {
		s.t.Fatalf("before removal: %d conntrack entries from VIP to b2, want at least 2 (TCP and UDP)", n)
	}
	s.apply(dp, s.allSvc("web/vip", vip1, 1, 3))
	if n := s.flowsTo(vip1, b2); n != 0 {
		s.t.Errorf("after removal of b2: %d conntrack entries from VIP to b2 left, want 0", n)
	}
	rest := []string{"b1", "b3"}
	for _, port := range []uint16{backendAltPort, backendHTTPPort} {
		s.expect(fmt.Sprintf("port %d after removal", port), s.surveyAt("client", netip.AddrPortFrom(vip1, port), port), rest, rest)
	}
	if name, err := kept.get(s.env.Timeout); err == nil && name == "b2" {
		s.t.Errorf("open connection to removed b2 still served by it")
	}
	var got string
	var err error
	for range 3 { // the first datagram after the cut may be dropped
		if got, err = flow.ask(s.env.Timeout); err == nil {
			break
		}
	}
	if err != nil || got == "b2" {
		s.t.Errorf("UDP flow after its backend b2 was removed: got %q, %v; want another backend", got, err)
	}
}

// allPortsIdempotent: re-applying an all-port VIP, a published port and a
// port VIP, again and in another order, keeps open connections and flows
// on their backends.
func (s *suite) allPortsIdempotent() {
	dp := s.setup(3)
	vip := s.allSvc("web/vip", vip1, 1, 2)
	pub := s.pubSvc("web/published/30080/tcp", publishedPort, backendAltPort, lb.TCP, 1, 2)
	api := s.tcpSvc("api/80/tcp", vip2, 3)
	s.apply(dp, vip, pub, api)
	keptVIP := s.keepTCP("client", netip.AddrPortFrom(vip1, backendHTTPPort), "b1")
	keptPub := s.keepTCP("external", netip.AddrPortFrom(s.topo.NodeIP, publishedPort), "b2")
	flow := s.keepUDP(netip.AddrPortFrom(vip1, backendUDPPort), "b2")
	s.apply(dp, vip, pub, api)
	rev, revPub := vip, pub
	rev.Backends = []lb.Backend{vip.Backends[1], vip.Backends[0]}
	revPub.Backends = []lb.Backend{pub.Backends[1], pub.Backends[0]}
	s.apply(dp, api, revPub, rev)
	two := []string{"b1", "b2"}
	s.expect("all-port VIP after re-apply", s.surveyAt("client", netip.AddrPortFrom(vip1, backendAltPort), backendAltPort), two, two)
	s.expect("published after re-apply", s.surveyAt("external", netip.AddrPortFrom(s.topo.NodeIP, publishedPort), backendAltPort), two, two)
	s.expect("port VIP after re-apply", s.survey("client", vipAP(vip2)), []string{"b3"}, []string{"b3"})
	s.expectSame("connection to the VIP across re-apply", keptVIP, "b1")
	s.expectSame("connection to the published port across re-apply", keptPub, "b2")
	s.expectSameUDP("UDP flow across re-apply", flow, "b2")
}

// allPortsRestart: a new dataplane (an agent restart) takes over an
// all-port VIP and a published port without disturbing their open
// connections, converges to its own config, and Close removes it all.
func (s *suite) allPortsRestart() {
	dp1 := s.setup(3)
	pub := s.pubSvc("web/published/30080/tcp", publishedPort, backendAltPort, lb.TCP, 1, 2)
	s.apply(dp1, s.allSvc("web/vip", vip1, 1, 2), pub, s.allSvc("old/vip", vip2, 3))
	keptVIP := s.keepTCP("client", netip.AddrPortFrom(vip1, backendAltPort), "b2")
	nodePub := netip.AddrPortFrom(s.topo.NodeIP, publishedPort)
	keptPub := s.keepTCP("external", nodePub, "b1")
	dp2 := s.newDP(s.t, s.topo.NodePath())
	s.apply(dp2, s.allSvc("web/vip", vip1, 1, 2, 3), pub, s.allSvc("db/vip", vip3, 1))
	s.expectSame("connection to the VIP across restart", keptVIP, "b2")
	s.expectSame("connection to the published port across restart", keptPub, "b1")
	s.expect("VIP after restart", s.surveyAt("client", netip.AddrPortFrom(vip1, backendHTTPPort), backendHTTPPort), all3, all3)
	s.expect("published after restart", s.surveyAt("external", nodePub, backendAltPort), []string{"b1", "b2"}, []string{"b1", "b2"})
	s.expect("new VIP after restart", s.surveyAt("client", netip.AddrPortFrom(vip3, backendAltPort), backendAltPort), []string{"b1"}, []string{"b1"})
	s.expectDown("VIP dropped across restart", "client", netip.AddrPortFrom(vip2, backendAltPort))
	if err := dp2.Close(); err != nil {
		s.t.Fatalf("Close: %v", err)
	}
	s.expectDown("VIP after Close", "client", netip.AddrPortFrom(vip1, backendAltPort))
	s.expectDown("new VIP after Close", "client", netip.AddrPortFrom(vip3, backendAltPort))
	s.expectDown("published after Close", "external", nodePub)
}
