// Package lbtest is the conformance suite every lb.Dataplane passes: the same
// cases, each checked with real traffic through the kernel.
//
// Every case builds a fresh topology of network namespaces (see Topo): a
// node namespace where the dataplane runs, with a bridge holding a client and
// backends (tiny Go HTTP and UDP servers that answer with their name), and an
// external client on a separate link that reaches the node's own address.
// Nothing leaves those namespaces. The suite needs root.
package lbtest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/lb"
	"github.com/vishvananda/netns"
)

// Env tunes the suite.
type Env struct {
	// Requests is the number of fresh connections a distribution check
	// makes. Default 24.
	Requests int
	// Timeout bounds one connection attempt or request; a connection that
	// must fail is given this long. Default 1s.
	Timeout time.Duration
}

func (e Env) withDefaults() Env {
	if e.Requests <= 0 {
		e.Requests = 24
	}
	if e.Timeout <= 0 {
		e.Timeout = time.Second
	}
	return e
}

// NewDataplane makes the dataplane under test, programming the network
// namespace at netnsPath (pass it as lb.Options.NetNS). It should register
// Close with t.Cleanup; Close may then be called a second time.
type NewDataplane func(t *testing.T, netnsPath string) lb.Dataplane

// Run runs every case against the dataplanes newDP makes. It skips when not
// run as root.
func Run(t *testing.T, newDP NewDataplane, env Env) {
	testenv.RequireRoot(t, "lbtest creates network namespaces")
	env = env.withDefaults()
	cases := []struct {
		name string
		run  func(*suite)
	}{
		{"AddService", (*suite).addService},
		{"LocalOrigin", (*suite).localOrigin},
		{"Endpoints", (*suite).endpoints},
		{"Weights", (*suite).weights},
		{"NoBackends", (*suite).noBackends},
		{"RemoveService", (*suite).removeService},
		{"PublishedPort", (*suite).publishedPort},
		{"Idempotent", (*suite).idempotent},
		{"UDP", (*suite).udp},
		{"RestartAndClose", (*suite).restartAndClose},
		{"AllPorts", (*suite).allPorts},
		{"AllPortsPublished", (*suite).allPortsPublished},
		{"AllPortsRemoveBackend", (*suite).allPortsRemoveBackend},
		{"AllPortsIdempotent", (*suite).allPortsIdempotent},
		{"AllPortsRestart", (*suite).allPortsRestart},
		{"PublishedOverVXLAN", (*suite).publishedOverVXLAN},
		{"RollUnderLoad", (*suite).rollUnderLoad},
		{"ReusedPorts", (*suite).reusedPorts},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(&suite{t: t, env: env, newDP: newDP})
		})
	}
}

type suite struct {
	t     *testing.T
	env   Env
	newDP NewDataplane
	topo  *Topo
}

// Service addresses used by the cases.
var (
	vip1 = netip.MustParseAddr("10.96.0.1")
	vip2 = netip.MustParseAddr("10.96.0.2")
	vip3 = netip.MustParseAddr("10.96.0.3")
)

const (
	svcPort       = 80
	publishedPort = 30080
)

// setup builds a topology with n backends and a dataplane in its node.
func (s *suite) setup(n int) lb.Dataplane {
	s.topo = newTopo(s.t, n)
	return s.newDP(s.t, s.topo.NodePath())
}

func (s *suite) apply(dp lb.Dataplane, svcs ...lb.Service) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dp.Apply(ctx, lb.Config{Services: svcs}); err != nil {
		s.t.Fatalf("Apply: %v", err)
	}
}

// be returns the lb.Backend of backend i (1-based) with weight w, on its
// HTTP port or, for UDP, its UDP port.
func (s *suite) be(i, w int, p lb.Proto) lb.Backend {
	port := uint16(backendHTTPPort)
	if p == lb.UDP {
		port = backendUDPPort
	}
	return lb.Backend{IP: s.topo.Backends[i-1].IP, Port: port, Weight: w}
}

// tcpSvc is a TCP service on vip:80 over backends idx with weight 1.
func (s *suite) tcpSvc(key string, vip netip.Addr, idx ...int) lb.Service {
	svc := lb.Service{Key: key, VIP: vip, Port: svcPort, Proto: lb.TCP}
	for _, i := range idx {
		svc.Backends = append(svc.Backends, s.be(i, 1, lb.TCP))
	}
	return svc
}

func vipAP(vip netip.Addr) netip.AddrPort { return netip.AddrPortFrom(vip, svcPort) }

// expect checks a tally: every answer comes from allowed, and each of seen
// answered at least once.
func (s *suite) expect(what string, got tally, allowed, seen []string) {
	s.t.Helper()
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	for name := range got {
		if !ok[name] {
			s.t.Errorf("%s: unexpected answer %q; tally %s (allowed %v)", what, name, got, allowed)
		}
	}
	for _, name := range seen {
		if got[name] == 0 {
			s.t.Errorf("%s: backend %s never answered; tally %s", what, name, got)
		}
	}
}

// ns names the namespaces traffic comes from: "client" (a task on the
// bridge), "node" (the node itself) and "external" (another host).
func (s *suite) ns(from string) netns.NsHandle {
	switch from {
	case "node":
		return s.topo.Node
	case "external":
		return s.topo.External
	}
	return s.topo.Client
}

// survey makes fresh HTTP connections to `to`, expecting them served on
// the backends' port 8080.
func (s *suite) survey(from string, to netip.AddrPort) tally {
	return s.surveyAt(from, to, backendHTTPPort)
}

// surveyAt makes fresh HTTP connections to `to`, expecting them served on
// the backends' port port.
func (s *suite) surveyAt(from string, to netip.AddrPort, port uint16) tally {
	return survey(s.ns(from), to, port, s.env.Requests, s.env.Timeout)
}

// surveyUDP sends a datagram on each of fresh UDP flows to `to`.
func (s *suite) surveyUDP(from string, to netip.AddrPort) tally {
	return surveyUDP(s.ns(from), to, s.env.Requests, s.env.Timeout)
}

// expectDown checks that a fresh connection from the client to `to` fails.
func (s *suite) expectDown(what string, from string, to netip.AddrPort) {
	s.t.Helper()
	if name, _, err := fetch(s.ns(from), to, s.env.Timeout); err == nil {
		s.t.Errorf("%s: connection to %s from %s was answered by %s, want failure", what, to, from, name)
	}
}
