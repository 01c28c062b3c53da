package overlay

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

func TestLeaseSubnet(t *testing.T) {
	cases := []struct {
		name   string
		cidr   string
		length int
		taken  map[string]string
		node   string
		want   string
		err    error
	}{
		{"first node", "10.10.0.0/16", 24, nil, "a", "10.10.0.0/24", nil},
		{"lowest free", "10.10.0.0/16", 24, map[string]string{"a": "10.10.0.0/24", "b": "10.10.2.0/24"}, "c", "10.10.1.0/24", nil},
		{"keeps its lease", "10.10.0.0/16", 24, map[string]string{"a": "10.10.0.0/24", "c": "10.10.9.0/24"}, "c", "10.10.9.0/24", nil},
		{"lease outside cidr replaced", "10.10.0.0/16", 24, map[string]string{"c": "10.99.9.0/24"}, "c", "10.10.0.0/24", nil},
		{"lease of wrong length replaced", "10.10.0.0/16", 24, map[string]string{"c": "10.10.4.0/23"}, "c", "10.10.0.0/24", nil},
		{"conflict: smaller ID keeps", "10.10.0.0/16", 24, map[string]string{"a": "10.10.0.0/24", "b": "10.10.0.0/24"}, "a", "10.10.0.0/24", nil},
		{"conflict: larger ID moves", "10.10.0.0/16", 24, map[string]string{"a": "10.10.0.0/24", "b": "10.10.0.0/24"}, "b", "10.10.1.0/24", nil},
		{"skips past a wider lease", "10.10.0.0/16", 24, map[string]string{"old": "10.10.0.0/22"}, "n", "10.10.4.0/24", nil},
		{"garbage ignored", "10.10.0.0/16", 24, map[string]string{"x": "bogus"}, "n", "10.10.0.0/24", nil},
		{"full", "10.10.0.0/23", 24, map[string]string{"a": "10.10.0.0/24", "b": "10.10.1.0/24"}, "c", "", ErrNoFreeSubnet},
		{"host bits", "10.10.1.0/16", 24, nil, "a", "", ErrInvalid},
		{"too long", "10.10.0.0/16", 31, nil, "a", "", ErrInvalid},
		{"shorter than cidr", "10.10.0.0/16", 8, nil, "a", "", ErrInvalid},
		{"IPv6", "fd00::/48", 64, nil, "a", "", ErrInvalid},
		{"no node", "10.10.0.0/16", 24, nil, "", "", ErrInvalid},
		{"top of IPv4 space", "255.255.255.0/24", 30, map[string]string{"a": "255.255.255.0/25", "b": "255.255.255.128/26", "c": "255.255.255.192/27", "d": "255.255.255.224/28", "e": "255.255.255.240/29", "f": "255.255.255.248/30"}, "g", "255.255.255.252/30", nil},
	}
	for _, c := range cases {
		got, err := LeaseSubnet(c.cidr, c.length, c.taken, c.node)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: LeaseSubnet = %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
}

// TestLeaseSubnetFillsPool leases every /24 of a /20 one node at a time and
// checks they are distinct, stable, and that the pool then reports full.
func TestLeaseSubnetFillsPool(t *testing.T) {
	taken := map[string]string{}
	for i := range 16 {
		id := fmt.Sprintf("node-%02d", i)
		s, err := LeaseSubnet("10.10.0.0/20", 24, taken, id)
		if err != nil {
			t.Fatal(err)
		}
		for other, o := range taken {
			if o == s {
				t.Fatalf("%s got %s, already held by %s", id, s, other)
			}
		}
		taken[id] = s
	}
	for id, s := range taken {
		if again, err := LeaseSubnet("10.10.0.0/20", 24, taken, id); again != s || err != nil {
			t.Fatalf("%s: lease moved from %s to %s (%v)", id, s, again, err)
		}
	}
	if _, err := LeaseSubnet("10.10.0.0/20", 24, taken, "late"); !errors.Is(err, ErrNoFreeSubnet) {
		t.Fatalf("17th node: %v, want ErrNoFreeSubnet", err)
	}
}

func TestNodeBitsAndVIPBlock(t *testing.T) {
	for bits, want := range map[int]int{8: 24, 16: 24, 20: 24, 22: 26, 24: 28} {
		if got := NodeBits(bits); got != want {
			t.Errorf("NodeBits(%d) = %d, want %d", bits, got, want)
		}
	}
	if got := VIPBlock(netip.MustParsePrefix("10.240.0.0/16")); got.String() != "10.240.0.0/24" {
		t.Errorf("VIPBlock(10.240.0.0/16) = %s", got)
	}
	if got := VIPBlock(netip.MustParsePrefix("10.9.0.0/24")); got.String() != "10.9.0.0/28" {
		t.Errorf("VIPBlock(10.9.0.0/24) = %s", got)
	}
}

func TestFreeBlock(t *testing.T) {
	pool := netip.MustParsePrefix("10.241.0.0/16")
	taken := []netip.Prefix{netip.MustParsePrefix("10.241.0.0/24"), netip.MustParsePrefix("10.241.2.0/23")}
	if got, err := FreeBlock(pool, 24, taken); err != nil || got.String() != "10.241.1.0/24" {
		t.Errorf("FreeBlock = %v, %v; want 10.241.1.0/24", got, err)
	}
	full := []netip.Prefix{pool}
	if _, err := FreeBlock(pool, 24, full); !errors.Is(err, ErrNoFreeSubnet) {
		t.Errorf("FreeBlock of a full pool: err = %v, want ErrNoFreeSubnet", err)
	}
}
