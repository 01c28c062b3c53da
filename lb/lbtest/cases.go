package lbtest

import (
	"net/netip"

	"github.com/shoal-org/shoal/lb"
)

var all3 = []string{"b1", "b2", "b3"}

// addService: a new service answers on its VIP from a client on the
// bridge, balanced over all its backends.
func (s *suite) addService() {
	dp := s.setup(3)
	s.apply(dp, s.tcpSvc("web/80/tcp", vip1, 1, 2, 3))
	s.expect("VIP from client", s.survey("client", vipAP(vip1)), all3, all3)
}

// localOrigin: connections the node itself opens to a VIP are balanced too.
func (s *suite) localOrigin() {
	dp := s.setup(2)
	s.apply(dp, s.tcpSvc("web/80/tcp", vip1, 1, 2))
	s.expect("VIP from node", s.survey("node", vipAP(vip1)), []string{"b1", "b2"}, []string{"b1", "b2"})
}

// endpoints: backends added to a service get connections, removed ones get
// none.
func (s *suite) endpoints() {
	dp := s.setup(3)
	s.apply(dp, s.tcpSvc("web/80/tcp", vip1, 1, 2))
	s.expect("two backends", s.survey("client", vipAP(vip1)), []string{"b1", "b2"}, []string{"b1", "b2"})
	s.apply(dp, s.tcpSvc("web/80/tcp", vip1, 1, 2, 3))
	s.expect("backend added", s.survey("client", vipAP(vip1)), all3, all3)
	s.apply(dp, s.tcpSvc("web/80/tcp", vip1, 2, 3))
	s.expect("backend removed", s.survey("client", vipAP(vip1)), []string{"b2", "b3"}, []string{"b2", "b3"})
}

// weights: a weight-0 backend gets no new connection while one it already
// serves goes on; a heavier backend gets more connections.
func (s *suite) weights() {
	dp := s.setup(3)
	s.apply(dp, s.tcpSvc("web/80/tcp", vip1, 1, 2, 3))
	var kept *httpConn
	for range 3 * s.env.Requests {
		c, err := openHTTP(s.topo.Client, vipAP(vip1), s.env.Timeout)
		if err != nil {
			s.t.Fatalf("open connection to VIP: %v", err)
		}
		if name, err := c.get(s.env.Timeout); err == nil && name == "b2" {
			kept = c
			break
		}
		c.close()
	}
	if kept == nil {
		s.t.Fatalf("no connection to the VIP reached b2")
	}
	defer kept.close()
	svc := s.tcpSvc("web/80/tcp", vip1)
	svc.Backends = []lb.Backend{s.be(1, 1, lb.TCP), s.be(2, 0, lb.TCP), s.be(3, 3, lb.TCP)}
	s.apply(dp, svc)
	got := s.survey("client", vipAP(vip1))
	s.expect("b2 draining", got, []string{"b1", "b3"}, []string{"b1", "b3"})
	if got["b3"] <= got["b1"] {
		s.t.Errorf("weight 3 backend got %d connections, weight 1 backend %d; tally %s", got["b3"], got["b1"], got)
	}
	if name, err := kept.get(s.env.Timeout); err != nil || name != "b2" {
		s.t.Errorf("existing connection to draining b2: got %q, %v; want b2 to keep serving it", name, err)
	}
}

// noBackends: a service with no backend of positive weight answers no new
// connection.
func (s *suite) noBackends() {
	dp := s.setup(2)
	drained := s.tcpSvc("drained/80/tcp", vip1)
	drained.Backends = []lb.Backend{s.be(1, 0, lb.TCP), s.be(2, 0, lb.TCP)}
	s.apply(dp, drained, s.tcpSvc("empty/80/tcp", vip2))
	s.expectDown("all backends weight 0", "client", vipAP(vip1))
	s.expectDown("no backends", "client", vipAP(vip2))
	s.apply(dp, s.tcpSvc("drained/80/tcp", vip1, 2), s.tcpSvc("empty/80/tcp", vip2, 1))
	s.expect("drained service back", s.survey("client", vipAP(vip1)), []string{"b2"}, []string{"b2"})
	s.expect("empty service filled", s.survey("client", vipAP(vip2)), []string{"b1"}, []string{"b1"})
}

// removeService: a removed service stops answering while another service,
// and a connection open to it, are untouched.
func (s *suite) removeService() {
	dp := s.setup(3)
	other := s.tcpSvc("api/80/tcp", vip2, 3)
	s.apply(dp, s.tcpSvc("web/80/tcp", vip1, 1, 2), other)
	s.expect("web up", s.survey("client", vipAP(vip1)), []string{"b1", "b2"}, []string{"b1", "b2"})
	kept, err := openHTTP(s.topo.Client, vipAP(vip2), s.env.Timeout)
	if err != nil {
		s.t.Fatalf("open connection to api: %v", err)
	}
	defer kept.close()
	if name, err := kept.get(s.env.Timeout); err != nil || name != "b3" {
		s.t.Fatalf("api before removal of web: got %q, %v; want b3", name, err)
	}
	s.apply(dp, other)
	s.expectDown("web removed", "client", vipAP(vip1))
	s.expect("api after removal of web", s.survey("client", vipAP(vip2)), []string{"b3"}, []string{"b3"})
	if name, err := kept.get(s.env.Timeout); err != nil || name != "b3" {
		s.t.Errorf("open connection to api after removal of web: got %q, %v; want b3", name, err)
	}
}

