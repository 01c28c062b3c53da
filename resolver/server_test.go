package resolver

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// These tests serve on loopback addresses (127.0.0.0/8 is all local on
// Linux), which are in no overlay network: the client sees every network.

func query(t *testing.T, proto, server, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	m, _, err := c.Exchange(question(name, qtype), server)
	return m, err
}

func mustExchange(t *testing.T, proto, server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m, err := query(t, proto, server, name, qtype)
	if err != nil {
		t.Fatalf("%s query %s to %s: %v", proto, name, server, err)
	}
	return m
}

func TestServeUDPAndTCP(t *testing.T) {
	f := newStoreFeed(t)
	nets, svcs, tasks := fixture()
	for i := range 100 {
		tasks = append(tasks, task(fmt.Sprintf("rr%d", i), "rr", "back", fmt.Sprintf("10.241.3.%d", i+2)))
	}
	for _, o := range nets {
		f.put(o)
	}
	for _, o := range svcs {
		f.put(o)
	}
	for _, o := range tasks {
		f.put(o)
	}
	port := freePort(t, "127.0.0.1")
	s, err := New(Config{Store: f.s, Upstreams: []string{}, Port: port, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	if err := s.SetListen(addrs("127.0.0.1")); err != nil {
		t.Fatalf("SetListen: %v", err)
	}
	srv := fmt.Sprintf("127.0.0.1:%d", port)
	for _, proto := range []string{"udp", "tcp"} {
		m := mustExchange(t, proto, srv, "db.", dns.TypeA)
		if got := aRecords(m); !slices.Equal(got, addrs("10.241.0.2")) || m.Rcode != dns.RcodeSuccess || !m.RecursionAvailable {
			t.Errorf("%s db: rcode %s RA=%v %v, want NOERROR RA [10.241.0.2]", proto, dns.RcodeToString[m.Rcode], m.RecursionAvailable, got)
		}
		m = mustExchange(t, proto, srv, "example.com.", dns.TypeA)
		if m.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s example.com: rcode %s, want SERVFAIL (no upstream)", proto, dns.RcodeToString[m.Rcode])
		}
	}
	// 102 addresses do not fit in 512 bytes: UDP is truncated, TCP is not.
	udp := mustExchange(t, "udp", srv, "tasks.rr.", dns.TypeA)
	tcp := mustExchange(t, "tcp", srv, "tasks.rr.", dns.TypeA)
	if !udp.Truncated || len(udp.Answer) >= 102 {
		t.Errorf("udp tasks.rr: TC=%v with %d answers, want TC and fewer than 102", udp.Truncated, len(udp.Answer))
	}
	if tcp.Truncated || len(tcp.Answer) != 102 {
		t.Errorf("tcp tasks.rr: TC=%v with %d answers, want no TC and 102", tcp.Truncated, len(tcp.Answer))
	}
}

func TestSetListenReconciles(t *testing.T) {
	s, _ := newTestServer(t)
	port := freePort(t, "127.0.0.1")
	s.port = port
	a, b := "127.0.0.1", "127.0.0.2"
	if err := s.SetListen(addrs(a, b)); err != nil {
		t.Fatalf("SetListen(a, b): %v", err)
	}
	if err := s.SetListen(addrs(b, a)); err != nil {
		t.Fatalf("SetListen again: %v", err)
	}
	for _, ip := range []string{a, b} {
		mustExchange(t, "tcp", fmt.Sprintf("%s:%d", ip, port), "web.", dns.TypeA)
	}
	if err := s.SetListen(addrs(b)); err != nil {
		t.Fatalf("SetListen(b): %v", err)
	}
	if got := s.Listening(); !slices.Equal(got, addrs(b)) {
		t.Fatalf("Listening = %v, want [%s]", got, b)
	}
	if _, err := query(t, "tcp", fmt.Sprintf("%s:%d", a, port), "web.", dns.TypeA); err == nil {
		t.Errorf("%s still answers after it was removed", a)
	}
	mustExchange(t, "udp", fmt.Sprintf("%s:%d", b, port), "web.", dns.TypeA)
	// A query from a listening address is the node's own: all networks.
	m := mustExchange(t, "udp", fmt.Sprintf("%s:%d", b, port), "rr.", dns.TypeA)
	if len(m.Answer) != 2 {
		t.Errorf("rr from the node: %d answers, want 2", len(m.Answer))
	}
	s.Close()
	if err := s.SetListen(addrs(a)); !errors.Is(err, ErrClosed) {
		t.Errorf("SetListen after Close = %v, want ErrClosed", err)
	}
	if _, err := query(t, "tcp", fmt.Sprintf("%s:%d", b, port), "web.", dns.TypeA); err == nil {
		t.Errorf("%s still answers after Close", b)
	}
}

func TestSetListenErrors(t *testing.T) {
	s, _ := newTestServer(t)
	port := freePort(t, "127.0.0.3")
	s.port = port
	busy, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.3:%d", port))
	if err != nil {
		t.Fatalf("occupy port: %v", err)
	}
	defer busy.Close()
	err = s.SetListen(addrs("127.0.0.3", "192.0.2.1", "127.0.0.4"))
	if !errors.Is(err, syscall.EADDRINUSE) || !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("SetListen = %v, want errors wrapping EADDRINUSE and EADDRNOTAVAIL", err)
	}
	for _, want := range []string{fmt.Sprintf("127.0.0.3:%d/udp", port), "in use", "192.0.2.1", "not assigned"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if got := s.Listening(); !slices.Equal(got, addrs("127.0.0.4")) {
		t.Errorf("Listening = %v, want only the address that could be bound", got)
	}
}

// upstream runs a real DNS server on loopback answering every A question
// with 192.0.2.1, or, if silent, reading queries and never answering.
func upstream(t *testing.T, silent bool) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("upstream listen: %v", err)
	}
	if silent {
		t.Cleanup(func() { pc.Close() })
		return pc.LocalAddr().String()
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A:   net.IPv4(192, 0, 2, 1),
		})
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return pc.LocalAddr().String()
}

