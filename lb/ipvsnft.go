package lb

import (
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// The IPVS dataplane's nftables table (family ip) holds what IPVS itself
// cannot do:
//
//	set vips      { ipv4_addr . inet_proto . inet_service }  # port VIP frontends
//	set vipaddrs  { ipv4_addr }                              # every VIP
//	map vipmarks  { ipv4_addr . inet_proto : mark }          # all-port VIP, tcp/udp -> fwmark
//	map pubmarks  { inet_proto . inet_service : mark }       # published port -> fwmark
//	chain marks {
//	  ct direction original meta mark & M == M ct mark & M == 0 meta mark set 0
//	  meta mark set ip daddr . meta l4proto map @vipmarks ct mark |= M accept
//	  ip daddr @vipaddrs accept
//	  ct direction original fib daddr type local ip daddr != 127.0.0.0/8
//	    meta mark set meta l4proto . th dport map @pubmarks ct mark |= M
//	}
//	chain mark-prerouting { type filter hook prerouting priority mangle; jump marks }
//	chain mark-output     { type filter hook output priority mangle; jump marks }
//	chain services { ip daddr . meta l4proto . th dport @vips meta mark |= M ct mark |= M }
//	prerouting, output (nat, dstnat): jump services
//	postrouting (nat, srcnat): meta mark & M != 0 masquerade
//	replies (filter, prerouting, mangle): ct direction reply ct mark & M == M meta mark |= M
//
// A packet carries a mark of ours only if its connection is service
// traffic: every rule that marks a packet records M in its connection's
// mark too, and the first rule drops a mark of ours from a packet whose
// connection has none, i.e. a mark the packet inherited. A VXLAN device wraps a
// packet that IPVS has just balanced to another node in a new outer packet
// that keeps the inner one's socket buffer, mark included, and sends it
// through the output hook again; with the mark still on it, IPVS took the
// tunnel packet for service traffic and balanced it into the tunnel again,
// until the kernel reported a dead loop or its stack overflowed (a guest
// kernel panic in the Vagrant lab; lbtest's PublishedOverVXLAN case).
//
// Every fwmark includes M, so marked packets are masqueraded too. IPVS
// (whose hooks run after these) balances marked packets with the
// firewall-mark virtual service of their mark, and port VIPs with their
// VIP:port/proto virtual services. Marking only original-direction packets
// keeps a reply that reaches the node at a published port from being
// taken for a request.

// Names of the IPVS dataplane's own table objects.
const (
	setIPVSFrontends = "vips"
	setVIPAddrs      = "vipaddrs"
	mapVIPMarks      = "vipmarks"
	mapPubMarks      = "pubmarks"
	chainMarks       = "marks"
	chainMarkPre     = "mark-prerouting"
	chainMarkOut     = "mark-output"
)

func ipvsVIPSet(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: setIPVSFrontends, Concatenation: true, KeyType: vipKeyType}
}

func vipAddrSet(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: setVIPAddrs, KeyType: nftables.TypeIPAddr}
}

func vipMarkMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapVIPMarks, IsMap: true, Concatenation: true,
		KeyType: allKeyType, DataType: nftables.TypeMark}
}

func pubMarkMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapPubMarks, IsMap: true, Concatenation: true,
		KeyType: pubKeyType, DataType: nftables.TypeMark}
}

// addIPVSBase queues the skeleton of the IPVS dataplane's table.
func addIPVSBase(b *batch, t *nftables.Table, mark uint32) {
	for _, s := range []*nftables.Set{ipvsVIPSet(t), vipAddrSet(t), vipMarkMap(t), pubMarkMap(t)} {
		b.addSet(s, nil)
	}
	marks := b.addChain(&nftables.Chain{Table: t, Name: chainMarks})
	setMarkFromReg1 := &expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1}
	b.addRule(&nftables.Rule{Table: t, Chain: marks, Exprs: clearInheritedMark(mark)})
	vipMark := append(loadVIPProto(),
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: mapVIPMarks}, setMarkFromReg1)
	vipMark = append(vipMark, markConn(mark)...)
	b.addRule(&nftables.Rule{Table: t, Chain: marks, Exprs: append(vipMark, &expr.Verdict{Kind: expr.VerdictAccept})})
	b.addRule(&nftables.Rule{Table: t, Chain: marks, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: setVIPAddrs},
		&expr.Verdict{Kind: expr.VerdictAccept}}})
	pub := []expr.Any{
		&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0}}, // IP_CT_DIR_ORIGINAL
	}
	pub = append(pub, localPublished()...)
	pub = append(pub, &expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: mapPubMarks},
		setMarkFromReg1)
	pub = append(pub, markConn(mark)...)
	b.addRule(&nftables.Rule{Table: t, Chain: marks, Exprs: pub})
	jump := []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainMarks}}
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{chainMarkPre, nftables.ChainHookPrerouting}, {chainMarkOut, nftables.ChainHookOutput}} {
		c := b.addChain(&nftables.Chain{Table: t, Name: h.name, Type: nftables.ChainTypeFilter,
			Hooknum: h.hook, Priority: nftables.ChainPriorityMangle})
		b.addRule(&nftables.Rule{Table: t, Chain: c, Exprs: jump})
	}
	svcs := b.addChain(&nftables.Chain{Table: t, Name: chainServices})
	vip := append(loadFrontend(), &expr.Lookup{SourceRegister: 1, SetName: setIPVSFrontends})
	vip = append(vip, setMark(mark)...)
	b.addRule(&nftables.Rule{Table: t, Chain: svcs, Exprs: append(vip, markConn(mark)...)})
	b.ops += 6
	addHooks(b.cc, t, svcs, mark, markConnReplies(mark))
}

