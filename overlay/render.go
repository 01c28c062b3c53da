package overlay

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// Peer is another node taking part in a network.
type Peer struct {
	NodeID   string
	Underlay netip.Addr
	// Subnet is the peer's subnet of the network.
	Subnet netip.Prefix
	// VTEPMAC is the peer's VXLAN device MAC; when nil it is derived with
	// VTEPMAC(Underlay, VNI), which is what every node's Manager sets on its
	// own device, so the agent need not publish it.
	VTEPMAC net.HardwareAddr
}

// Network is one overlay network as seen from this node.
type Network struct {
	Name string
	VNI  uint32
	// Subnet is this node's subnet of the network (e.g. a /24).
	Subnet netip.Prefix
	Peers  []Peer
	// CIDR is the whole network's range (optional). A task attached to
	// several networks gets a route to it through each network's interface
	// after the first (the first has the default route); without it such an
	// interface reaches only this node's subnet.
	CIDR netip.Prefix
	// VIPs is the block of the network's service VIPs (optional). The host
	// gets a route to it through the bridge, so that its own connections to
	// a VIP find a route before the load balancer's DNAT (in the output
	// hook) rewrites them; tasks need none, their packets reach the host by
	// the default route. It must not overlap a node's subnet.
	VIPs netip.Prefix
}

// Desired is the whole overlay configuration of this node.
type Desired struct {
	Underlay netip.Addr
	// UnderlayDev holds Underlay (e.g. eth0); its MTU bounds the overlay's.
	UnderlayDev string
	// ReplyMark, when not zero, is a packet mark bit that sends marked
	// packets arriving from the overlay to the main table instead of their
	// network's own (rule priority RulePriority-1). The load balancer sets
	// it on the replies of the connections it translated, so that the reply
	// to a client on the underlay (a published port) leaves the isolated
	// network table, which has no route out.
	ReplyMark uint32
	Networks  []Network
}

// Constants that name the kernel objects the overlay owns. They are part of
// the on-host contract: a restarted agent finds its objects by them.
const (
	// VXLANPort is the IANA VXLAN UDP port.
	VXLANPort = 4789
	// RulePriority is the priority of the per-network policy rules: after
	// the local table (0), before main (32766).
	RulePriority = 9000
	// TableBase + VNI is the routing table of a network.
	TableBase uint32 = 100_000_000
	// RouteProtocol tags the routes the overlay owns (see rt_protos).
	RouteProtocol = 73
	// MaxVNI is the largest 24-bit VXLAN network identifier.
	MaxVNI = 1<<24 - 1
)

// ErrInvalid marks a Desired or request that cannot be applied as given.
var ErrInvalid = errors.New("overlay: invalid configuration")

// BridgeName is the bridge of the network with this VNI (at most 15 bytes).
func BridgeName(vni uint32) string { return fmt.Sprintf("shoalbr%d", vni) }

// VXLANName is the VXLAN device of the network with this VNI.
func VXLANName(vni uint32) string { return fmt.Sprintf("shoalvx%d", vni) }

// Table is the routing table of the network with this VNI.
func Table(vni uint32) uint32 { return TableBase + vni }

// Gateway is the address of the bridge in subnet: the subnet's .1.
func Gateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

