package resolver

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-org/shoal/api/types"
)

// benchCluster is nServices VIP services on the default network, each with
// three serving tasks.
func benchCluster(nServices int) ([]*types.Network, []*types.Service, []*types.Task) {
	nets := []*types.Network{network("front", "10.240.0.0/16", true)}
	var svcs []*types.Service
	var tasks []*types.Task
	for i := range nServices {
		name := fmt.Sprintf("svc%d", i)
		vip := netip.AddrFrom4([4]byte{10, 240, byte(i / 250), byte(i%250 + 2)})
		svcs = append(svcs, service(name, nil, map[string]string{"front": vip.String()}))
		for j := range 3 {
			a := netip.AddrFrom4([4]byte{10, 240, byte(10 + j*5 + i/250), byte(i%250 + 2)})
			tasks = append(tasks, task(fmt.Sprintf("%s.%d", name, j), name, "front", a.String()))
		}
	}
	return nets, svcs, tasks
}

// BenchmarkQueryUDP measures queries per second and latency against a
// server on loopback holding 1,000 services, half of the queries for
// SERVICE (one VIP) and half for tasks.SERVICE (three addresses).
func BenchmarkQueryUDP(b *testing.B) {
	f := newStoreFeed(b)
	nets, svcs, tasks := benchCluster(1000)
	var objs []any
	for _, n := range nets {
		objs = append(objs, n)
	}
	for _, s := range svcs {
		objs = append(objs, s)
	}
	for _, t := range tasks {
		objs = append(objs, t)
	}
	f.put(objs...)
	port := freePort(b, "127.0.0.1")
	s, err := New(Config{Store: f.s, Upstreams: []string{}, Port: port, Logger: quietLogger()})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	defer s.Close()
	if err := s.SetListen(addrs("127.0.0.1")); err != nil {
		b.Fatalf("SetListen: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
		conn, err := c.Dial(addr)
		if err != nil {
			b.Errorf("dial: %v", err)
			return
		}
		defer conn.Close()
		var mine []time.Duration
		for i := 0; pb.Next(); i++ {
			name := fmt.Sprintf("svc%d.", i%1000)
			if i%2 == 1 {
				name = "tasks." + name
			}
			t0 := time.Now()
			m, _, err := c.ExchangeWithConn(question(name, dns.TypeA), conn)
			mine = append(mine, time.Since(t0))
			if err != nil || len(m.Answer) == 0 {
				b.Errorf("query %s: %v %v", name, err, m)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "queries/s")
	b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkLookup measures the pure lookup over 1,000 services.
func BenchmarkLookup(b *testing.B) {
	r := Build(benchCluster(1000))
	client := netip.MustParseAddr("10.240.10.2")
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("tasks.svc%d.", i)
	}
	for i := 0; b.Loop(); i++ {
		if res := r.Lookup(client, names[i%1000], dns.TypeA); len(res.IPs) != 3 {
			b.Fatalf("%s: %v", names[i%1000], res)
		}
	}
}

// BenchmarkBuild measures one rebuild of the records: 1,000 services and
// 3,000 tasks, the work done after every change of the store.
func BenchmarkBuild(b *testing.B) {
	nets, svcs, tasks := benchCluster(1000)
	for b.Loop() {
		if r := Build(nets, svcs, tasks); r.Len() != 4000 {
			b.Fatalf("Len = %d, want 4000", r.Len())
		}
	}
}
