package overlay

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// AddTaskVeth implements Kernel. The peer is created directly inside the
// task's namespace under its final name, so no other namespace ever sees it.
func (k *NetlinkKernel) AddTaskVeth(v TaskVeth) error {
	br, err := k.h.LinkByName(v.Bridge)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", v.Bridge, err)
	}
	if err := k.DelLink(v.Host); err != nil {
		return fmt.Errorf("remove leftover veth: %w", err)
	}
	taskNS, err := netns.GetFromPath(v.NetNS)
	if err != nil {
		return fmt.Errorf("open task netns %s: %w", v.NetNS, err)
	}
	defer taskNS.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.MasterIndex = v.Host, v.MTU, br.Attrs().Index
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: v.Peer, PeerNamespace: netlink.NsFd(taskNS),
		PeerMTU: uint32(v.MTU)}
	if err := k.h.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s (peer %s in %s): %w", v.Host, v.Peer, v.NetNS, err)
	}
	// The kernel ignores an alias given at creation.
	err = k.h.LinkSetAlias(veth, v.Alias)
	if err == nil {
		// Hairpin: where br_netfilter runs the nat hooks on bridged frames,
		// a task's connection to a VIP balanced back to the task itself
		// leaves the bridge by the port it came in on, which the bridge
		// otherwise refuses (Docker and kubelet set it for the same reason).
		err = k.h.LinkSetHairpin(veth, true)
	}
	if err == nil {
		err = k.h.LinkSetUp(veth)
	}
	if err == nil {
		err = configureTaskSide(taskNS, v)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("configure veth %s: %w", v.Host, err), k.DelLink(v.Host))
	}
	return nil
}

// configureTaskSide addresses the peer inside the task's namespace, brings
// it and lo up, and adds its routes.
func configureTaskSide(taskNS netns.NsHandle, v TaskVeth) error {
	th, err := netlink.NewHandleAt(taskNS)
	if err != nil {
		return fmt.Errorf("open netlink in task netns: %w", err)
	}
	defer th.Close()
	lo, err := th.LinkByName("lo")
	if err == nil {
		err = th.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	peer, err := th.LinkByName(v.Peer)
	if err != nil {
		return fmt.Errorf("find %s in task netns: %w", v.Peer, err)
	}
	if err := th.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(v.Addr)}); err != nil {
		return fmt.Errorf("add address %s to %s: %w", v.Addr, v.Peer, err)
	}
	if err := th.LinkSetUp(peer); err != nil {
		return fmt.Errorf("bring up %s: %w", v.Peer, err)
	}
	dsts := v.Routes
	if v.Default {
		dsts = append([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, dsts...)
	}
	for _, dst := range dsts {
		r := &netlink.Route{LinkIndex: peer.Attrs().Index, Dst: ipNet(dst), Gw: v.Gateway.AsSlice(),
			Scope: netlink.SCOPE_UNIVERSE}
		if err := th.RouteReplace(r); err != nil {
			return fmt.Errorf("add route to %s via %s: %w", dst, v.Gateway, err)
		}
	}
	return nil
}

// TaskVeths implements Kernel.
func (k *NetlinkKernel) TaskVeths() ([]TaskVethInfo, error) {
	links, err := dump("links", k.h.LinkList)
	if err != nil {
		return nil, err
	}
	var out []TaskVethInfo
	for _, l := range links {
		a := l.Attrs()
		if l.Type() == "veth" && strings.HasPrefix(a.Name, vethPrefix) && strings.HasPrefix(a.Alias, aliasPrefix) {
			out = append(out, TaskVethInfo{Name: a.Name, Alias: a.Alias})
		}
	}
	return out, nil
}
