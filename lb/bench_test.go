package lb_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/shoal-org/shoal/lb"
	"github.com/shoal-org/shoal/lb/lbtest"
)

// bigConfig is n services of m backends each; variant changes the address
// of the first backend of service 0 (one endpoint replaced by another).
func bigConfig(n, m int, variant int) lb.Config {
	cfg := lb.Config{Services: make([]lb.Service, 0, n)}
	for i := range n {
		s := lb.Service{
			Key:   fmt.Sprintf("svc%d/80/tcp", i),
			VIP:   netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}),
			Port:  80,
			Proto: lb.TCP,
		}
		if i%4 == 0 {
			s.PublishedPort = uint16(30000 + i)
		}
		for j := range m {
			ip := netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)})
			if i == 0 && j == 0 {
				ip = netip.AddrFrom4([4]byte{10, 201, 0, byte(10 + variant)})
			}
			s.Backends = append(s.Backends, lb.Backend{IP: ip, Port: uint16(8000 + j), Weight: 1})
		}
		cfg.Services = append(cfg.Services, s)
	}
	return cfg
}

func quietDP(b *testing.B, ns string) lb.Dataplane {
	dp, err := lb.New(lb.KindNftables, lb.Options{NetNS: ns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return dp
}

// BenchmarkNftProgram1000x10 measures programming 1,000 services of 10
// backends each into an empty network namespace in one Apply.
func BenchmarkNftProgram1000x10(b *testing.B) {
	cfg := bigConfig(1000, 10, 0)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		dp := quietDP(b, lbtest.NewNetNS(b))
		b.StartTimer()
		if err := dp.Apply(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := dp.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkNftOneEndpointChange measures one Apply that replaces one backend
// of one service among 1,000 services of 10 backends.
func BenchmarkNftOneEndpointChange(b *testing.B) {
	dp := quietDP(b, lbtest.NewNetNS(b))
	b.Cleanup(func() { _ = dp.Close() })
	ctx := context.Background()
	cfgs := []lb.Config{bigConfig(1000, 10, 0), bigConfig(1000, 10, 1)}
	if err := dp.Apply(ctx, cfgs[0]); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if err := dp.Apply(ctx, cfgs[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}
