package overlay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

func TestIPAMAllocateSkipsReservedAndFills(t *testing.T) {
	p, err := NewIPAM(pfx("10.10.1.0/29"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range 5 {
		a, err := p.Allocate(fmt.Sprint("t", i))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if fmt.Sprint(got) != "[10.10.1.2 10.10.1.3 10.10.1.4 10.10.1.5 10.10.1.6]" {
		t.Fatalf("allocated %v", got)
	}
	if _, err := p.Allocate("t5"); !errors.Is(err, ErrSubnetFull) {
		t.Fatalf("Allocate on full subnet = %v, want ErrSubnetFull", err)
	}
	if a, _ := p.Allocate("t2"); a.String() != "10.10.1.4" {
		t.Fatalf("Allocate for an owner that has an address gave %s, want its 10.10.1.4", a)
	}
}

func TestIPAMRoundRobinReuse(t *testing.T) {
	p, _ := NewIPAM(pfx("10.10.1.0/29"))
	a, _ := p.Allocate("a")
	b, _ := p.Allocate("b")
	p.Release("a")
	c, _ := p.Allocate("c")
	if c == a || c == b {
		t.Fatalf("c got %s right after a released it (b=%s); want the next unused address", c, b)
	}
	for i := range 3 {
		if _, err := p.Allocate(fmt.Sprint("x", i)); err != nil {
			t.Fatal(err)
		}
	}
	p.Release("b")
	d, err := p.Allocate("d")
	if err != nil || d != b {
		t.Fatalf("after wrapping, d = %s, %v; want the only free address %s", d, err, b)
	}
}

func TestIPAMRestore(t *testing.T) {
	p, _ := NewIPAM(pfx("10.10.1.0/24"))
	ip := netip.MustParseAddr
	if err := p.Restore("t1", ip("10.10.1.7")); err != nil {
		t.Fatal(err)
	}
	if err := p.Restore("t1", ip("10.10.1.7")); err != nil {
		t.Fatalf("restoring the same pair again: %v", err)
	}
	checks := []struct {
		owner string
		addr  string
		want  error
	}{
		{"t2", "10.10.1.7", ErrAddrInUse},
		{"t1", "10.10.1.8", ErrAddrInUse},
		{"t3", "10.10.1.1", ErrInvalid},
		{"t3", "10.10.1.0", ErrInvalid},
		{"t3", "10.10.1.255", ErrInvalid},
		{"t3", "10.10.2.5", ErrInvalid},
	}
	for _, c := range checks {
		if err := p.Restore(c.owner, ip(c.addr)); !errors.Is(err, c.want) {
			t.Errorf("Restore(%s, %s) = %v, want %v", c.owner, c.addr, err, c.want)
		}
	}
	for i := range 300 {
		a, err := p.Allocate(fmt.Sprint("n", i))
		if i < 252 && (err != nil || a == ip("10.10.1.7")) {
			t.Fatalf("allocation %d = %s, %v: must skip the restored address", i, a, err)
		}
		if i >= 252 && !errors.Is(err, ErrSubnetFull) {
			t.Fatalf("allocation %d = %s, %v: want ErrSubnetFull", i, a, err)
		}
	}
}

func TestIPAMJSONRoundTrip(t *testing.T) {
	p, _ := NewIPAM(pfx("10.10.1.0/24"))
	for _, o := range []string{"a", "b", "c"} {
		if _, err := p.Allocate(o); err != nil {
			t.Fatal(err)
		}
	}
	p.Release("b")
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q IPAM
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if q.Subnet() != p.Subnet() {
		t.Fatalf("subnet %s, want %s", q.Subnet(), p.Subnet())
	}
	for _, o := range []string{"a", "c"} {
		pa, _ := p.Lookup(o)
		if qa, ok := q.Lookup(o); !ok || qa != pa {
			t.Fatalf("%s: decoded %s, want %s", o, qa, pa)
		}
	}
	if _, ok := q.Lookup("b"); ok {
		t.Fatal("released owner b came back")
	}
	pn, _ := p.Allocate("d")
	qn, _ := q.Allocate("d")
	if pn != qn {
		t.Fatalf("decoded allocator continues at %s, original at %s", qn, pn)
	}
	bad := `{"Subnet":"10.10.1.0/24","Owners":{"a":"10.10.1.9","b":"10.10.1.9"}}`
	if err := json.Unmarshal([]byte(bad), &q); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("decoding a double allocation = %v, want ErrAddrInUse", err)
	}
}

func TestIPAMConcurrentAllocate(t *testing.T) {
	p, _ := NewIPAM(pfx("10.10.0.0/22"))
	var wg sync.WaitGroup
	got := make([]netip.Addr, 200)
	for i := range got {
		wg.Go(func() {
			a, err := p.Allocate(fmt.Sprint("t", i))
			if err != nil {
				t.Error(err)
			}
			got[i] = a
		})
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for _, a := range got {
		if seen[a] {
			t.Fatalf("address %s handed out twice", a)
		}
		seen[a] = true
	}
}

func TestNewIPAMRejects(t *testing.T) {
	for _, s := range []string{"10.10.1.0/31", "fd00::/64"} {
		if _, err := NewIPAM(pfx(s)); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewIPAM(%s) = %v, want ErrInvalid", s, err)
		}
	}
}