// publishedPort: the published port answers on the node's own addresses,
// from another host, from the node itself and from a task; unpublishing
// closes it and leaves the VIP.
func (s *suite) publishedPort() {
	dp := s.setup(2)
	svc := s.tcpSvc("web/80/tcp", vip1, 1, 2)
	svc.PublishedPort = publishedPort
	s.apply(dp, svc)
	two := []string{"b1", "b2"}
	nodePub := netip.AddrPortFrom(s.topo.NodeIP, publishedPort)
	s.expect("published from external host", s.survey("external", nodePub), two, two)
	s.expect("published from node itself", s.survey("node", nodePub), two, two)
	bridgePub := netip.AddrPortFrom(s.topo.BridgeIP, publishedPort)
	s.expect("published on bridge address from task", s.survey("client", bridgePub), two, two)
	s.expect("VIP beside published port", s.survey("client", vipAP(vip1)), two, two)
	svc.PublishedPort = 0
	s.apply(dp, svc)
	s.expectDown("unpublished", "external", nodePub)
	s.expect("VIP after unpublishing", s.survey("client", vipAP(vip1)), two, two)
}

// idempotent: applying the same state again, in another order, changes
// nothing: traffic flows and open connections survive.
func (s *suite) idempotent() {
	dp := s.setup(3)
	web, api := s.tcpSvc("web/80/tcp", vip1, 1, 2), s.tcpSvc("api/80/tcp", vip2, 3)
	web.PublishedPort = publishedPort
	s.apply(dp, web, api)
	kept, err := openHTTP(s.topo.Client, vipAP(vip1), s.env.Timeout)
	if err != nil {
		s.t.Fatalf("open connection to web: %v", err)
	}
	defer kept.close()
	first, err := kept.get(s.env.Timeout)
	if err != nil {
		s.t.Fatalf("first request to web: %v", err)
	}
	s.apply(dp, web, api)
	reversed := web
	reversed.Backends = []lb.Backend{web.Backends[1], web.Backends[0]}
	s.apply(dp, api, reversed)
	s.expect("web after re-apply", s.survey("client", vipAP(vip1)), []string{"b1", "b2"}, []string{"b1", "b2"})
	s.expect("api after re-apply", s.survey("client", vipAP(vip2)), []string{"b3"}, []string{"b3"})
	if name, err := kept.get(s.env.Timeout); err != nil || name != first {
		s.t.Errorf("connection open across re-apply: got %q, %v; want %q", name, err, first)
	}
}

// udp: datagrams of one flow stick to a backend; when that backend is
// removed its conntrack entry goes, and the flow's next datagram reaches
// another backend.
func (s *suite) udp() {
	dp := s.setup(3)
	svc := lb.Service{Key: "dns/53/udp", VIP: vip3, Port: 53, Proto: lb.UDP,
		Backends: []lb.Backend{s.be(1, 1, lb.UDP), s.be(2, 1, lb.UDP), s.be(3, 1, lb.UDP)}}
	s.apply(dp, svc)
	c, err := openUDP(s.topo.Client, netip.AddrPortFrom(vip3, 53))
	if err != nil {
		s.t.Fatalf("open UDP client: %v", err)
	}
	defer c.close()
	first, err := c.ask(s.env.Timeout)
	if err != nil {
		s.t.Fatalf("first datagram to UDP VIP: %v", err)
	}
	if again, err := c.ask(s.env.Timeout); err != nil || again != first {
		s.t.Fatalf("second datagram of the flow: got %q, %v; want %q (same backend)", again, err, first)
	}
	var keep []lb.Backend
	for i, b := range s.topo.Backends {
		if b.Name != first {
			keep = append(keep, s.be(i+1, 1, lb.UDP))
		}
	}
	svc.Backends = keep
	s.apply(dp, svc)
	var got string
	for range 3 { // the first datagram after the cut may be dropped
		if got, err = c.ask(s.env.Timeout); err == nil {
			break
		}
	}
	if err != nil || got == first {
		s.t.Errorf("flow after its backend %s was removed: got %q, %v; want another backend", first, got, err)
	}
}

// restartAndClose: a new dataplane on the same node (an agent restart)
// takes over what the previous one left and converges to its own config;
// Close then removes everything.
func (s *suite) restartAndClose() {
	dp1 := s.setup(3)
	s.apply(dp1, s.tcpSvc("web/80/tcp", vip1, 1), s.tcpSvc("api/80/tcp", vip2, 2))
	s.expect("api before restart", s.survey("client", vipAP(vip2)), []string{"b2"}, []string{"b2"})
	dp2 := s.newDP(s.t, s.topo.NodePath())
	s.apply(dp2, s.tcpSvc("api/80/tcp", vip2, 2, 3), s.tcpSvc("db/80/tcp", vip3, 1))
	s.expectDown("service dropped across restart", "client", vipAP(vip1))
	s.expect("api after restart", s.survey("client", vipAP(vip2)), []string{"b2", "b3"}, []string{"b2", "b3"})
	s.expect("db after restart", s.survey("client", vipAP(vip3)), []string{"b1"}, []string{"b1"})
	if err := dp2.Close(); err != nil {
		s.t.Fatalf("Close: %v", err)
	}
	s.expectDown("api after Close", "client", vipAP(vip2))
	s.expectDown("db after Close", "client", vipAP(vip3))
}
