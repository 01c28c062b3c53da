package resolver

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
	"github.com/shoal-org/shoal/store/storetest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// storeFeed is a real store fed commands as raft would.
type storeFeed struct {
	*storetest.Feed
	s *store.Store
}

func newStoreFeed(t testing.TB) *storeFeed {
	f := storetest.New(t)
	return &storeFeed{Feed: f, s: f.Store}
}

// put writes objects (networks, services, tasks) in one command.
func (f *storeFeed) put(objs ...any) { f.Put(objs...) }

// del deletes one object.
func (f *storeFeed) del(table store.Table, id string) { f.Delete(table, id) }

// Fixture constructors.

func network(name, subnet string, def bool) *types.Network {
	return &types.Network{ID: "net-" + name, Name: name, Subnet: subnet, Default: def}
}

func service(name string, nets []string, vips map[string]string) *types.Service {
	return &types.Service{
		ID:   "svc-" + name,
		Spec: types.ServiceSpec{Name: name, Task: types.TaskTemplate{Image: "web:v1", Networks: nets}},
		VIPs: vips,
	}
}

func dnsrr(s *types.Service) *types.Service {
	s.Spec.Endpoint.Mode = "dnsrr"
	return s
}

// task returns a serving task of service svc with addresses given as
// network, address pairs.
func task(id, svc string, addrs ...string) *types.Task {
	t := &types.Task{
		ID: id, ServiceID: "svc-" + svc, ServiceName: svc, DesiredState: types.TaskRunning,
		Status: types.TaskStatus{State: types.TaskRunning}, Addresses: map[string]string{},
	}
	for i := 0; i+1 < len(addrs); i += 2 {
		t.Addresses[addrs[i]] = addrs[i+1]
	}
	return t
}

func ptr[T any](v T) *T { return &v }

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// aRecords returns the sorted addresses of the A records of m.
func aRecords(m *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			ip, _ := netip.AddrFromSlice(a.A)
			out = append(out, ip.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// freePort returns a port free for both UDP and TCP on addr.
func freePort(t testing.TB, addr string) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", addr+":0")
		if err != nil {
			t.Fatalf("find free port: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", addr, port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatalf("no port free for both UDP and TCP on %s", addr)
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for i := 0; time.Now().Before(deadline) && i < 10000; i++ {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, last)
}
