package lb_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/lb"
)

// Shapes of bigConfig.
const (
	// allPortsShape is what the agent programs for swarm services: an
	// all-port VIP per service and, for every fourth, a published port
	// (a service of its own over the same backends).
	allPortsShape = iota
	// portsShape is one port VIP (VIP:80/tcp) per service, every fourth
	// also published.
	portsShape
)

// bigConfig is n services of m backends each in the given shape; variant
// changes the address of the first backend of service 0 (one endpoint
// replaced by another, as a rolling update does).
func bigConfig(n, m, variant, shape int) lb.Config {
	cfg := lb.Config{Services: make([]lb.Service, 0, n+n/4)}
	for i := range n {
		vip := netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})
		var bs []lb.Backend
		for j := range m {
			ip := netip.AddrFrom4([4]byte{10, byte(200 + j), byte(i >> 8), byte(i)})
			if i == 0 && j == 0 {
				ip = netip.AddrFrom4([4]byte{10, 250, 0, byte(10 + variant)})
			}
			bs = append(bs, lb.Backend{IP: ip, Port: 80, Weight: 1})
		}
		published := uint16(0)
		if i%4 == 0 {
			published = uint16(30000 + i)
		}
		if shape == portsShape {
			cfg.Services = append(cfg.Services, lb.Service{Key: fmt.Sprintf("svc%d/80/tcp", i),
				VIP: vip, Port: 80, Proto: lb.TCP, PublishedPort: published, Backends: bs})
			continue
		}
		all := lb.Service{Key: fmt.Sprintf("svc%d/vip", i), VIP: vip}
		for _, b := range bs {
			all.Backends = append(all.Backends, lb.Backend{IP: b.IP, Weight: b.Weight})
		}
		cfg.Services = append(cfg.Services, all)
		if published != 0 {
			cfg.Services = append(cfg.Services, lb.Service{Key: fmt.Sprintf("svc%d/published/%d/tcp", i, published),
				Port: 80, Proto: lb.TCP, PublishedPort: published, Backends: bs})
		}
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

// BenchmarkNftProgram1000x10 measures programming, in one Apply into an
// empty network namespace, 1,000 services of 10 backends each as the agent
// does: an all-port VIP each, a published port for every fourth (1,250
// lb.Services).
func BenchmarkNftProgram1000x10(b *testing.B) { benchProgram(b, allPortsShape) }

// BenchmarkNftProgram1000x10Ports is BenchmarkNftProgram1000x10 with one
// port VIP (VIP:80/tcp) per service instead.
func BenchmarkNftProgram1000x10Ports(b *testing.B) { benchProgram(b, portsShape) }

func benchProgram(b *testing.B, shape int) {
	cfg := bigConfig(1000, 10, 0, shape)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		dp := quietDP(b, testenv.NetNS(b))
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

// BenchmarkNftOneEndpointChange measures one Apply that replaces one
// backend of one service (its all-port VIP and its published port) among
// the 1,000 services of BenchmarkNftProgram1000x10.
func BenchmarkNftOneEndpointChange(b *testing.B) { benchOneChange(b, allPortsShape) }

// BenchmarkNftOneEndpointChangePorts is BenchmarkNftOneEndpointChange with
// port VIPs.
func BenchmarkNftOneEndpointChangePorts(b *testing.B) { benchOneChange(b, portsShape) }

func benchOneChange(b *testing.B, shape int) {
	dp := quietDP(b, testenv.NetNS(b))
	b.Cleanup(func() { _ = dp.Close() })
	ctx := context.Background()
	cfgs := []lb.Config{bigConfig(1000, 10, 0, shape), bigConfig(1000, 10, 1, shape)}
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
