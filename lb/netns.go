package lb

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// nsHandles are the per-namespace kernel handles a dataplane keeps: a netlink
// handle (links, addresses, conntrack) and the namespace itself for nftables
// and sysctls.
type nsHandles struct {
	path string // names ns for APIs that take a path
	ns   netns.NsHandle
	nl   *netlink.Handle
}

// openNS opens the namespace at path, or for "" the calling thread's own,
// so that every handle of the dataplane binds to it whatever thread later
// runs its methods.
func openNS(path string) (*nsHandles, error) {
	h := &nsHandles{path: path}
	var err error
	if path == "" {
		h.ns, err = netns.Get()
		h.path = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(h.ns))
	} else {
		h.ns, err = netns.GetFromPath(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open network namespace %q: %w", path, err)
	}
	h.nl, err = netlink.NewHandleAt(h.ns, unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER)
	if err != nil {
		h.close()
		return nil, fmt.Errorf("open netlink handle in namespace %q: %w", path, err)
	}
	return h, nil
}

func (h *nsHandles) close() {
	if h.nl != nil {
		h.nl.Close()
	}
	if h.ns.IsOpen() {
		_ = h.ns.Close()
	}
}

// setSysctls writes /proc/sys values (keys like "net/ipv4/vs/conntrack") in
// the handle's namespace. /proc/sys/net shows the namespace of the thread
// that opens the file, so the writes run on a locked thread moved into the
// namespace; the thread is discarded if it cannot be moved back.
func (h *nsHandles) setSysctls(kv map[string]string) error {
	return nsthread.DoPath(h.path, func() error { return writeSysctls(kv) })
}

func writeSysctls(kv map[string]string) error {
	for k, v := range kv {
		p := filepath.Join("/proc/sys", k)
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", strings.ReplaceAll(k, "/", "."), v, err)
		}
	}
	return nil
}

// flowTarget names the connections to cut when a backend leaves a service:
// those whose original destination is the frontend (VIP:port, any TCP or
// UDP port of the VIP for an all-port service, or any address at the
// published port) and whose reply comes from the backend (its address, and
// its port unless the service is all-port).
type flowTarget struct {
	proto     uint8 // 0 in an all-port service: TCP and UDP
	vip       netip.Addr
	port      uint16
	published uint16
	backend   netip.AddrPort
}

// flowFilter matches conntrack flows against a list of targets; it
// implements netlink.CustomConntrackFilter.
type flowFilter []flowTarget

// MatchConntrackFlow reports whether flow was balanced to one of the
// removed backends.
func (f flowFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	fwd, rev := flow.Forward, flow.Reverse
	src, ok := netip.AddrFromSlice(rev.SrcIP)
	if !ok {
		return false
	}
	dst, ok := netip.AddrFromSlice(fwd.DstIP)
	if !ok {
		return false
	}
	src, dst = src.Unmap(), dst.Unmap()
	for _, t := range f {
		if src != t.backend.Addr() {
			continue
		}
		if t.proto == 0 { // all ports
			if dst == t.vip && (fwd.Protocol == unix.IPPROTO_TCP || fwd.Protocol == unix.IPPROTO_UDP) {
				return true
			}
			continue
		}
		if fwd.Protocol != t.proto || rev.SrcPort != t.backend.Port() {
			continue
		}
		if t.vip.IsValid() && fwd.DstPort == t.port && dst == t.vip {
			return true
		}
		if t.published != 0 && fwd.DstPort == t.published && dst != t.backend.Addr() {
			return true
		}
	}
	return false
}

// flowTargets lists the targets for the backends of s named in removed.
func flowTargets(s Service, removed []netip.AddrPort) []flowTarget {
	out := make([]flowTarget, 0, len(removed))
	for _, b := range removed {
		t := flowTarget{vip: s.VIP, port: s.Port, published: s.PublishedPort, backend: b}
		if !s.AllPorts() {
			t.proto = protoNumber(s.Proto)
		}
		out = append(out, t)
	}
	return out
}

// deleteFlows removes the conntrack entries of the targets so that no
// further packet of those connections reaches the removed backends.
func (h *nsHandles) deleteFlows(targets []flowTarget) (uint, error) {
	if len(targets) == 0 {
		return 0, nil
	}
	n, err := h.nl.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, flowFilter(targets))
	if err != nil {
		return n, fmt.Errorf("delete conntrack entries of %d removed backends: %w", len(targets), err)
	}
	return n, nil
}
