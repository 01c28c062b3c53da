package overlay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ErrNoFreeSubnet is returned by LeaseSubnet when the CIDR is fully leased.
var ErrNoFreeSubnet = errors.New("overlay: no free subnet")

// LeaseSubnet picks the subnet of length prefixLen of cidr that node nodeID
// should hold, given the current leases (taken maps node ID to subnet). It is
// pure and deterministic, for the leader to call when a node joins:
//   - a node keeps a lease it already holds, if the lease still lies in cidr
//     with the right length; when two nodes claim overlapping subnets, the
//     node with the smaller ID keeps it and the other gets a new one;
//   - otherwise it gets the lowest subnet that overlaps no other node's lease.
//
// Unparsable entries in taken are ignored. IPv4 only.
func LeaseSubnet(cidr string, prefixLen int, taken map[string]string, nodeID string) (string, error) {
	pool, err := netip.ParsePrefix(cidr)
	switch {
	case err != nil:
		return "", fmt.Errorf("overlay: overlay CIDR %q: %w", cidr, err)
	case !pool.Addr().Is4():
		return "", fmt.Errorf("%w: overlay CIDR %s must be IPv4", ErrInvalid, pool)
	case pool != pool.Masked():
		return "", fmt.Errorf("%w: overlay CIDR %s has host bits set: use %s", ErrInvalid, pool, pool.Masked())
	case prefixLen < pool.Bits() || prefixLen > 30:
		return "", fmt.Errorf("%w: node subnet length /%d must be between /%d (the CIDR's) and /30",
			ErrInvalid, prefixLen, pool.Bits())
	case nodeID == "":
		return "", fmt.Errorf("%w: empty node ID", ErrInvalid)
	}
	others := map[string]netip.Prefix{}
	for id, s := range taken {
		if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
			others[id] = p.Masked()
		}
	}
	own, hasOwn := others[nodeID]
	delete(others, nodeID)
	if hasOwn && own.Bits() == prefixLen && pool.Contains(own.Addr()) && keepsLease(nodeID, own, others) {
		return own.String(), nil
	}
	return firstFree(pool, prefixLen, others)
}

// NodeBits is the prefix length of one node's block of a network whose
// range has prefix length networkBits: a /24 for ranges of /20 or wider,
// down to a /28 for a /24, so that even a small network has a VIP block and
// a few node blocks.
func NodeBits(networkBits int) int {
	return max(24, min(networkBits+4, 28))
}

// VIPBlock is the block of a network's range cidr that holds its services'
// VIPs: the first node-sized block, which is never leased to a node.
func VIPBlock(cidr netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(cidr.Masked().Addr(), NodeBits(cidr.Bits()))
}

// FreeBlock returns the lowest subnet of length bits in pool that overlaps
// none of taken, or an error wrapping ErrNoFreeSubnet.
func FreeBlock(pool netip.Prefix, bits int, taken []netip.Prefix) (netip.Prefix, error) {
	others := make(map[string]netip.Prefix, len(taken))
	for i, p := range taken {
		others[fmt.Sprint(i)] = p.Masked()
	}
	s, err := firstFree(pool.Masked(), bits, others)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.ParsePrefix(s)
}

// keepsLease reports whether no node with a smaller ID claims a subnet
// overlapping own.
func keepsLease(nodeID string, own netip.Prefix, others map[string]netip.Prefix) bool {
	for id, p := range others {
		if id < nodeID && p.Overlaps(own) {
			return false
		}
	}
	return true
}

// firstFree walks pool in steps of /prefixLen and returns the first subnet
// that overlaps none of others. A candidate that overlaps a lease jumps past
// that lease, so the walk takes at most len(others)+1 steps.
func firstFree(pool netip.Prefix, prefixLen int, others map[string]netip.Prefix) (string, error) {
	step := uint64(1) << (32 - prefixLen)
	start, end := u32(pool.Addr()), u32(pool.Addr())+(uint64(1)<<(32-pool.Bits()))
	for c := start; c+step <= end; {
		cand := netip.PrefixFrom(addr4(c), prefixLen)
		next := c + step
		blocked := false
		for _, p := range others {
			if p.Overlaps(cand) {
				blocked = true
				next = max(next, u32(p.Addr())+(uint64(1)<<(32-p.Bits())))
			}
		}
		if !blocked {
			return cand.String(), nil
		}
		c = (next + step - 1) / step * step
	}
	return "", fmt.Errorf("%w: overlay CIDR %s has no free /%d left: widen the CIDR or remove departed nodes",
		ErrNoFreeSubnet, pool, prefixLen)
}

func u32(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(binary.BigEndian.Uint32(b[:]))
}

func addr4(v uint64) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b)
}
