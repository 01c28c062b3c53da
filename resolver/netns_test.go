package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/store"
)

// digResult is what dig printed: the header status and flags, and the
// addresses of the A records of the answer section, sorted.
type digResult struct {
	status string
	flags  []string
	ips    []netip.Addr
	out    string
}

var (
	digStatus = regexp.MustCompile(`status: ([A-Z]+)`)
	digFlags  = regexp.MustCompile(`;; flags: ([a-z ]+);`)
)

// dig runs the real dig binary inside namespace ns.
func dig(t *testing.T, ns string, args ...string) digResult {
	t.Helper()
	argv := append([]string{"netns", "exec", ns, "dig", "+noall", "+comments", "+answer", "+tries=1", "+time=3"}, args...)
	out, err := exec.Command("ip", argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	r := digResult{out: string(out)}
	if m := digStatus.FindStringSubmatch(r.out); m != nil {
		r.status = m[1]
	}
	if m := digFlags.FindStringSubmatch(r.out); m != nil {
		r.flags = strings.Fields(m[1])
	}
	for _, line := range strings.Split(r.out, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && !strings.HasPrefix(line, ";") && f[3] == "A" {
			if a, err := netip.ParseAddr(f[4]); err == nil {
				r.ips = append(r.ips, a)
			}
		}
	}
	slices.SortFunc(r.ips, netip.Addr.Compare)
	return r
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// addBridges gives ns two bridges holding the gateways of front
// (10.240.1.1) and back (10.241.1.1), makes s listen on each as soon as
// its bridge has the address, and adds one client address per network.
func addBridges(t *testing.T, ns string, s *Server) {
	t.Helper()
	ip := func(args ...string) { t.Helper(); run(t, "ip", append([]string{"-n", ns}, args...)...) }
	var gws []netip.Addr
	for i, gw := range []string{"10.240.1.1", "10.241.1.1"} {
		br := fmt.Sprintf("shoalbr%d", i+1)
		ip("link", "add", br, "type", "bridge")
		ip("link", "set", br, "up")
		ip("addr", "add", gw+"/16", "dev", br)
		gws = append(gws, netip.MustParseAddr(gw))
		if err := s.SetListen(gws); err != nil {
			t.Fatalf("SetListen right after adding %s: %v", gw, err)
		}
	}
	ip("addr", "add", "10.240.1.50/16", "dev", "shoalbr1")
	ip("addr", "add", "10.241.1.50/16", "dev", "shoalbr2")
}

func TestNetnsDig(t *testing.T) {
	testenv.RequireRoot(t, "creates a network namespace")
	testenv.RequireCommands(t, "dnsutils", "dig")
	f := newStoreFeed(t)
	nets, svcs, tasks := fixture()
	for i := range 100 {
		tasks = append(tasks, task(fmt.Sprintf("rr%d", i), "rr", "back", fmt.Sprintf("10.241.3.%d", i+2)))
	}
	for _, o := range nets {
		f.put(o)
	}
	for _, o := range svcs {
		f.put(o)
	}
	for _, o := range tasks {
		f.put(o)
	}
	nsPath := testenv.NetNS(t)
	ns := filepath.Base(nsPath) // for `ip -n` and `ip netns exec`
	s, err := New(Config{Store: f.s, Upstreams: []string{}, NetNS: nsPath, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addBridges(t, ns, s)
	front := []string{"-b", "10.240.1.50", "@10.240.1.1"}
	back := []string{"-b", "10.241.1.50", "@10.241.1.1"}
	expect := func(what string, r digResult, status string, want ...string) {
		t.Helper()
		if r.status != status || !slices.Equal(r.ips, addrs(want...)) {
			t.Errorf("%s: %s %v, want %s %v\n%s", what, r.status, r.ips, status, want, r.out)
		}
	}

	r := dig(t, ns, append(front, "web")...)
	expect("front: web", r, "NOERROR", "10.240.0.2")
	if !slices.Contains(r.flags, "ra") || !slices.Contains(r.flags, "aa") {
		t.Errorf("front: web: flags %v, want aa and ra", r.flags)
	}
	expect("front: WEB.front. (case, suffix)", dig(t, ns, append(front, "WEB.front.")...), "NOERROR", "10.240.0.2")
	expect("front: tasks.web", dig(t, ns, append(front, "tasks.web")...), "NOERROR", "10.240.1.5", "10.240.1.9", "10.240.2.5")
	expect("front: web AAAA", dig(t, ns, append(front, "web", "AAAA")...), "NOERROR")
	expect("front: db", dig(t, ns, append(front, "db")...), "NOERROR", "10.240.0.3")
	expect("back: db", dig(t, ns, append(back, "db")...), "NOERROR", "10.241.0.2")

	// Isolation: rr is on back only, web on front only.
	expect("front: rr", dig(t, ns, append(front, "rr")...), "NXDOMAIN")
	expect("back: web", dig(t, ns, append(back, "web")...), "NXDOMAIN")
	// The node itself (source = a gateway) sees every network.
	if r := dig(t, ns, "@10.240.1.1", "rr"); r.status != "NOERROR" || len(r.ips) != 102 {
		t.Errorf("node: rr: %s with %d addresses, want NOERROR with 102\n%s", r.status, len(r.ips), r.out)
	}

	// 102 addresses: UDP truncates (dig +ignore shows it), TCP carries all.
	r = dig(t, ns, append(back, "+ignore", "+noedns", "tasks.rr")...)
	if !slices.Contains(r.flags, "tc") || len(r.ips) >= 102 {
		t.Errorf("back: tasks.rr over UDP: flags %v, %d addresses; want tc and fewer than 102\n%s", r.flags, len(r.ips), r.out)
	}
	r = dig(t, ns, append(back, "+tcp", "tasks.rr")...)
	if r.status != "NOERROR" || slices.Contains(r.flags, "tc") || len(r.ips) != 102 {
		t.Errorf("back: tasks.rr over TCP: %s flags %v, %d addresses; want NOERROR, no tc, 102\n%s", r.status, r.flags, len(r.ips), r.out)
	}

	// Unknown external name, no upstream: SERVFAIL at once.
	expect("front: example.com", dig(t, ns, append(front, "example.com")...), "SERVFAIL")

	// Scale up and down follow the store.
	f.put(task("w7", "web", "front", "10.240.3.5"))
	waitDig(t, ns, "tasks.web after scale up", append(front, "tasks.web"), "10.240.1.5", "10.240.1.9", "10.240.2.5", "10.240.3.5")
	f.del(store.TableTasks, "w1")
	f.del(store.TableTasks, "w2")
	waitDig(t, ns, "tasks.web after scale down", append(front, "+tcp", "tasks.web"), "10.240.1.9", "10.240.3.5")
}

// waitDig repeats a dig query until it answers NOERROR with want.
func waitDig(t *testing.T, ns, what string, args []string, want ...string) {
	t.Helper()
	waitFor(t, what, 10*time.Second, func() (bool, string) {
		r := dig(t, ns, args...)
		return r.status == "NOERROR" && slices.Equal(r.ips, addrs(want...)), r.out
	})
}