func TestForward(t *testing.T) {
	good, silent := upstream(t, false), upstream(t, true)
	f := newStoreFeed(t)
	port := freePort(t, "127.0.0.5")
	own := fmt.Sprintf("127.0.0.5:%d", port)
	tests := []struct {
		name      string
		upstreams []string
		rcode     int
		want      []string
	}{
		{"answered", []string{good}, dns.RcodeSuccess, []string{"192.0.2.1"}},
		{"first silent, second answers", []string{silent, good}, dns.RcodeSuccess, []string{"192.0.2.1"}},
		{"silent", []string{silent}, dns.RcodeServerFailure, nil},
		{"only itself", []string{own}, dns.RcodeServerFailure, nil},
		{"none", []string{}, dns.RcodeServerFailure, nil},
	}
	for _, tc := range tests {
		s, err := New(Config{Store: f.s, Upstreams: tc.upstreams, Port: port,
			ForwardTimeout: 300 * time.Millisecond, Logger: quietLogger()})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if err := s.SetListen(addrs("127.0.0.5")); err != nil {
			t.Fatalf("SetListen: %v", err)
		}
		m := mustExchange(t, "udp", own, "www.example.com.", dns.TypeA)
		s.Close()
		if m.Rcode != tc.rcode || (tc.want != nil && !slices.Equal(aRecords(m), addrs(tc.want...))) {
			t.Errorf("%s: rcode %s answers %v, want %s %v", tc.name, dns.RcodeToString[m.Rcode], aRecords(m),
				dns.RcodeToString[tc.rcode], tc.want)
		}
	}
}

// TestCloseDuringForward checks that Close cancels a query waiting for a
// silent upstream instead of waiting out the forward timeout.
func TestCloseDuringForward(t *testing.T) {
	silent := upstream(t, true)
	f := newStoreFeed(t)
	port := freePort(t, "127.0.0.6")
	s, err := New(Config{Store: f.s, Upstreams: []string{silent}, Port: port,
		ForwardTimeout: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.SetListen(addrs("127.0.0.6")); err != nil {
		t.Fatalf("SetListen: %v", err)
	}
	got := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Net: "udp", Timeout: time.Minute}
		m, _, _ := c.Exchange(question("slow.example.", dns.TypeA), fmt.Sprintf("127.0.0.6:%d", port))
		got <- m
	}()
	waitFor(t, "query reaching the upstream", 5*time.Second, func() (bool, string) {
		return s.ctx.Err() == nil && forwarding(s), "not yet"
	})
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return while a query was being forwarded")
	}
	if m := <-got; m == nil || m.Rcode != dns.RcodeServerFailure {
		t.Errorf("interrupted query: reply %v, want SERVFAIL", m)
	}
}

// forwarding reports whether a query is waiting on an upstream.
func forwarding(s *Server) bool {
	return s.inflight.Load() > 0
}
