package lb

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Names of the fixed objects in the dataplane's table.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainReplies     = "replies"
	chainServices    = "services"
	mapVIPs          = "vips"
	mapAllVIPs       = "allvips"
	mapPublished     = "published"
)

var (
	vipKeyType  = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	allKeyType  = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto)
	pubKeyType  = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	addrPortTyp = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
)

// vipKey encodes VIP . l4proto . port as nftables lays out a concatenation:
// every field padded to 4 bytes, ports in network order.
func vipKey(f Frontend) []byte {
	b := make([]byte, 12)
	a := f.VIP.As4()
	copy(b, a[:])
	b[4] = protoNumber(f.Proto)
	binary.BigEndian.PutUint16(b[8:], f.Port)
	return b
}

// allPortsProtos are the protocols an all-port VIP answers.
var allPortsProtos = []Proto{TCP, UDP}

// allKey encodes VIP . l4proto, the key of an all-port VIP for one of
// allPortsProtos.
func allKey(vip netip.Addr, p Proto) []byte {
	b := make([]byte, 8)
	a := vip.As4()
	copy(b, a[:])
	b[4] = protoNumber(p)
	return b
}

// pubKey encodes l4proto . port.
func pubKey(p Proto, port uint16) []byte {
	b := make([]byte, 8)
	b[0] = protoNumber(p)
	binary.BigEndian.PutUint16(b[4:], port)
	return b
}

// slotKey encodes a numgen result: a 32-bit integer in host order.
func slotKey(i int) []byte { return binaryutil.NativeEndian.PutUint32(uint32(i)) }

// addrVal encodes a DNAT target address (all-port services).
func addrVal(ip netip.Addr) []byte {
	a := ip.As4()
	return a[:]
}

// addrPortVal encodes a DNAT target address . port.
func addrPortVal(ap netip.AddrPort) []byte {
	b := make([]byte, 8)
	a := ap.Addr().As4()
	copy(b, a[:])
	binary.BigEndian.PutUint16(b[4:], ap.Port())
	return b
}

func svcChainName(id uint32) string      { return fmt.Sprintf("svc-%d", id) }
func slotMapName(id uint32) string       { return fmt.Sprintf("slots-%d", id) }
func gotoVerdict(c string) *expr.Verdict { return &expr.Verdict{Kind: expr.VerdictGoto, Chain: c} }

func vipMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapVIPs, IsMap: true, Concatenation: true,
		KeyType: vipKeyType, DataType: nftables.TypeVerdict}
}

func allVIPMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapAllVIPs, IsMap: true, Concatenation: true,
		KeyType: allKeyType, DataType: nftables.TypeVerdict}
}

func publishedMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapPublished, IsMap: true, Concatenation: true,
		KeyType: pubKeyType, DataType: nftables.TypeVerdict}
}

// slotMap is a service's map from slot to backend: address . port, or
// the address alone for an all-port service.
func slotMap(t *nftables.Table, id uint32, allPorts bool) *nftables.Set {
	dt := addrPortTyp
	if allPorts {
		dt = nftables.TypeIPAddr
	}
	return &nftables.Set{Table: t, Name: slotMapName(id), IsMap: true,
		KeyType: nftables.TypeInteger, KeyByteOrder: binaryutil.NativeEndian, DataType: dt}
}

// loadFrontend loads ip daddr . meta l4proto . th dport into registers 1, 9
// and 10 (the layout of vipKey).
func loadFrontend() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
		&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// loadVIPProto loads ip daddr . meta l4proto into registers 1 and 9 (the
// layout of allKey).
func loadVIPProto() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
	}
}

// localPublished matches packets to a local address other than 127/8 and
// loads meta l4proto . th dport into registers 1 and 9 (the layout of
// pubKey).
func localPublished() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// setMark ORs mark into the packet mark.
func setMark(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^mark), Xor: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

// masqueradeMarked masquerades packets carrying mark: connections this
// dataplane balanced leave with the node's address so that replies come
// back through it.
func masqueradeMarked(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mark), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Masq{},
	}
}

// natChain adds a base chain of type nat at hook and prio.
func natChain(t *nftables.Table, name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
	return &nftables.Chain{Table: t, Name: name, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio}
}

