package overlay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// IPAM errors, to test with errors.Is.
var (
	ErrSubnetFull = errors.New("overlay: subnet has no free address")
	ErrAddrInUse  = errors.New("overlay: address in use")
)

// IPAM allocates the host addresses of one node-local subnet to owners (task
// IDs). It never hands out the network (.0, which the L3 overlay puts on the
// VXLAN device), gateway (.1, on the bridge) or broadcast address. It hands
// addresses out round-robin, so a released address is reused as late as
// possible (stale ARP and conntrack entries of the previous owner expire
// first). It does no I/O: persist it with MarshalJSON, or rebuild it after a
// restart with Restore from the tasks that still run. Safe for concurrent use.
type IPAM struct {
	mu     sync.Mutex
	subnet netip.Prefix
	owners map[string]netip.Addr
	used   map[netip.Addr]string
	next   netip.Addr
}

// NewIPAM returns an empty allocator for subnet (IPv4, /30 or shorter).
func NewIPAM(subnet netip.Prefix) (*IPAM, error) {
	if err := checkSubnet(subnet); err != nil {
		return nil, fmt.Errorf("%w: IPAM: %w", ErrInvalid, err)
	}
	subnet = subnet.Masked()
	return &IPAM{subnet: subnet, owners: map[string]netip.Addr{}, used: map[netip.Addr]string{},
		next: firstHost(subnet)}, nil
}

// Subnet is the subnet the allocator serves.
func (p *IPAM) Subnet() netip.Prefix { return p.subnet }

func firstHost(s netip.Prefix) netip.Addr { return Gateway(s).Next() }

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(s netip.Prefix) netip.Addr {
	s = s.Masked()
	b := s.Addr().As4()
	for i := range b {
		switch lo := i * 8; {
		case s.Bits() <= lo:
			b[i] = 0xff
		case s.Bits() < lo+8:
			b[i] |= 0xff >> (s.Bits() - lo)
		}
	}
	return netip.AddrFrom4(b)
}

// Allocate returns owner's address, giving it the next free one if it has
// none. It fails with ErrSubnetFull when every host address is taken.
func (p *IPAM) Allocate(owner string) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.owners[owner]; ok {
		return a, nil
	}
	first, last := firstHost(p.subnet), lastAddr(p.subnet)
	a := p.next
	if !isHostAddr(p.subnet, a) {
		a = first
	}
	// Bounded by the subnet size: every host address is visited once.
	for range 1 << (32 - p.subnet.Bits()) {
		if _, taken := p.used[a]; !taken {
			p.owners[owner], p.used[a] = a, owner
			p.next = a.Next()
			return a, nil
		}
		if a = a.Next(); a == last {
			a = first
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: %s: all %d addresses are in use (release finished tasks' addresses)",
		ErrSubnetFull, p.subnet, len(p.used))
}

// Release frees owner's address; releasing an owner without one is a no-op.
func (p *IPAM) Release(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.owners[owner]; ok {
		delete(p.owners, owner)
		delete(p.used, a)
	}
}

// Lookup returns owner's address, if it has one.
func (p *IPAM) Lookup(owner string) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.owners[owner]
	return a, ok
}

// Restore records that owner holds addr (a task still running after an
// agent restart). Restoring the same pair again is a no-op; it fails with
// ErrAddrInUse when addr or owner is already bound to something else, and
// with ErrInvalid when addr is not a host address of the subnet.
func (p *IPAM) Restore(owner string, addr netip.Addr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restore(owner, addr)
}

func (p *IPAM) restore(owner string, addr netip.Addr) error {
	if !isHostAddr(p.subnet, addr) {
		return fmt.Errorf("%w: restore %q: %s is not a host address of %s", ErrInvalid, owner, addr, p.subnet)
	}
	if o, ok := p.used[addr]; ok && o != owner {
		return fmt.Errorf("%w: restore %q: %s is held by %q", ErrAddrInUse, owner, addr, o)
	}
	if a, ok := p.owners[owner]; ok && a != addr {
		return fmt.Errorf("%w: restore %q: owner already holds %s", ErrAddrInUse, owner, a)
	}
	p.owners[owner], p.used[addr] = addr, owner
	return nil
}

type ipamJSON struct {
	Subnet netip.Prefix          `json:"Subnet"`
	Next   netip.Addr            `json:"Next"`
	Owners map[string]netip.Addr `json:"Owners"`
}

// MarshalJSON encodes the subnet, the allocations and the round-robin
// position.
func (p *IPAM) MarshalJSON() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return json.Marshal(ipamJSON{Subnet: p.subnet, Next: p.next, Owners: p.owners})
}

// UnmarshalJSON replaces p's content with an encoded allocator, checking
// every allocation as Restore does.
func (p *IPAM) UnmarshalJSON(b []byte) error {
	var j ipamJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("overlay: decode IPAM: %w", err)
	}
	q, err := NewIPAM(j.Subnet)
	if err != nil {
		return err
	}
	for o, a := range j.Owners {
		if err := q.restore(o, a); err != nil {
			return fmt.Errorf("overlay: decode IPAM: %w", err)
		}
	}
	if j.Next.IsValid() {
		q.next = j.Next
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.subnet, p.owners, p.used, p.next = q.subnet, q.owners, q.used, q.next
	return nil
}
