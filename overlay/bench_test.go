package overlay

import (
	"context"
	"net/netip"
	"testing"
)

// desired100 is one network with 100 peers.
func desired100(n *labNode) Desired {
	nw := Network{Name: "front", VNI: 42, Subnet: pfx("10.10.0.0/24")}
	for i := range 100 {
		nw.Peers = append(nw.Peers, Peer{NodeID: "p",
			Underlay: netip.AddrFrom4([4]byte{10, 78, 1, byte(i + 1)}),
			Subnet:   netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 10, byte(1 + i), 0}), 24)})
	}
	return Desired{Underlay: n.underlay, UnderlayDev: "eth0", Networks: []Network{nw}}
}

// BenchmarkApply100Peers measures Apply on the real kernel in a lab node:
// creating a network with 100 peers from nothing (400 routes/neighbours/FDB
// entries), the no-op Apply of an agent restart, moving one peer, and
// Teardown.
func BenchmarkApply100Peers(b *testing.B) {
	l := newLab(b, 1)
	n := l.nodes[0]
	ctx := context.Background()
	d := desired100(n)

	b.Run("create", func(b *testing.B) {
		for range b.N {
			b.StartTimer()
			must(b, n.m.Apply(ctx, d))
			b.StopTimer()
			must(b, n.m.Teardown(ctx))
		}
	})
	b.Run("noop", func(b *testing.B) {
		must(b, n.m.Apply(ctx, d))
		b.ResetTimer()
		for range b.N {
			must(b, n.m.Apply(ctx, d))
		}
	})
	b.Run("one-peer-moved", func(b *testing.B) {
		moved := desired100(n)
		moved.Networks[0].Peers[0].Subnet = pfx("10.10.200.0/24")
		b.ResetTimer()
		for i := range b.N {
			want := d
			if i%2 == 0 {
				want = moved
			}
			must(b, n.m.Apply(ctx, want))
		}
	})
	b.Run("teardown", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			must(b, n.m.Apply(ctx, d))
			b.StartTimer()
			must(b, n.m.Teardown(ctx))
		}
	})
}