// ipvsNftState is what the IPVS dataplane's table holds.
type ipvsNftState struct {
	portVIPs map[Frontend]bool
	vipAddrs map[netip.Addr]bool
	vipMarks map[markOwner]uint32 // all-port VIPs
	pubMarks map[markOwner]uint32 // published ports
}

// ipvsNftWant derives the table's content from the services and their
// marks. It is pure.
func ipvsNftWant(svcs map[string]Service, marks map[markOwner]uint32) *ipvsNftState {
	st := &ipvsNftState{portVIPs: map[Frontend]bool{}, vipAddrs: vipSet(svcs),
		vipMarks: map[markOwner]uint32{}, pubMarks: map[markOwner]uint32{}}
	for _, s := range svcs {
		if s.VIP.IsValid() && !s.AllPorts() {
			st.portVIPs[s.Frontend()] = true
		}
		for _, o := range ownersOf(s) {
			if o.VIP.IsValid() {
				st.vipMarks[o] = marks[o]
			} else {
				st.pubMarks[o] = marks[o]
			}
		}
	}
	return st
}

// ipvsNftPlan queues on b the element changes from have (nil: an empty
// table) to want.
func ipvsNftPlan(b *batch, t *nftables.Table, have, want *ipvsNftState) {
	if have == nil {
		have = &ipvsNftState{}
	}
	del, add := elemDiff(have.portVIPs, want.portVIPs, compareFrontends, func(f Frontend, _ bool) []nftables.SetElement {
		return []nftables.SetElement{{Key: vipKey(f)}}
	})
	b.delElems(ipvsVIPSet(t), del)
	b.addElems(ipvsVIPSet(t), add)
	del, add = elemDiff(have.vipAddrs, want.vipAddrs, netip.Addr.Compare, func(a netip.Addr, _ bool) []nftables.SetElement {
		return []nftables.SetElement{{Key: addrVal(a)}}
	})
	b.delElems(vipAddrSet(t), del)
	b.addElems(vipAddrSet(t), add)
	del, add = elemDiff(have.vipMarks, want.vipMarks, markOwner.compare, func(o markOwner, m uint32) []nftables.SetElement {
		var out []nftables.SetElement
		for _, p := range allPortsProtos {
			out = append(out, nftables.SetElement{Key: allKey(o.VIP, p), Val: markVal(m)})
		}
		return out
	})
	b.delElems(vipMarkMap(t), del)
	b.addElems(vipMarkMap(t), add)
	del, add = elemDiff(have.pubMarks, want.pubMarks, markOwner.compare, func(o markOwner, m uint32) []nftables.SetElement {
		return []nftables.SetElement{{Key: pubKey(o.Proto, o.Port), Val: markVal(m)}}
	})
	b.delElems(pubMarkMap(t), del)
	b.addElems(pubMarkMap(t), add)
}

// elemDiff returns the elements to delete (keys of have that want lacks or
// maps to another value) and to add (keys of want that have lacks or maps
// to another value), in key order.
func elemDiff[K comparable, V comparable](have, want map[K]V, compare func(K, K) int, elems func(K, V) []nftables.SetElement) (del, add []nftables.SetElement) {
	for _, k := range sortedBy(have, compare) {
		if w, ok := want[k]; !ok || w != have[k] {
			del = append(del, elems(k, have[k])...)
		}
	}
	for _, k := range sortedBy(want, compare) {
		if h, ok := have[k]; !ok || h != want[k] {
			add = append(add, elems(k, want[k])...)
		}
	}
	return del, add
}

func sortedBy[K comparable, V any](m map[K]V, compare func(K, K) int) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, compare)
	return out
}

// clearInheritedMark is the marks chain's first rule: a packet in the
// original direction whose mark includes mark (every mark this table sets
// does, and this table sets the whole mark) while its connection's mark
// does not was not marked for its own connection: it loses the mark, and
// the rules after it, which look at the packet itself, decide its mark.
// The packets IPVS sends on after balancing them pass the output hook
// too and keep their mark (their connection has M), which the masquerade
// rule needs. Replies are left alone: the replies chain marks them for
// routing.
func clearInheritedMark(mark uint32) []expr.Any {
	m := binaryutil.NativeEndian.PutUint32(mark)
	zero := binaryutil.NativeEndian.PutUint32(0)
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0}}, // IP_CT_DIR_ORIGINAL
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: zero},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: m},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: zero},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: zero},
		&expr.Immediate{Register: 1, Data: zero},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

// markConn ORs mark into the connection's mark (register 2, so that it
// can follow a rule's use of register 1).
func markConn(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: 2},
		&expr.Bitwise{SourceRegister: 2, DestRegister: 2, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^mark), Xor: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 2, SourceRegister: true},
	}
}

// markConnReplies sets mark on the reply packets of connections whose mark
// includes it (those this table balanced), before routing, for the policy
// rule that routes them by the main table (see markReplies). IPVS
// translates addresses itself: its connections never carry netfilter's
// DNAT status that markReplies looks for, so without this rule the reply
// to a published port's client on the underlay, coming back from a task
// on another node over the overlay, was routed by the overlay's own table,
// which has no route out, and dropped.
func markConnReplies(mark uint32) []expr.Any {
	m := binaryutil.NativeEndian.PutUint32(mark)
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{1}}, // IP_CT_DIR_REPLY
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: m},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^mark), Xor: m},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}
