package lb

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

var (
	ip      = netip.MustParseAddr
	ap      = netip.MustParseAddrPort
	web     = Service{Key: "web", VIP: ip("10.96.0.1"), Port: 80, Proto: TCP}
	all     = Service{Key: "all", VIP: ip("10.96.0.5")}
	pubOnly = Service{Key: "pub", Port: 80, Proto: TCP, PublishedPort: 8080}
)

func ipBackend(addr string, w int) Backend { return Backend{IP: ip(addr), Weight: w} }

func withBackends(s Service, bs ...Backend) Service {
	s.Backends = bs
	return s
}

func be(addr string, w int) Backend {
	p := ap(addr)
	return Backend{IP: p.Addr(), Port: p.Port(), Weight: w}
}

func TestNormalizeRejects(t *testing.T) {
	pub := func(s Service, port uint16) Service { s.PublishedPort = port; return s }
	api := Service{Key: "api", VIP: ip("10.96.0.2"), Port: 80, Proto: TCP}
	tests := []struct {
		name string
		svcs []Service
		want string
	}{
		{"empty key", []Service{{VIP: ip("10.96.0.1"), Port: 80, Proto: TCP}}, "empty Key"},
		{"ipv6 VIP", []Service{{Key: "a", VIP: ip("fd00::1"), Port: 80, Proto: TCP}}, "must be an IPv4"},
		{"all ports with a protocol", []Service{{Key: "a", VIP: ip("10.96.0.1"), Proto: TCP}}, "leave Proto empty"},
		{"all ports published", []Service{{Key: "a", VIP: ip("10.96.0.1"), PublishedPort: 8080}}, "publish it in a service of its own"},
		{"all ports backend with port", []Service{withBackends(all, be("10.0.0.1:80", 1))}, "leave it 0"},
		{"published without target", []Service{{Key: "a", Proto: TCP, PublishedPort: 8080}}, "needs a target Port"},
		{"neither VIP nor published", []Service{{Key: "a", Port: 80, Proto: TCP}}, "no VIP and no published port"},
		{"published without protocol", []Service{{Key: "a", Port: 80, PublishedPort: 8080}}, `protocol ""`},
		{"VIP on all ports twice", []Service{all, {Key: "b", VIP: all.VIP}}, "already used on all ports"},
		{"port VIP on an all-port VIP", []Service{all, {Key: "b", VIP: all.VIP, Port: 80, Proto: TCP}}, "already used on all ports"},
		{"all-port VIP on a port VIP", []Service{web, {Key: "b", VIP: web.VIP}}, "for all ports is already used"},
		{"published twice, no VIP", []Service{pubOnly, pub(api, 8080)}, "published port 8080/tcp already used"},
		{"sctp", []Service{{Key: "a", VIP: ip("10.96.0.1"), Port: 80, Proto: "sctp"}}, `protocol "sctp"`},
		{"duplicate key", []Service{web, web}, "key used twice"},
		{"duplicate frontend", []Service{web, {Key: "b", VIP: web.VIP, Port: 80, Proto: TCP}}, "already used by service"},
		{"duplicate published", []Service{pub(web, 8080), pub(api, 8080)}, "published port 8080/tcp already used"},
		{"backend port 0", []Service{withBackends(web, be("10.0.0.1:0", 1))}, "port must not be 0"},
		{"negative weight", []Service{withBackends(web, be("10.0.0.1:80", -1))}, "negative weight"},
		{"backend twice", []Service{withBackends(web, be("10.0.0.1:80", 1), be("10.0.0.1:80", 2))}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := normalize(Config{Services: tt.svcs})
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("normalize: got %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func TestNormalizeSortsAndAccepts(t *testing.T) {
	udp := Service{Key: "dns", VIP: web.VIP, Port: 80, Proto: UDP, PublishedPort: 8080}
	tcp := web
	tcp.PublishedPort = 8080 // same port, other protocol: allowed
	tcp.Backends = []Backend{be("10.0.0.2:80", 1), {IP: ip("::ffff:10.0.0.1"), Port: 80, Weight: 0}}
	got, err := normalize(Config{Services: []Service{tcp, udp}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Backend{be("10.0.0.1:80", 0), be("10.0.0.2:80", 1)}
	if !slices.Equal(got["web"].Backends, want) {
		t.Errorf("backends: got %v, want %v (sorted, unmapped)", got["web"].Backends, want)
	}
	if tcp.Backends[0].IP != ip("10.0.0.2") {
		t.Errorf("normalize reordered the caller's slice")
	}
	// The three shapes side by side, the published port on another
	// protocol than udp's.
	allPorts := withBackends(all, ipBackend("10.0.0.2", 1), ipBackend("10.0.0.1", 1))
	pubUDP := Service{Key: "pub", Port: 53, Proto: UDP, PublishedPort: 8080, Backends: []Backend{be("10.0.0.1:53", 1)}}
	got, err = normalize(Config{Services: []Service{allPorts, pubUDP, web}})
	if err != nil {
		t.Fatal(err)
	}
	if b := got["all"].Backends; len(b) != 2 || b[0].IP != ip("10.0.0.1") {
		t.Errorf("all-port backends: %v, want sorted", b)
	}
}

func TestSlots(t *testing.T) {
	tests := []struct {
		name string
		bs   []Backend
		want []string
	}{
		{"none", nil, nil},
		{"all draining", []Backend{be("10.0.0.1:80", 0)}, nil},
		{"equal weights reduce to one slot", []Backend{be("10.0.0.1:80", 5), be("10.0.0.2:80", 5)},
			[]string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"weights by gcd, draining skipped",
			[]Backend{be("10.0.0.1:80", 2), be("10.0.0.2:80", 0), be("10.0.0.3:80", 4)},
			[]string{"10.0.0.1:80", "10.0.0.3:80", "10.0.0.3:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slots(tt.bs)
			var gs []string
			for _, g := range got {
				gs = append(gs, g.String())
			}
			if !slices.Equal(gs, tt.want) {
				t.Errorf("slots: got %v, want %v", gs, tt.want)
			}
		})
	}
}

func TestSlotsCapped(t *testing.T) {
	got := slots([]Backend{be("10.0.0.1:80", 1), be("10.0.0.2:80", 1000)})
	if len(got) > maxSlots {
		t.Fatalf("got %d slots, cap is %d", len(got), maxSlots)
	}
	n1 := 0
	for _, g := range got {
		if g == ap("10.0.0.1:80") {
			n1++
		}
	}
	if n1 != 1 || len(got)-n1 < 200 {
		t.Errorf("capped slots: light backend has %d, heavy %d; want 1 and about %d", n1, len(got)-n1, maxSlots)
	}
}

func TestFlowsToCut(t *testing.T) {
	old := withBackends(web, be("10.0.0.1:80", 1), be("10.0.0.2:80", 1), be("10.0.0.3:80", 1))
	old.PublishedPort = 8080
	prev := map[string]Service{"web": old, "gone": {Key: "gone", VIP: ip("10.96.0.9"), Port: 53, Proto: UDP,
		Backends: []Backend{be("10.0.0.9:53", 1)}}}
	next := withBackends(web, be("10.0.0.1:80", 0), be("10.0.0.3:80", 1)) // 2 removed, 1 draining
	got := flowsToCut(prev, map[string]Service{"web": next})
	want := []flowTarget{
		{proto: 17, vip: ip("10.96.0.9"), port: 53, backend: ap("10.0.0.9:53")},
		{proto: 6, vip: web.VIP, port: 80, published: 8080, backend: ap("10.0.0.2:80")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("flowsToCut: got %+v, want %+v", got, want)
	}
	if cut := flowsToCut(prev, prev); len(cut) != 0 {
		t.Errorf("unchanged services cut %+v", cut)
	}
	oldAll := withBackends(all, ipBackend("10.0.0.1", 1), ipBackend("10.0.0.2", 1))
	oldPub := withBackends(pubOnly, be("10.0.0.1:80", 1), be("10.0.0.2:80", 1))
	prev = map[string]Service{"all": oldAll, "pub": oldPub}
	got = flowsToCut(prev, map[string]Service{
		"all": withBackends(all, ipBackend("10.0.0.1", 1)),
		"pub": withBackends(pubOnly, be("10.0.0.2:80", 1)),
	})
	want = []flowTarget{
		{vip: all.VIP, backend: ap("10.0.0.2:0")},
		{proto: 6, port: 80, published: 8080, backend: ap("10.0.0.1:80")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("flowsToCut of all-port and published services: got %+v, want %+v", got, want)
	}
}

func TestFlowFilter(t *testing.T) {
	f := flowFilter{{proto: 6, vip: web.VIP, port: 80, published: 8080, backend: ap("10.0.0.2:8000")}}
	flow := func(proto uint8, dst string, rsrc string) *netlink.ConntrackFlow {
		d, r := ap(dst), ap(rsrc)
		return &netlink.ConntrackFlow{
			Forward: netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP("10.1.0.5"), SrcPort: 40000,
				DstIP: d.Addr().AsSlice(), DstPort: d.Port()},
			Reverse: netlink.IPTuple{Protocol: proto, SrcIP: r.Addr().AsSlice(), SrcPort: r.Port(),
				DstIP: net.ParseIP("10.1.0.5"), DstPort: 40000},
		}
	}
	tests := []struct {
		name string
		flow *netlink.ConntrackFlow
		want bool
	}{
		{"via VIP", flow(6, "10.96.0.1:80", "10.0.0.2:8000"), true},
		{"via published port", flow(6, "192.168.1.10:8080", "10.0.0.2:8000"), true},
		{"other backend", flow(6, "10.96.0.1:80", "10.0.0.3:8000"), false},
		{"other backend port", flow(6, "10.96.0.1:80", "10.0.0.2:9000"), false},
		{"udp", flow(17, "10.96.0.1:80", "10.0.0.2:8000"), false},
		{"direct to backend", flow(6, "10.0.0.2:8080", "10.0.0.2:8000"), false},
		{"other VIP", flow(6, "10.96.0.7:80", "10.0.0.2:8000"), false},
	}
	for _, tt := range tests {
		if got := f.MatchConntrackFlow(tt.flow); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
	allF := flowFilter{{vip: all.VIP, backend: ap("10.0.0.2:0")}}
	pubF := flowFilter{{proto: 6, port: 80, published: 8080, backend: ap("10.0.0.2:80")}}
	tests = []struct {
		name string
		flow *netlink.ConntrackFlow
		want bool
	}{
		{"all ports: tcp 80", flow(6, "10.96.0.5:80", "10.0.0.2:80"), true},
		{"all ports: udp 53", flow(17, "10.96.0.5:53", "10.0.0.2:53"), true},
		{"all ports: other backend", flow(6, "10.96.0.5:80", "10.0.0.3:80"), false},
		{"all ports: other VIP", flow(6, "10.96.0.1:80", "10.0.0.2:80"), false},
		{"all ports: icmp", flow(1, "10.96.0.5:0", "10.0.0.2:0"), false},
	}
	for _, tt := range tests {
		if got := allF.MatchConntrackFlow(tt.flow); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !pubF.MatchConntrackFlow(flow(6, "192.168.1.10:8080", "10.0.0.2:80")) {
		t.Errorf("published-only service: flow via the published port not matched")
	}
	if pubF.MatchConntrackFlow(flow(6, "10.96.0.1:80", "10.0.0.2:80")) {
		t.Errorf("published-only service: flow to a VIP at its target port matched")
	}
}

func TestAssignMarks(t *testing.T) {
	const bit = DefaultMasqueradeMark
	svcs := byKey([]Service{all, pubOnly, web, {Key: "all2", VIP: ip("10.96.0.6")}})
	old := map[markOwner]uint32{{VIP: ip("10.96.0.6")}: bit | 7, {VIP: ip("10.96.0.99")}: bit | 8}
	used := map[uint32]bool{bit | 1: true} // a stale IPVS service
	got, last, err := assignMarks(old, svcs, used, bit, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[markOwner]uint32{
		{VIP: ip("10.96.0.6")}:   bit | 7, // kept
		{Proto: TCP, Port: 8080}: bit | 2, // new, skipping the used bit|1
		{VIP: all.VIP}:           bit | 3,
	}
	if !reflect.DeepEqual(got, want) || last != 3 {
		t.Errorf("assignMarks: got %v last %d, want %v last 3", got, last, want)
	}
	again, last2, err := assignMarks(got, svcs, used, bit, last)
	if err != nil || !reflect.DeepEqual(again, got) || last2 != last {
		t.Errorf("second assignMarks changed marks: %v %d %v", again, last2, err)
	}
	// n overlapping the bit is skipped.
	got, _, err = assignMarks(nil, byKey([]Service{all}), nil, 0x2, 1)
	if err != nil || got[markOwner{VIP: all.VIP}] != 0x2|4 {
		t.Errorf("mark after n=1 with bit 0x2: got %#x, %v; want 0x6", got[markOwner{VIP: all.VIP}], err)
	}
}
