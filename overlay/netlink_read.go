package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// Name prefixes of the links State reports. Any link with such a name is
// the overlay's, whatever its type: one of a wrong type is recreated.
const (
	bridgePrefix = "shoalbr"
	vxlanPrefix  = "shoalvx"
)

// dump retries a netlink dump that the kernel interrupted because the table
// changed under it; such a dump may be incomplete.
func dump[T any](what string, f func() ([]T, error)) ([]T, error) {
	var err error
	for range 5 {
		var out []T
		if out, err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", what, err)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("list %s: %w", what, err)
}

// State implements Kernel.
func (k *NetlinkKernel) State() (State, error) {
	links, err := dump("links", k.h.LinkList)
	if err != nil {
		return State{}, err
	}
	var s State
	names := map[int]string{}
	ours := map[int]bool{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	for _, l := range links {
		a := l.Attrs()
		if !strings.HasPrefix(a.Name, bridgePrefix) && !strings.HasPrefix(a.Name, vxlanPrefix) {
			continue
		}
		ours[a.Index] = true
		s.Links = append(s.Links, readLink(l, names))
	}
	if err := k.readForwarding(s.Links); err != nil {
		return State{}, err
	}
	if s.Addrs, err = k.readAddrs(ours, names); err != nil {
		return State{}, err
	}
	if s.Routes, err = k.readRoutes(names); err != nil {
		return State{}, err
	}
	for _, l := range links {
		if _, ok := l.(*netlink.Vxlan); ok && ours[l.Attrs().Index] {
			if err := k.readNeighs(&s, l.Attrs()); err != nil {
				return State{}, err
			}
		}
	}
	rules, err := dump("rules", func() ([]netlink.Rule, error) { return k.h.RuleList(netlink.FAMILY_V4) })
	if err != nil {
		return State{}, err
	}
	for _, r := range rules {
		if r.Protocol == RouteProtocol {
			s.Rules = append(s.Rules, Rule{Priority: r.Priority, IifName: r.IifName, Mark: r.Mark, Table: uint32(r.Table)})
		}
	}
	return s, nil
}

func readLink(l netlink.Link, names map[int]string) Link {
	a := l.Attrs()
	out := Link{Name: a.Name, Kind: LinkKind(l.Type()), MTU: a.MTU, Up: a.Flags&net.FlagUp != 0}
	if vx, ok := l.(*netlink.Vxlan); ok {
		out.MAC = a.HardwareAddr.String()
		out.VNI, out.Port, out.Learning = uint32(vx.VxlanId), vx.Port, vx.Learning
		out.Local = addrOf(vx.SrcAddr)
		out.VtepDev = names[vx.VtepDevIndex]
	}
	return out
}

// readForwarding fills in Forwarding, reading all links in one visit to the
// namespace.
func (k *NetlinkKernel) readForwarding(links []Link) error {
	if len(links) == 0 {
		return nil
	}
	err := nsthread.Do(k.ns, func() error {
		for i := range links {
			b, err := os.ReadFile(forwardingPath(links[i].Name))
			if err != nil {
				return err
			}
			links[i].Forwarding = string(bytes.TrimSpace(b)) == "1"
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read IPv4 forwarding: %w", err)
	}
	return nil
}

func (k *NetlinkKernel) readAddrs(ours map[int]bool, names map[int]string) ([]Addr, error) {
	addrs, err := dump("addresses", func() ([]netlink.Addr, error) { return k.h.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, err
	}
	var out []Addr
	for _, a := range addrs {
		if ours[a.LinkIndex] && a.IPNet != nil {
			out = append(out, Addr{Link: names[a.LinkIndex], Prefix: prefixOf(a.IPNet)})
		}
	}
	return out, nil
}

func (k *NetlinkKernel) readRoutes(names map[int]string) ([]Route, error) {
	filter := &netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: RouteProtocol}
	routes, err := dump("routes", func() ([]netlink.Route, error) {
		return k.h.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Route, 0, len(routes))
	for _, r := range routes {
		dst := netip.MustParsePrefix("0.0.0.0/0")
		if r.Dst != nil {
			dst = prefixOf(r.Dst)
		}
		out = append(out, Route{Table: uint32(r.Table), Dst: dst, Unreachable: r.Type == unix.RTN_UNREACHABLE,
			Dev: names[r.LinkIndex], Gw: addrOf(r.Gw), Src: addrOf(r.Src),
			OnLink: r.Flags&int(netlink.FLAG_ONLINK) != 0})
	}
	return out, nil
}

// readNeighs adds the permanent neighbour and FDB entries of a VXLAN device.
func (k *NetlinkKernel) readNeighs(s *State, a *netlink.LinkAttrs) error {
	neighs, err := dump("neighbours of "+a.Name, func() ([]netlink.Neigh, error) {
		return k.h.NeighList(a.Index, netlink.FAMILY_V4)
	})
	if err != nil {
		return err
	}
	for _, n := range neighs {
		if n.State&netlink.NUD_PERMANENT != 0 && n.HardwareAddr != nil {
			s.Neighs = append(s.Neighs, Neigh{Link: a.Name, IP: addrOf(n.IP), MAC: n.HardwareAddr.String()})
		}
	}
	fdbs, err := dump("FDB of "+a.Name, func() ([]netlink.Neigh, error) {
		return k.h.NeighList(a.Index, unix.AF_BRIDGE)
	})
	if err != nil {
		return err
	}
	for _, n := range fdbs {
		if n.State&netlink.NUD_PERMANENT != 0 && n.IP != nil {
			s.FDBs = append(s.FDBs, FDB{Link: a.Name, MAC: n.HardwareAddr.String(), Dst: addrOf(n.IP)})
		}
	}
	return nil
}

// addrOf converts a netlink IP, giving the zero Addr for nil and unmapping
// IPv4 addresses.
func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func prefixOf(n *net.IPNet) netip.Prefix {
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addrOf(n.IP), ones)
}
