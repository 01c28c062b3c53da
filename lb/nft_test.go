package lb_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/shoal-org/shoal/internal/nsthread"
	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/lb"
	"github.com/vishvananda/netns"
)

// nftIn opens an nftables connection into the namespace at path.
func nftIn(t *testing.T, path string) *nftables.Conn {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	cc, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

func chainNames(t *testing.T, cc *nftables.Conn) []string {
	t.Helper()
	chains, err := cc.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range chains {
		if c.Table.Name == lb.DefaultTableName {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	return names
}

func newNftDP(t *testing.T, ns string) lb.Dataplane {
	t.Helper()
	dp, err := lb.New(lb.KindNftables, lb.Options{NetNS: ns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })
	return dp
}

// TestNftIncremental checks against the kernel that re-applying the same
// state sends nothing and that one endpoint change among many services
// touches only the slot maps of that service's lb.Services (its all-port
// VIP and its published port, or its port VIP).
func TestNftIncremental(t *testing.T) {
	for _, tt := range []struct {
		name       string
		shape      int
		chains     int
		maxOps     int
		changedIDs []int // slot maps of the changed service
	}{
		// ids follow key order: svc0/published/30000/tcp, svc0/vip, ...
		{"all ports", allPortsShape, 200 + 50 + 5, 4, []int{1, 2}},
		{"ports", portsShape, 200 + 5, 2, []int{1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := testenv.NetNS(t)
			dp := newNftDP(t, ns)
			ctx := context.Background()
			cfg := bigConfig(200, 10, 0, tt.shape)
			if err := dp.Apply(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			cc := nftIn(t, ns)
			if got := len(chainNames(t, cc)); got != tt.chains {
				t.Fatalf("table has %d chains, want %d (one per service and 5 fixed)", got, tt.chains)
			}
			slices.Reverse(cfg.Services)
			if err := dp.Apply(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if ops := lb.LastOps(dp); ops != 0 {
				t.Errorf("re-apply of the same state committed %d operations, want 0", ops)
			}
			if err := dp.Apply(ctx, bigConfig(200, 10, 1, tt.shape)); err != nil {
				t.Fatal(err)
			}
			if ops := lb.LastOps(dp); ops == 0 || ops > tt.maxOps {
				t.Errorf("one endpoint change committed %d operations, want 1-%d (element changes in the changed slot maps)", ops, tt.maxOps)
			}
			for _, id := range tt.changedIDs {
				checkSlots(t, cc, fmt.Sprintf("slots-%d", id), netip.MustParseAddr("10.250.0.11"))
			}
		})
	}
}

// checkSlots checks that slot map name has 10 elements, one of them the
// address want.
func checkSlots(t *testing.T, cc *nftables.Conn, name string, want netip.Addr) {
	t.Helper()
	elems, err := cc.GetSetElements(&nftables.Set{Table: &nftables.Table{Name: lb.DefaultTableName, Family: nftables.TableFamilyIPv4}, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range elems {
		if len(e.Val) >= 4 && [4]byte(e.Val[:4]) == want.As4() {
			found = true
		}
	}
	if len(elems) != 10 || !found {
		t.Errorf("slot map %s of the changed service: %d elements, new endpoint present %v", name, len(elems), found)
	}
}

// TestNftReplacesStaleTable: a table of the same name left by an earlier
// run, with unknown content, is replaced by the first Apply.
func TestNftReplacesStaleTable(t *testing.T) {
	ns := testenv.NetNS(t)
	cc := nftIn(t, ns)
	tbl := cc.AddTable(&nftables.Table{Name: lb.DefaultTableName, Family: nftables.TableFamilyIPv4})
	junk := cc.AddChain(&nftables.Chain{Table: tbl, Name: "svc-1"})
	cc.AddRule(&nftables.Rule{Table: tbl, Chain: junk, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}})
	cc.AddChain(&nftables.Chain{Table: tbl, Name: "leftover"})
	if err := cc.Flush(); err != nil {
		t.Fatal(err)
	}
	dp := newNftDP(t, ns)
	if err := dp.Apply(context.Background(), bigConfig(2, 2, 0, portsShape)); err != nil {
		t.Fatalf("Apply over a stale table: %v", err)
	}
	got := chainNames(t, cc)
	want := []string{"output", "postrouting", "prerouting", "replies", "services", "svc-1", "svc-2"}
	if !slices.Equal(got, want) {
		t.Errorf("chains after Apply: %v, want %v", got, want)
	}
	rules, err := cc.GetRules(tbl, &nftables.Chain{Table: tbl, Name: "svc-1"})
	if err != nil || len(rules) != 1 || slices.ContainsFunc(rules[0].Exprs, func(e expr.Any) bool {
		v, ok := e.(*expr.Verdict)
		return ok && v.Kind == expr.VerdictDrop
	}) {
		t.Errorf("svc-1 still holds the stale rule: %v %v", rules, err)
	}
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	if got := chainNames(t, cc); len(got) != 0 {
		t.Errorf("chains after Close: %v, want none", got)
	}
}

// TestNftTradePublishedPorts: two services swap published ports, and a
// service moves to a new VIP keeping its published port, in one Apply.
func TestNftTradePublishedPorts(t *testing.T) {
	dp := newNftDP(t, testenv.NetNS(t))
	ctx := context.Background()
	mk := func(key string, vip string, pub uint16) lb.Service {
		return lb.Service{Key: key, VIP: netip.MustParseAddr(vip), Port: 80, Proto: lb.TCP, PublishedPort: pub,
			Backends: []lb.Backend{{IP: netip.MustParseAddr("10.0.0.1"), Port: 80, Weight: 1}}}
	}
	steps := [][]lb.Service{
		{mk("a", "10.96.0.1", 8001), mk("b", "10.96.0.2", 8002), mk("c", "10.96.0.3", 8003)},
		{mk("a", "10.96.0.1", 8002), mk("b", "10.96.0.2", 8001), mk("c", "10.96.0.9", 8003)},
		{mk("a", "10.96.0.1", 0), mk("b", "10.96.0.2", 8001), mk("c", "10.96.0.3", 8002)},
	}
	for i, svcs := range steps {
		if err := dp.Apply(ctx, lb.Config{Services: svcs}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
}

// TestNftDefaultNamespace: with Options.NetNS "" the dataplane binds to the
// namespace of the thread that called New, even when Apply runs elsewhere.
func TestNftDefaultNamespace(t *testing.T) {
	testenv.RequireRoot(t, "creates a network namespace")
	const table = "shoal-nstest"
	var dp lb.Dataplane
	ns := testenv.NetNS(t)
	err := nsthread.DoPath(ns, func() error {
		var err error
		dp, err = lb.New(lb.KindNftables, lb.Options{TableName: table, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })
	if err := dp.Apply(context.Background(), bigConfig(1, 1, 0, allPortsShape)); err != nil {
		t.Fatal(err)
	}
	has := func(cc *nftables.Conn) bool {
		tables, err := cc.ListTablesOfFamily(nftables.TableFamilyIPv4)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(tables, func(tb *nftables.Table) bool { return tb.Name == table })
	}
	if !has(nftIn(t, ns)) {
		t.Errorf("table %s missing in the namespace New was called in", table)
	}
	host, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	if has(host) {
		t.Errorf("table %s was created in the test process's namespace", table)
	}
}
