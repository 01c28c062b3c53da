package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// NetlinkKernel is the Kernel of one network namespace, driven through
// netlink (github.com/vishvananda/netlink). Per-interface IPv4 forwarding is
// the one setting netlink cannot reach; it is written to /proc/sys from a
// thread switched into the namespace. Like every Kernel it is used from one
// goroutine at a time.
type NetlinkKernel struct {
	h  *netlink.Handle
	ns netns.NsHandle
}

var _ Kernel = (*NetlinkKernel)(nil)

// NewNetlinkKernel returns a Kernel for the network namespace of the calling
// thread (the agent's). It keeps operating on that namespace even when later
// called from other threads. Close it when done.
func NewNetlinkKernel() (*NetlinkKernel, error) {
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("overlay: open current netns: %w", err)
	}
	return newNetlinkKernel(ns)
}

// NewNetlinkKernelAt returns a Kernel for the network namespace pinned at
// nsPath (e.g. /run/netns/x), without moving any thread into it.
func NewNetlinkKernelAt(nsPath string) (*NetlinkKernel, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("overlay: open netns %s: %w", nsPath, err)
	}
	return newNetlinkKernel(ns)
}

func newNetlinkKernel(ns netns.NsHandle) (*NetlinkKernel, error) {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		_ = ns.Close()
		return nil, fmt.Errorf("overlay: open netlink socket: %w", err)
	}
	return &NetlinkKernel{h: h, ns: ns}, nil
}

// Close releases the netlink socket and the namespace handle.
func (k *NetlinkKernel) Close() error {
	k.h.Close()
	return k.ns.Close()
}

// LinkMTU implements Kernel.
func (k *NetlinkKernel) LinkMTU(name string) (int, error) {
	l, err := k.h.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("find link %s: %w", name, err)
	}
	return l.Attrs().MTU, nil
}

// AddLink implements Kernel: it creates the bridge or VXLAN device, then
// sets forwarding and brings it up.
func (k *NetlinkKernel) AddLink(l Link) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = l.Name, l.MTU
	var link netlink.Link
	switch l.Kind {
	case KindBridge:
		link = &netlink.Bridge{LinkAttrs: attrs}
	case KindVXLAN:
		mac, err := net.ParseMAC(l.MAC)
		if err != nil {
			return fmt.Errorf("vxlan %s: MAC %q: %w", l.Name, l.MAC, err)
		}
		attrs.HardwareAddr = mac
		dev, err := k.h.LinkByName(l.VtepDev)
		if err != nil {
			return fmt.Errorf("vxlan %s: underlay device %q: %w", l.Name, l.VtepDev, err)
		}
		link = &netlink.Vxlan{LinkAttrs: attrs, VxlanId: int(l.VNI), VtepDevIndex: dev.Attrs().Index,
			SrcAddr: l.Local.AsSlice(), Port: l.Port, Learning: l.Learning}
	default:
		return fmt.Errorf("link %s: unsupported kind %q", l.Name, l.Kind)
	}
	if err := k.h.LinkAdd(link); err != nil {
		return fmt.Errorf("create %s %s: %w", l.Kind, l.Name, err)
	}
	return k.UpdateLink(Link{Name: l.Name, MTU: l.MTU, MAC: l.MAC}, l)
}

// UpdateLink implements Kernel.
func (k *NetlinkKernel) UpdateLink(cur, want Link) error {
	link, err := k.h.LinkByName(want.Name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", want.Name, err)
	}
	if cur.MTU != want.MTU {
		if err := k.h.LinkSetMTU(link, want.MTU); err != nil {
			return fmt.Errorf("set MTU of %s to %d: %w", want.Name, want.MTU, err)
		}
	}
	if cur.MAC != want.MAC && want.MAC != "" {
		mac, err := net.ParseMAC(want.MAC)
		if err == nil {
			err = k.h.LinkSetHardwareAddr(link, mac)
		}
		if err != nil {
			return fmt.Errorf("set MAC of %s to %s: %w", want.Name, want.MAC, err)
		}
	}
	if cur.Forwarding != want.Forwarding {
		if err := k.setForwarding(want.Name, want.Forwarding); err != nil {
			return err
		}
	}
	if cur.Up != want.Up {
		set := k.h.LinkSetDown
		if want.Up {
			set = k.h.LinkSetUp
		}
		if err := set(link); err != nil {
			return fmt.Errorf("set %s up=%v: %w", want.Name, want.Up, err)
		}
	}
	return nil
}

// DelLink implements Kernel.
func (k *NetlinkKernel) DelLink(name string) error {
	link, err := k.h.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err == nil {
		err = k.h.LinkDel(link)
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// AddAddr implements Kernel.
func (k *NetlinkKernel) AddAddr(a Addr) error {
	link, err := k.h.LinkByName(a.Link)
	if err == nil {
		err = k.h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(a.Prefix)})
	}
	if err != nil {
		return fmt.Errorf("add address %s to %s: %w", a.Prefix, a.Link, err)
	}
	return nil
}

// DelAddr implements Kernel.
func (k *NetlinkKernel) DelAddr(a Addr) error {
	link, err := k.h.LinkByName(a.Link)
	if isNotFound(err) {
		return nil
	}
	if err == nil {
		err = k.h.AddrDel(link, &netlink.Addr{IPNet: ipNet(a.Prefix)})
	}
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("delete address %s from %s: %w", a.Prefix, a.Link, err)
	}
	return nil
}

