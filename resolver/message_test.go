package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-org/shoal/store"
)

func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// newTestServer returns a server without listeners over a store holding
// the fixture, with no upstream.
func newTestServer(t *testing.T) (*Server, *storeFeed) {
	t.Helper()
	f := newStoreFeed(t)
	nets, svcs, tasks := fixture()
	var objs []any
	for _, n := range nets {
		objs = append(objs, n)
	}
	for _, s := range svcs {
		objs = append(objs, s)
	}
	for _, tk := range tasks {
		objs = append(objs, tk)
	}
	f.put(objs...)
	s, err := New(Config{Store: f.s, Upstreams: []string{}, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, f
}

func TestRespond(t *testing.T) {
	s, _ := newTestServer(t)
	front := netip.MustParseAddr("10.240.1.5")
	other := netip.MustParseAddr("10.242.1.1")
	notify := question("web.", dns.TypeA)
	notify.Opcode = dns.OpcodeNotify
	two := question("web.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	chaos := question("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	tests := []struct {
		name   string
		client netip.Addr
		req    *dns.Msg
		rcode  int
		aa     bool
		want   []string
	}{
		{"vip", front, question("Web.", dns.TypeA), dns.RcodeSuccess, true, []string{"10.240.0.2"}},
		{"tasks", front, question("tasks.web.", dns.TypeA), dns.RcodeSuccess, true, []string{"10.240.1.5", "10.240.1.9", "10.240.2.5"}},
		{"aaaa", front, question("web.", dns.TypeAAAA), dns.RcodeSuccess, true, nil},
		{"no serving task", other, question("tasks.empty.other.", dns.TypeA), dns.RcodeSuccess, true, nil},
		{"other network", front, question("tasks.empty.", dns.TypeA), dns.RcodeNameError, true, nil},
		{"hidden", front, question("rr.", dns.TypeA), dns.RcodeNameError, true, nil},
		{"external, no upstream", front, question("example.com.", dns.TypeA), dns.RcodeServerFailure, false, nil},
		{"notify", front, notify, dns.RcodeNotImplemented, false, nil},
		{"two questions", front, two, dns.RcodeFormatError, false, nil},
		{"chaos class", front, chaos, dns.RcodeNotImplemented, false, nil},
	}
	for _, tc := range tests {
		m := s.respond(tc.req, tc.client, false)
		if m.Id != tc.req.Id || !m.Response || !m.RecursionAvailable {
			t.Errorf("%s: header id=%d response=%v ra=%v, want id %d, response, RA", tc.name, m.Id, m.Response, m.RecursionAvailable, tc.req.Id)
		}
		if m.Rcode != tc.rcode || m.Authoritative != tc.aa || !slices.Equal(aRecords(m), addrs(tc.want...)) {
			t.Errorf("%s: rcode %s aa=%v answers %v, want %s aa=%v %v", tc.name,
				dns.RcodeToString[m.Rcode], m.Authoritative, aRecords(m), dns.RcodeToString[tc.rcode], tc.aa, tc.want)
		}
	}
}

func TestAnswerRecords(t *testing.T) {
	req := question("Tasks.Web.", dns.TypeA)
	res := Result{Kind: Found, IPs: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3")}
	firsts := map[string]bool{}
	for range 200 {
		m := answer(req, res)
		if len(m.Answer) != 3 {
			t.Fatalf("answers = %d, want 3", len(m.Answer))
		}
		for _, rr := range m.Answer {
			h := rr.Header()
			if h.Name != "Tasks.Web." || h.Ttl != TTL || h.Rrtype != dns.TypeA || h.Class != dns.ClassINET {
				t.Fatalf("record header %+v, want the question's name, class IN, type A, TTL %d", h, TTL)
			}
		}
		if !slices.Equal(aRecords(m), res.IPs) {
			t.Fatalf("answers %v, want %v", aRecords(m), res.IPs)
		}
		firsts[m.Answer[0].(*dns.A).A.String()] = true
	}
	if len(firsts) != 3 {
		t.Errorf("first answer over 200 replies took %d values, want all 3 (rotation)", len(firsts))
	}
}

func TestFitTruncation(t *testing.T) {
	var ips []netip.Addr
	for i := range 200 {
		ips = append(ips, netip.AddrFrom4([4]byte{10, 240, byte(i / 250), byte(i%250 + 2)}))
	}
	res := Result{Kind: Found, IPs: ips}
	edns := func(size uint16) *dns.Msg {
		m := question("tasks.big.", dns.TypeA)
		m.SetEdns0(size, false)
		return m
	}
	tests := []struct {
		name     string
		req      *dns.Msg
		tcp      bool
		tc       bool
		maxBytes int
		all      bool
	}{
		{"udp no edns", question("tasks.big.", dns.TypeA), false, true, 512, false},
		{"udp edns 1232", edns(1232), false, true, 1232, false},
		{"udp edns 4096", edns(4096), false, false, 4096, true},
		{"tcp", question("tasks.big.", dns.TypeA), true, false, dns.MaxMsgSize, true},
	}
	for _, tc := range tests {
		m := answer(tc.req, res)
		fit(tc.req, m, tc.tcp)
		wire, err := m.Pack()
		if err != nil {
			t.Fatalf("%s: pack: %v", tc.name, err)
		}
		if m.Truncated != tc.tc || len(wire) > tc.maxBytes || (len(m.Answer) == len(ips)) != tc.all {
			t.Errorf("%s: TC=%v, %d bytes, %d answers; want TC=%v, <= %d bytes, all=%v",
				tc.name, m.Truncated, len(wire), len(m.Answer), tc.tc, tc.maxBytes, tc.all)
		}
		if (tc.req.IsEdns0() != nil) != (m.IsEdns0() != nil) {
			t.Errorf("%s: reply OPT present=%v, want as in query", tc.name, m.IsEdns0() != nil)
		}
	}
}

func TestParseUpstreams(t *testing.T) {
	conf := `# generated
search example.com
nameserver 127.0.0.53
nameserver 10.0.0.2
nameserver ::1
nameserver 10.240.1.1
nameserver 2001:db8::53
nameserver bogus
nameserver 10.0.0.2
options edns0 trust-ad
`
	got, err := ParseUpstreams(strings.NewReader(conf), netip.MustParseAddr("10.240.1.1"))
	if err != nil {
		t.Fatalf("ParseUpstreams: %v", err)
	}
	want := []string{"10.0.0.2:53", "[2001:db8::53]:53"}
	if !slices.Equal(got, want) {
		t.Fatalf("ParseUpstreams = %v, want %v", got, want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	f := newStoreFeed(t)
	for _, cfg := range []Config{
		{},
		{Store: f.s, Upstreams: []string{"10.0.0.1"}},
		{Store: f.s, Port: 70000},
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded, want error", cfg)
		}
	}
}

// TestRunFollowsStore checks that records follow changes of each watched
// table while Run runs, and that Run returns after its context ends.
func TestRunFollowsStore(t *testing.T) {
	s, f := newTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	front := netip.MustParseAddr("10.240.1.5")
	expect := func(what, name string, want ...string) {
		t.Helper()
		waitFor(t, what, 5*time.Second, func() (bool, string) {
			got := s.Records().Lookup(front, name, dns.TypeA)
			ips := slices.SortedFunc(slices.Values(got.IPs), netip.Addr.Compare)
			return got.Kind == Found && slices.Equal(ips, addrs(want...)), fmt.Sprint(got.Kind, ips)
		})
	}
	f.put(task("w7", "web", "front", "10.240.3.5"))
	expect("scale up", "tasks.web", "10.240.1.5", "10.240.1.9", "10.240.2.5", "10.240.3.5")
	f.del(store.TableTasks, "w1")
	expect("scale down", "tasks.web", "10.240.1.9", "10.240.2.5", "10.240.3.5")
	f.put(service("api", nil, map[string]string{"front": "10.240.0.7"}))
	expect("new service", "api", "10.240.0.7")
	f.put(network("front", "10.240.0.0/16", false))
	waitFor(t, "default network removed", 5*time.Second, func() (bool, string) {
		k := s.Records().Lookup(front, "api", dns.TypeA).Kind
		return k == Forward, k.String()
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