// serviceRules are the rules of a service chain. With n > 0 slots one rule
// marks the packet for masquerade and DNATs it to slot (numgen inc mod n) of
// the service's slot map: to address . port, or for an all-port service to
// the address alone, keeping the port. With no slot they reject new
// connections (TCP reset, ICMP port unreachable for UDP).
func serviceRules(c *nftables.Chain, s Service, id uint32, n int, mark uint32) []*nftables.Rule {
	rule := func(ex ...expr.Any) *nftables.Rule { return &nftables.Rule{Table: c.Table, Chain: c, Exprs: ex} }
	isProto := func(p Proto) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumber(p)}},
		}
	}
	unreach := &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3 /* port unreachable */}
	if n == 0 && s.AllPorts() {
		// allvips admits only TCP and UDP
		return []*nftables.Rule{
			rule(append(isProto(TCP), &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})...),
			rule(unreach),
		}
	}
	var ex []expr.Any
	if !s.AllPorts() {
		ex = isProto(s.Proto)
	}
	if n == 0 {
		if s.Proto == TCP {
			return []*nftables.Rule{rule(append(ex, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})...)}
		}
		return []*nftables.Rule{rule(append(ex, unreach)...)}
	}
	ex = append(ex, setMark(mark)...)
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1}
	if !s.AllPorts() {
		nat.RegProtoMin, nat.RegProtoMax, nat.Specified = 9, 9, true
	}
	ex = append(ex,
		&expr.Numgen{Register: 1, Modulus: uint32(n), Type: unix.NFT_NG_INCREMENTAL},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: slotMapName(id)},
		nat,
	)
	return []*nftables.Rule{rule(ex...)}
}

// addBase queues the fixed skeleton of the nftables dataplane: hooks in
// prerouting and output that jump to the services chain, the verdict maps
// of port VIPs, all-port VIPs and published ports, and masquerade in
// postrouting.
func addBase(cc *nftables.Conn, t *nftables.Table, mark uint32) error {
	svcs := cc.AddChain(&nftables.Chain{Table: t, Name: chainServices})
	if err := cc.AddSet(vipMap(t), nil); err != nil {
		return fmt.Errorf("queue map %s: %w", mapVIPs, err)
	}
	if err := cc.AddSet(allVIPMap(t), nil); err != nil {
		return fmt.Errorf("queue map %s: %w", mapAllVIPs, err)
	}
	if err := cc.AddSet(publishedMap(t), nil); err != nil {
		return fmt.Errorf("queue map %s: %w", mapPublished, err)
	}
	cc.AddRule(&nftables.Rule{Table: t, Chain: svcs, Exprs: append(loadFrontend(),
		&expr.Lookup{SourceRegister: 1, SetName: mapVIPs, IsDestRegSet: true, DestRegister: 0})})
	cc.AddRule(&nftables.Rule{Table: t, Chain: svcs, Exprs: append(loadVIPProto(),
		&expr.Lookup{SourceRegister: 1, SetName: mapAllVIPs, IsDestRegSet: true, DestRegister: 0})})
	cc.AddRule(&nftables.Rule{Table: t, Chain: svcs, Exprs: append(localPublished(),
		&expr.Lookup{SourceRegister: 1, SetName: mapPublished, IsDestRegSet: true, DestRegister: 0})})
	addHooks(cc, t, svcs, mark, markReplies(mark))
	return nil
}

// addHooks queues the base chains: prerouting and output jump to svcs,
// postrouting masquerades marked packets, and the replies chain marks the
// replies that replyRule picks.
func addHooks(cc *nftables.Conn, t *nftables.Table, svcs *nftables.Chain, mark uint32, replyRule []expr.Any) {
	jump := []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: svcs.Name}}
	pre := cc.AddChain(natChain(t, chainPrerouting, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest))
	cc.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: jump})
	out := cc.AddChain(natChain(t, chainOutput, nftables.ChainHookOutput, nftables.ChainPriorityNATDest))
	cc.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: jump})
	post := cc.AddChain(natChain(t, chainPostrouting, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource))
	cc.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: masqueradeMarked(mark)})
	replies := cc.AddChain(&nftables.Chain{Table: t, Name: chainReplies, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle})
	cc.AddRule(&nftables.Rule{Table: t, Chain: replies, Exprs: replyRule})
}

// markReplies sets mark on the reply packets of translated (DNAT)
// connections, before routing: a policy rule of the node (see
// overlay.Desired.ReplyMark) then routes them by the main table, so that
// the reply to a published port's client on the underlay leaves an
// isolated overlay network whose own table has no route out.
func markReplies(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{1}}, // IP_CT_DIR_REPLY
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ctStatusDstNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^mark), Xor: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

// ctStatusDstNAT is IPS_DST_NAT of the conntrack status bits.
const ctStatusDstNAT = 1 << 5

// resetTable queues the replacement of any table of that name (a previous
// run's) by an empty one, without failing when none exists.
func resetTable(cc *nftables.Conn, t *nftables.Table) {
	cc.AddTable(t)
	cc.DelTable(t)
	cc.AddTable(t)
}