// VTEPMAC derives the MAC of the VXLAN device of the node with this underlay
// address on the network with this VNI: a locally administered unicast
// address from a hash, so any node can compute any other's without gossip.
func VTEPMAC(underlay netip.Addr, vni uint32) net.HardwareAddr {
	h := sha256.New()
	h.Write([]byte("shoal-vtep"))
	a := underlay.As16()
	h.Write(a[:])
	h.Write(binary.BigEndian.AppendUint32(nil, vni))
	mac := net.HardwareAddr(h.Sum(nil)[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac
}

// encapOverhead is the VXLAN encapsulation cost over this underlay family.
func encapOverhead(underlay netip.Addr) int {
	if underlay.Is4() {
		return 50
	}
	return 70
}

// render computes the State that d asks for, given the underlay MTU. It is
// pure; it validates d first.
func render(d Desired, underlayMTU int) (State, error) {
	if err := validate(d); err != nil {
		return State{}, err
	}
	var s State
	if len(d.Networks) == 0 {
		return s, nil
	}
	mtu := underlayMTU - encapOverhead(d.Underlay)
	if mtu < 576 {
		return State{}, fmt.Errorf("%w: underlay %s MTU %d leaves %d for the overlay: raise it to at least %d",
			ErrInvalid, d.UnderlayDev, underlayMTU, mtu, 576+encapOverhead(d.Underlay))
	}
	for _, n := range d.Networks {
		renderNetwork(&s, d, n, mtu)
	}
	if d.ReplyMark != 0 {
		s.Rules = append(s.Rules, Rule{Priority: RulePriority - 1, Mark: d.ReplyMark, Table: MainTable})
	}
	return s, nil
}

func renderNetwork(s *State, d Desired, n Network, mtu int) {
	br, vx, tbl := BridgeName(n.VNI), VXLANName(n.VNI), Table(n.VNI)
	subnet := n.Subnet.Masked()
	gw := Gateway(subnet)
	s.Links = append(s.Links,
		Link{Name: br, Kind: KindBridge, MTU: mtu, Up: true, Forwarding: true},
		Link{Name: vx, Kind: KindVXLAN, MTU: mtu, Up: true, Forwarding: true,
			MAC: VTEPMAC(d.Underlay, n.VNI).String(), VNI: n.VNI, Local: d.Underlay,
			Port: VXLANPort, VtepDev: d.UnderlayDev})
	s.Addrs = append(s.Addrs,
		Addr{Link: br, Prefix: netip.PrefixFrom(gw, subnet.Bits())},
		Addr{Link: vx, Prefix: netip.PrefixFrom(subnet.Addr(), 32)})
	s.Routes = append(s.Routes,
		Route{Table: tbl, Dst: subnet, Dev: br, Src: gw},
		Route{Table: tbl, Dst: netip.MustParsePrefix("0.0.0.0/0"), Unreachable: true})
	if n.VIPs.IsValid() {
		s.Routes = append(s.Routes, Route{Table: MainTable, Dst: n.VIPs.Masked(), Dev: br, Src: gw})
	}
	s.Rules = append(s.Rules,
		Rule{Priority: RulePriority, IifName: br, Table: tbl},
		Rule{Priority: RulePriority, IifName: vx, Table: tbl})
	for _, p := range n.Peers {
		mac := p.VTEPMAC
		if mac == nil {
			mac = VTEPMAC(p.Underlay, n.VNI)
		}
		psub := p.Subnet.Masked()
		s.FDBs = append(s.FDBs, FDB{Link: vx, MAC: mac.String(), Dst: p.Underlay})
		s.Neighs = append(s.Neighs, Neigh{Link: vx, IP: psub.Addr(), MAC: mac.String()})
		for _, t := range []uint32{MainTable, tbl} {
			s.Routes = append(s.Routes, Route{Table: t, Dst: psub, Dev: vx, Gw: psub.Addr(), OnLink: true})
		}
	}
}

// validate checks d for everything the kernel would reject later or that
// would silently break another network.
func validate(d Desired) error {
	if len(d.Networks) == 0 {
		return nil
	}
	if !d.Underlay.IsValid() || d.UnderlayDev == "" {
		return fmt.Errorf("%w: underlay address and device must both be set (got %q on %q)",
			ErrInvalid, d.Underlay, d.UnderlayDev)
	}
	names, vnis := map[string]bool{}, map[uint32]bool{}
	var all []netip.Prefix
	for _, n := range d.Networks {
		if n.Name == "" || names[n.Name] {
			return fmt.Errorf("%w: network name %q is empty or repeated", ErrInvalid, n.Name)
		}
		if n.VNI == 0 || n.VNI > MaxVNI || vnis[n.VNI] {
			return fmt.Errorf("%w: network %q: VNI %d must be unique and in 1..%d", ErrInvalid, n.Name, n.VNI, MaxVNI)
		}
		names[n.Name], vnis[n.VNI] = true, true
		if err := checkSubnet(n.Subnet); err != nil {
			return fmt.Errorf("%w: network %q: %w", ErrInvalid, n.Name, err)
		}
		all = append(all, n.Subnet.Masked())
		if n.VIPs.IsValid() {
			if !n.VIPs.Addr().Is4() {
				return fmt.Errorf("%w: network %q: VIP block %s must be IPv4", ErrInvalid, n.Name, n.VIPs)
			}
			all = append(all, n.VIPs.Masked())
		}
		if n.CIDR.IsValid() && (n.CIDR.Bits() > n.Subnet.Bits() || !n.CIDR.Contains(n.Subnet.Addr())) {
			return fmt.Errorf("%w: network %q: CIDR %s does not contain subnet %s", ErrInvalid, n.Name, n.CIDR, n.Subnet)
		}
		for _, p := range n.Peers {
			if err := checkPeer(d, p); err != nil {
				return fmt.Errorf("%w: network %q: peer %q: %w", ErrInvalid, n.Name, p.NodeID, err)
			}
			all = append(all, p.Subnet.Masked())
		}
	}
	return checkDisjoint(all)
}

func checkSubnet(p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is4() || p.Bits() > 30 {
		return fmt.Errorf("subnet %s must be an IPv4 prefix of /30 or shorter", p)
	}
	return nil
}

func checkPeer(d Desired, p Peer) error {
	if !p.Underlay.IsValid() || p.Underlay.Is4() != d.Underlay.Is4() {
		return fmt.Errorf("underlay %s must be an address of the same family as %s", p.Underlay, d.Underlay)
	}
	if p.Underlay == d.Underlay {
		return fmt.Errorf("underlay %s is this node's own: leave this node out of Peers", p.Underlay)
	}
	if p.VTEPMAC != nil && (len(p.VTEPMAC) != 6 || p.VTEPMAC[0]&1 != 0) {
		return fmt.Errorf("VTEP MAC %s must be a 6-byte unicast address", p.VTEPMAC)
	}
	return checkSubnet(p.Subnet)
}

// checkDisjoint reports the first two prefixes that overlap.
func checkDisjoint(ps []netip.Prefix) error {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	for i := 1; i < len(ps); i++ {
		if ps[i-1].Overlaps(ps[i]) {
			return fmt.Errorf("%w: subnets %s and %s overlap: every node's subnet of every network must be distinct",
				ErrInvalid, ps[i-1], ps[i])
		}
	}
	return nil
}