// AddRoute implements Kernel.
func (k *NetlinkKernel) AddRoute(r Route) error {
	nr, err := k.netlinkRoute(r)
	if err == nil {
		err = k.h.RouteAdd(nr)
	}
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s: a route to %s not made by shoal is in the way: remove it or pick another overlay CIDR: %w",
			r, r.Dst, err)
	}
	if err != nil {
		return fmt.Errorf("add %s: %w", r, err)
	}
	return nil
}

// ReplaceRoute implements Kernel.
func (k *NetlinkKernel) ReplaceRoute(r Route) error {
	nr, err := k.netlinkRoute(r)
	if err == nil {
		err = k.h.RouteReplace(nr)
	}
	if err != nil {
		return fmt.Errorf("replace %s: %w", r, err)
	}
	return nil
}

// DelRoute implements Kernel.
func (k *NetlinkKernel) DelRoute(r Route) error {
	nr, err := k.netlinkRoute(r)
	if isNotFound(err) {
		return nil
	}
	if err == nil {
		err = k.h.RouteDel(nr)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("delete %s: %w", r, err)
	}
	return nil
}

func (k *NetlinkKernel) netlinkRoute(r Route) (*netlink.Route, error) {
	nr := &netlink.Route{Family: netlink.FAMILY_V4, Table: int(r.Table), Dst: ipNet(r.Dst),
		Protocol: RouteProtocol}
	if r.Unreachable {
		nr.Type = unix.RTN_UNREACHABLE
		return nr, nil
	}
	link, err := k.h.LinkByName(r.Dev)
	if err != nil {
		return nil, err
	}
	nr.LinkIndex = link.Attrs().Index
	nr.Scope = netlink.SCOPE_LINK
	if r.Gw.IsValid() {
		nr.Gw, nr.Scope = r.Gw.AsSlice(), netlink.SCOPE_UNIVERSE
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.OnLink {
		nr.Flags = int(netlink.FLAG_ONLINK)
	}
	return nr, nil
}

// SetNeigh implements Kernel.
func (k *NetlinkKernel) SetNeigh(n Neigh) error {
	nn, err := k.netlinkNeigh(n.Link, netlink.FAMILY_V4, n.IP, n.MAC)
	if err == nil {
		err = k.h.NeighSet(nn)
	}
	if err != nil {
		return fmt.Errorf("set %s: %w", n, err)
	}
	return nil
}

// DelNeigh implements Kernel.
func (k *NetlinkKernel) DelNeigh(n Neigh) error {
	nn, err := k.netlinkNeigh(n.Link, netlink.FAMILY_V4, n.IP, n.MAC)
	return k.delNeigh(nn, err, n.String())
}

// SetFDB implements Kernel.
func (k *NetlinkKernel) SetFDB(f FDB) error {
	nn, err := k.netlinkNeigh(f.Link, unix.AF_BRIDGE, f.Dst, f.MAC)
	if err == nil {
		err = k.h.NeighSet(nn)
	}
	if err != nil {
		return fmt.Errorf("set %s: %w", f, err)
	}
	return nil
}

// DelFDB implements Kernel.
func (k *NetlinkKernel) DelFDB(f FDB) error {
	nn, err := k.netlinkNeigh(f.Link, unix.AF_BRIDGE, f.Dst, f.MAC)
	return k.delNeigh(nn, err, f.String())
}

func (k *NetlinkKernel) delNeigh(nn *netlink.Neigh, err error, what string) error {
	if isNotFound(err) {
		return nil
	}
	if err == nil {
		err = k.h.NeighDel(nn)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete %s: %w", what, err)
	}
	return nil
}

func (k *NetlinkKernel) netlinkNeigh(dev string, family int, ip netip.Addr, mac string) (*netlink.Neigh, error) {
	link, err := k.h.LinkByName(dev)
	if err != nil {
		return nil, err
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("MAC %q: %w", mac, err)
	}
	n := &netlink.Neigh{LinkIndex: link.Attrs().Index, Family: family, State: netlink.NUD_PERMANENT,
		IP: ip.AsSlice(), HardwareAddr: hw}
	if family == unix.AF_BRIDGE {
		n.Flags = netlink.NTF_SELF
	}
	return n, nil
}

// AddRule implements Kernel.
func (k *NetlinkKernel) AddRule(r Rule) error {
	if err := k.h.RuleAdd(netlinkRule(r)); err != nil {
		return fmt.Errorf("add %s: %w", r, err)
	}
	return nil
}

// DelRule implements Kernel.
func (k *NetlinkKernel) DelRule(r Rule) error {
	if err := k.h.RuleDel(netlinkRule(r)); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete %s: %w", r, err)
	}
	return nil
}

func netlinkRule(r Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = netlink.FAMILY_V4
	nr.Priority, nr.IifName, nr.Table = r.Priority, r.IifName, int(r.Table)
	if r.Mark != 0 {
		mask := r.Mark
		nr.Mark, nr.Mask = r.Mark, &mask
	}
	nr.Protocol = RouteProtocol
	return nr
}

func forwardingPath(dev string) string { return "/proc/sys/net/ipv4/conf/" + dev + "/forwarding" }

func (k *NetlinkKernel) setForwarding(dev string, on bool) error {
	v := []byte("0")
	if on {
		v = []byte("1")
	}
	err := nsthread.Do(k.ns, func() error { return os.WriteFile(forwardingPath(dev), v, 0o644) })
	if err != nil {
		return fmt.Errorf("set IPv4 forwarding of %s to %s: %w", dev, v, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
