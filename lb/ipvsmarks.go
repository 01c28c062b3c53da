package lb

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"golang.org/x/sys/unix"
)

// The IPVS dataplane balances all-port VIPs and published ports with
// firewall-mark virtual services, as swarm does: its nftables table marks
// their packets, and IPVS picks the virtual service by the mark. Every mark
// is MasqueradeMark | n for a small n, so that the masquerade rule sees it
// too; IPVS firewall-mark services whose mark includes MasqueradeMark are
// the dataplane's. The marks live in the table's maps vipmarks and pubmarks,
// where a restarted dataplane reads them back to keep its predecessor's
// virtual services (and their connections).

// markOwner is what a firewall mark stands for: an all-port VIP, or when
// VIP is not set a published port Port/Proto.
type markOwner struct {
	VIP   netip.Addr
	Proto Proto
	Port  uint16
}

func (o markOwner) compare(p markOwner) int {
	return cmp.Or(o.VIP.Compare(p.VIP), cmp.Compare(o.Proto, p.Proto), cmp.Compare(o.Port, p.Port))
}

// ownersOf lists the marks s needs: one for an all-port VIP, one for a
// published port.
func ownersOf(s Service) []markOwner {
	var out []markOwner
	if s.VIP.IsValid() && s.AllPorts() {
		out = append(out, markOwner{VIP: s.VIP})
	}
	if s.PublishedPort != 0 {
		out = append(out, markOwner{Proto: s.Proto, Port: s.PublishedPort})
	}
	return out
}

// maxMarkTries bounds the search for a free mark.
const maxMarkTries = 1 << 24

// ErrNoFreeMark is returned when no firewall mark is left for a new
// all-port VIP or published port.
var ErrNoFreeMark = errors.New("lb: no free firewall mark")

// assignMarks returns the mark of every owner the services need: the one
// it has in old, else a new bit|n with n counting up from next+1, skipping
// n that overlap bit and marks in used (those of existing IPVS services).
// It also returns the last n handed out. It is pure.
func assignMarks(old map[markOwner]uint32, svcs map[string]Service, used map[uint32]bool, bit, next uint32) (map[markOwner]uint32, uint32, error) {
	var owners []markOwner
	for _, s := range svcs {
		owners = append(owners, ownersOf(s)...)
	}
	slices.SortFunc(owners, markOwner.compare)
	out := make(map[markOwner]uint32, len(owners))
	taken := map[uint32]bool{}
	for _, o := range owners {
		if m, ok := old[o]; ok {
			out[o] = m
			taken[m] = true
		}
	}
	for _, o := range owners {
		if _, ok := out[o]; ok {
			continue
		}
		found := false
		for range maxMarkTries {
			next++
			m := bit | next
			if next&bit != 0 || next == 0 || used[m] || taken[m] {
				continue
			}
			out[o], taken[m], found = m, true, true
			break
		}
		if !found {
			return nil, next, fmt.Errorf("%w for %v", ErrNoFreeMark, o)
		}
	}
	return out, next, nil
}

// markVal encodes a mark as the data of a map element: host byte order,
// as meta mark reads it.
func markVal(m uint32) []byte { return binaryutil.NativeEndian.PutUint32(m) }

// readMarks reads the marks that the table t (a previous run's) assigned,
// from its maps vipmarks and pubmarks. A missing table or map yields none.
func readMarks(cc *nftables.Conn, t *nftables.Table) (map[markOwner]uint32, error) {
	out := map[markOwner]uint32{}
	for _, name := range []string{mapVIPMarks, mapPubMarks} {
		set, err := cc.GetSetByName(t, name)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read nftables map %s of table %s: %w", name, t.Name, err)
		}
		elems, err := cc.GetSetElements(set)
		if err != nil {
			return nil, fmt.Errorf("read elements of nftables map %s of table %s: %w", name, t.Name, err)
		}
		for _, e := range elems {
			if len(e.Key) != 8 || len(e.Val) != 4 {
				continue
			}
			m := binaryutil.NativeEndian.Uint32(e.Val)
			if name == mapVIPMarks {
				out[markOwner{VIP: netip.AddrFrom4([4]byte(e.Key[:4]))}] = m
				continue
			}
			p := TCP
			if e.Key[0] == unix.IPPROTO_UDP {
				p = UDP
			}
			out[markOwner{Proto: p, Port: binary.BigEndian.Uint16(e.Key[4:6])}] = m
		}
	}
	return out, nil
}
