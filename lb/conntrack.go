package lb

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

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
// further packet of those connections reaches the removed backends. It
// returns how many it deleted.
//
// Each entry is deleted by its reply tuple, which names the removed
// backend, never by its original tuple. The entries are listed first and
// deleted one by one after, and in between a client may reuse the source
// port of a listed entry that is closed (TIME_WAIT, CLOSE): its SYN makes
// conntrack replace the entry by a new one with the same original tuple,
// balanced to a live backend, often at the same address and so with the
// same conntrack ID (the ID hashes the entry's address and original tuple
// only). A delete by original tuple and ID then removes the new
// connection's entry: its answer arrives with no translation back, the
// client never gets it and times out. The reply tuple of the new entry
// names another backend, so a delete by reply tuple cannot touch it.
// Closed entries are not deleted at all: no packet of theirs is left to
// cut, and a new connection from their port replaces them.
func (h *nsHandles) deleteFlows(targets []flowTarget) (uint, error) {
	if len(targets) == 0 {
		return 0, nil
	}
	flows, err := h.nl.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return 0, fmt.Errorf("list conntrack entries to cut those of %d removed backends: %w", len(targets), err)
	}
	// An interrupted dump is incomplete: cut what it holds, report it.
	errs := []error{err}
	f := flowFilter(targets)
	var n uint
	for _, flow := range flows {
		if closedFlow(flow) || !f.MatchConntrackFlow(flow) {
			continue
		}
		switch err := h.deleteByReply(flow.Reverse); {
		case err == nil:
			n++
		case errors.Is(err, unix.ENOENT): // gone meanwhile
		default:
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("delete conntrack entries of %d removed backends: %w", len(targets), err)
	}
	return n, nil
}

// closedFlow reports whether flow is a TCP connection that has ended.
func closedFlow(flow *netlink.ConntrackFlow) bool {
	tcp, ok := flow.ProtoInfo.(*netlink.ProtoInfoTCP)
	return ok && (tcp.State == nl.TCP_CONNTRACK_TIME_WAIT || tcp.State == nl.TCP_CONNTRACK_CLOSE)
}

// deleteByReply deletes the conntrack entry whose reply tuple is reply.
func (h *nsHandles) deleteByReply(reply netlink.IPTuple) error {
	src, okSrc := netip.AddrFromSlice(reply.SrcIP)
	dst, okDst := netip.AddrFromSlice(reply.DstIP)
	if !okSrc || !okDst || !src.Unmap().Is4() || !dst.Unmap().Is4() {
		// Never send a delete without a tuple: the kernel reads it as a
		// flush of the whole table.
		return fmt.Errorf("conntrack reply tuple %v -> %v: not IPv4", reply.SrcIP, reply.DstIP)
	}
	sock, err := h.netfilterSocket()
	if err != nil {
		return err
	}
	tuple := nl.NewRtAttr(unix.NLA_F_NESTED|nl.CTA_TUPLE_REPLY, nil)
	ip := tuple.AddRtAttr(unix.NLA_F_NESTED|nl.CTA_TUPLE_IP, nil)
	s4, d4 := src.Unmap().As4(), dst.Unmap().As4()
	ip.AddRtAttr(nl.CTA_IP_V4_SRC, s4[:])
	ip.AddRtAttr(nl.CTA_IP_V4_DST, d4[:])
	proto := tuple.AddRtAttr(unix.NLA_F_NESTED|nl.CTA_TUPLE_PROTO, nil)
	proto.AddRtAttr(nl.CTA_PROTO_NUM, []byte{reply.Protocol})
	proto.AddRtAttr(nl.CTA_PROTO_SRC_PORT, nl.BEUint16Attr(reply.SrcPort))
	proto.AddRtAttr(nl.CTA_PROTO_DST_PORT, nl.BEUint16Attr(reply.DstPort))
	req := nl.NewNetlinkRequest(int(netlink.ConntrackTable)<<8|nl.IPCTNL_MSG_CT_DELETE, unix.NLM_F_ACK)
	req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_INET, Version: nl.NFNETLINK_V0})
	req.AddData(tuple)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_NETFILTER: sock}
	if _, err := req.Execute(unix.NETLINK_NETFILTER, 0); err != nil {
		return fmt.Errorf("delete conntrack entry answered by %s:%d: %w", src.Unmap(), reply.SrcPort, err)
	}
	return nil
}

// netfilterSocket is the namespace's netfilter netlink socket, opened on
// first use.
func (h *nsHandles) netfilterSocket() (*nl.SocketHandle, error) {
	if h.ct != nil {
		return h.ct, nil
	}
	s, err := nl.GetNetlinkSocketAt(h.ns, netns.None(), unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("open netfilter netlink socket in %s: %w", h.path, err)
	}
	tv := unix.NsecToTimeval((5 * time.Second).Nanoseconds())
	if err := errors.Join(s.SetSendTimeout(&tv), s.SetReceiveTimeout(&tv)); err != nil {
		s.Close()
		return nil, fmt.Errorf("netfilter netlink socket in %s: %w", h.path, err)
	}
	h.ct = &nl.SocketHandle{Socket: s}
	return h.ct, nil
}
