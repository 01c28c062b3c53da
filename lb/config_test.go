package lb

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

var (
	ip  = netip.MustParseAddr
	ap  = netip.MustParseAddrPort
	web = Service{Key: "web", VIP: ip("10.96.0.1"), Port: 80, Proto: TCP}
)

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
		{"no VIP", []Service{{Key: "a", Port: 80, Proto: TCP}}, "must be an IPv4"},
		{"port 0", []Service{{Key: "a", VIP: ip("10.96.0.1"), Proto: TCP}}, "port must not be 0"},
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
}
