//go:build e2e && chaos

package e2e

import (
	"slices"
	"testing"
	"time"
)

// TestParseEndpointSample needs no lab: it pins the parsing of dig, nft
// and ctr output that the endpoint watch relies on.
func TestParseEndpointSample(t *testing.T) {
	out := `10.240.2.3
10.240.1.2
@@@
table ip shoal {
	map allvips {
		type ipv4_addr . inet_proto : verdict
		elements = { 10.240.0.2 . tcp : goto svc-1, 10.240.0.2 . udp : goto svc-1,
			     10.240.0.3 . tcp : goto svc-2, 10.240.0.3 . udp : goto svc-2 }
	}
	map slots-1 {
		type integer : ipv4_addr
		elements = { 0 : 10.240.9.9 }
	}
	map slots-2 {
		type integer : ipv4_addr
		elements = { 0 : 10.240.2.3, 1 : 10.240.1.2,
			     2 : 10.240.2.3 }
	}
}
@@@
TASK                         PID      STATUS
abc                          1234     RUNNING
def                          1240     STOPPED
`
	s := parseEndpointSample(out, "10.240.0.3")
	if want := []string{"10.240.1.2", "10.240.2.3"}; !slices.Equal(s.DNS, want) || !slices.Equal(s.VIP, want) {
		t.Errorf("DNS %v, VIP %v; want both %v", s.DNS, s.VIP, want)
	}
	if len(s.Runs) != 1 || s.Runs["abc"] != "1234" {
		t.Errorf("running containers %v, want abc=1234 only", s.Runs)
	}
	if s := parseEndpointSample("@@@\n@@@\n", "10.240.0.3"); len(s.DNS)+len(s.VIP)+len(s.Runs) != 0 {
		t.Errorf("empty output parsed as %+v", s)
	}
}

// TestGoneSince pins when a task counts as gone by its node's samples.
func TestGoneSince(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	runs := map[string]string{"x": "1"}
	ss := []endpointSample{{At: at(0), Runs: runs}, {At: at(1), Runs: runs}, {At: at(2)}, {At: at(3)}}
	for _, tc := range []struct {
		at    int
		gone  bool
		since int
	}{{0, false, 0}, {1, false, 0}, {2, true, 1}, {5, true, 1}} {
		since, gone := goneSince(ss, "x", at(tc.at))
		if gone != tc.gone || (gone && !since.Equal(at(tc.since))) {
			t.Errorf("at +%ds: gone %v since %v, want %v since +%ds", tc.at, gone, since, tc.gone, tc.since)
		}
	}
}
