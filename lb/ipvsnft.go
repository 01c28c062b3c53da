package lb

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The IPVS dataplane's nftables table (family ip) holds what IPVS itself
// cannot do:
//
//	set vips { ipv4_addr . inet_proto . inet_service }        # frontends
//	map published { inet_proto . inet_service : ipv4_addr . inet_service }
//	chain services {
//	  ip daddr . meta l4proto . th dport @vips  meta mark |= M  accept
//	  fib daddr type local  ip daddr != 127.0.0.0/8
//	    meta mark |= M  dnat to meta l4proto . th dport map @published
//	}
//	prerouting, output (nat, dstnat): jump services
//	postrouting (nat, srcnat): meta mark & M != 0 masquerade
//
// A published port is translated to its service's VIP, where IPVS (whose
// hooks run after nat's) balances it like any other connection to the VIP.

const setIPVSFrontends = "vips"

func ipvsVIPSet(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: setIPVSFrontends, Concatenation: true, KeyType: vipKeyType}
}

func ipvsPublishedMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapPublished, IsMap: true, Concatenation: true,
		KeyType: pubKeyType, DataType: addrPortTyp}
}

// setMarkReg2 ORs mark into the packet mark using register 2, leaving
// registers 1 and 9 (a looked-up DNAT target) intact.
func setMarkReg2(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 2},
		&expr.Bitwise{SourceRegister: 2, DestRegister: 2, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^mark), Xor: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 2},
	}
}

// addIPVSBase queues the skeleton of the IPVS dataplane's table.
func addIPVSBase(cc *nftables.Conn, t *nftables.Table, mark uint32) error {
	svcs := cc.AddChain(&nftables.Chain{Table: t, Name: chainServices})
	if err := cc.AddSet(ipvsVIPSet(t), nil); err != nil {
		return fmt.Errorf("queue set %s: %w", setIPVSFrontends, err)
	}
	if err := cc.AddSet(ipvsPublishedMap(t), nil); err != nil {
		return fmt.Errorf("queue map %s: %w", mapPublished, err)
	}
	vip := append(loadFrontend(), &expr.Lookup{SourceRegister: 1, SetName: setIPVSFrontends})
	vip = append(vip, setMark(mark)...)
	cc.AddRule(&nftables.Rule{Table: t, Chain: svcs, Exprs: append(vip, &expr.Verdict{Kind: expr.VerdictAccept})})
	pub := append(localPublished(),
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: mapPublished})
	pub = append(pub, setMarkReg2(mark)...)
	pub = append(pub, &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4,
		RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 9, RegProtoMax: 9, Specified: true})
	cc.AddRule(&nftables.Rule{Table: t, Chain: svcs, Exprs: pub})
	addHooks(cc, t, svcs, mark)
	return nil
}

// ipvsNftPlan queues on b the element changes from the services have to
// want: frontends in the vips set, published ports in the published map.
func ipvsNftPlan(b *batch, t *nftables.Table, have, want map[string]Service) {
	fe := func(m map[string]Service) map[Frontend]bool {
		out := make(map[Frontend]bool, len(m))
		for _, s := range m {
			out[s.Frontend()] = true
		}
		return out
	}
	pub := func(m map[string]Service) map[Frontend]netip.AddrPort {
		out := map[Frontend]netip.AddrPort{}
		for _, s := range m {
			if s.PublishedPort != 0 {
				out[Frontend{Port: s.PublishedPort, Proto: s.Proto}] = netip.AddrPortFrom(s.VIP, s.Port)
			}
		}
		return out
	}
	hf, wf := fe(have), fe(want)
	var del, add []nftables.SetElement
	for _, f := range sortedFrontends(hf) {
		if !wf[f] {
			del = append(del, nftables.SetElement{Key: vipKey(f)})
		}
	}
	for _, f := range sortedFrontends(wf) {
		if !hf[f] {
			add = append(add, nftables.SetElement{Key: vipKey(f)})
		}
	}
	b.delElems(ipvsVIPSet(t), del)
	b.addElems(ipvsVIPSet(t), add)
	hp, wp := pub(have), pub(want)
	del, add = nil, nil
	for _, k := range sortedFrontends(hp) {
		if to, ok := wp[k]; !ok || to != hp[k] {
			del = append(del, nftables.SetElement{Key: pubKey(k.Proto, k.Port)})
		}
	}
	for _, k := range sortedFrontends(wp) {
		if from, ok := hp[k]; !ok || from != wp[k] {
			add = append(add, nftables.SetElement{Key: pubKey(k.Proto, k.Port), Val: addrPortVal(wp[k])})
		}
	}
	b.delElems(ipvsPublishedMap(t), del)
	b.addElems(ipvsPublishedMap(t), add)
}
