package resolver

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"github.com/shoal-org/shoal/api/types"
)

func TestServing(t *testing.T) {
	tests := []struct {
		name    string
		desired types.TaskState
		state   types.TaskState
		healthy *bool
		want    bool
	}{
		{"running, no healthcheck", types.TaskRunning, types.TaskRunning, nil, true},
		{"running, healthy", types.TaskRunning, types.TaskRunning, ptr(true), true},
		{"running, unhealthy", types.TaskRunning, types.TaskRunning, ptr(false), false},
		{"starting", types.TaskRunning, types.TaskStarting, nil, false},
		{"being shut down", types.TaskShutdown, types.TaskRunning, nil, false},
		{"failed", types.TaskRunning, types.TaskFailed, nil, false},
		{"complete", types.TaskShutdown, types.TaskComplete, ptr(true), false},
	}
	for _, tc := range tests {
		task := &types.Task{DesiredState: tc.desired, Status: types.TaskStatus{State: tc.state, Healthy: tc.healthy}}
		if got := Serving(task); got != tc.want {
			t.Errorf("%s: Serving = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fixture is a cluster of three networks:
//
//	front 10.240.0.0/16 (default): web (vip, no networks named), fe
//	back  10.241.0.0/16:           db (back, front), rr (dnsrr), fe (front, back)
//	other 10.242.0.0/16:           empty (no tasks)
//
// and a service "ghost" on a network that does not exist.
func fixture() ([]*types.Network, []*types.Service, []*types.Task) {
	nets := []*types.Network{
		network("other", "10.242.0.0/16", false),
		network("front", "10.240.0.0/16", true),
		network("back", "10.241.0.0/16", false),
	}
	svcs := []*types.Service{
		service("web", nil, map[string]string{"front": "10.240.0.2"}),
		service("db", []string{"back", "front"}, map[string]string{"back": "10.241.0.2", "front": "10.240.0.3"}),
		dnsrr(service("rr", []string{"back"}, nil)),
		service("empty", []string{"other"}, map[string]string{"other": "10.242.0.2"}),
		service("fe", []string{"front", "back"}, map[string]string{"front": "10.240.0.4", "back": "10.241.0.4"}),
		service("ghost", []string{"nowhere"}, map[string]string{"nowhere": "10.250.0.2"}),
	}
	starting := task("w3", "web", "front", "10.240.1.6")
	starting.Status.State = types.TaskStarting
	leaving := task("w4", "web", "front", "10.240.1.7")
	leaving.DesiredState = types.TaskShutdown
	sick := task("w5", "web", "front", "10.240.1.8")
	sick.Status.Healthy = ptr(false)
	well := task("w6", "web", "front", "10.240.1.9/16")
	well.Status.Healthy = ptr(true)
	deadRR := task("r3", "rr", "back", "10.241.1.11")
	deadRR.Status.State = types.TaskFailed
	tasks := []*types.Task{
		task("w1", "web", "front", "10.240.1.5"), task("w2", "web", "front", "10.240.2.5"),
		starting, leaving, sick, well,
		task("d1", "db", "back", "10.241.1.5", "front", "10.240.1.20"),
		task("r1", "rr", "back", "10.241.1.10"), task("r2", "rr", "back", "10.241.2.10"), deadRR,
		task("f1", "fe", "front", "10.240.1.30", "back", "10.241.1.30"),
	}
	return nets, svcs, tasks
}

func TestLookup(t *testing.T) {
	const (
		frontClient = "10.240.1.5"
		backClient  = "10.241.9.9"
		otherClient = "10.242.1.1"
		feFront     = "10.240.1.30" // task on front and back, asking from front
		outside     = "192.168.1.1"
	)
	webTasks := []string{"10.240.1.5", "10.240.1.9", "10.240.2.5"}
	tests := []struct {
		client string // "" is the node itself
		qname  string
		qtype  uint16
		kind   Kind
		want   []string
	}{
		{frontClient, "web", dns.TypeA, Found, []string{"10.240.0.2"}},
		{frontClient, "WEB.", dns.TypeA, Found, []string{"10.240.0.2"}},
		{frontClient, "web.front", dns.TypeA, Found, []string{"10.240.0.2"}},
		{frontClient, "Web.Front.", dns.TypeA, Found, []string{"10.240.0.2"}},
		{frontClient, "tasks.web", dns.TypeA, Found, webTasks},
		{frontClient, "Tasks.WEB.front.", dns.TypeA, Found, webTasks},
		{frontClient, "web", dns.TypeAAAA, Found, nil},
		{frontClient, "tasks.web", dns.TypeMX, Found, nil},
		{frontClient, "web.back", dns.TypeA, Forward, nil},
		{frontClient, "tasks.web.back", dns.TypeA, Forward, nil},
		// db is on back and front: each client gets the VIP of its network.
		{frontClient, "db", dns.TypeA, Found, []string{"10.240.0.3"}},
		{backClient, "db", dns.TypeA, Found, []string{"10.241.0.2"}},
		{frontClient, "db.back", dns.TypeA, Hidden, nil},
		{backClient, "tasks.db", dns.TypeA, Found, []string{"10.241.1.5"}},
		{frontClient, "tasks.db", dns.TypeA, Found, []string{"10.240.1.20"}},
		// The node itself and unknown sources: first network in Spec order.
		{"", "db", dns.TypeA, Found, []string{"10.241.0.2"}},
		{"", "web", dns.TypeA, Found, []string{"10.240.0.2"}},
		{"", "rr", dns.TypeA, Found, []string{"10.241.1.10", "10.241.2.10"}},
		{outside, "tasks.db", dns.TypeA, Found, []string{"10.241.1.5"}},
		// dnsrr answers the serving tasks; isolation hides it from front.
		{backClient, "rr", dns.TypeA, Found, []string{"10.241.1.10", "10.241.2.10"}},
		{backClient, "tasks.rr.back", dns.TypeA, Found, []string{"10.241.1.10", "10.241.2.10"}},
		{frontClient, "rr", dns.TypeA, Hidden, nil},
		{frontClient, "tasks.rr", dns.TypeA, Hidden, nil},
		{frontClient, "rr", dns.TypeAAAA, Hidden, nil},
		// A task on front and back sees back's services from its front address,
		// and its own network's VIP first.
		{feFront, "rr", dns.TypeA, Found, []string{"10.241.1.10", "10.241.2.10"}},
		{feFront, "db", dns.TypeA, Found, []string{"10.240.0.3"}},
		// Known name, nothing serving: NOERROR with no answer.
		{otherClient, "empty", dns.TypeA, Found, []string{"10.242.0.2"}},
		{otherClient, "tasks.empty", dns.TypeA, Found, nil},
		{frontClient, "empty", dns.TypeA, Hidden, nil},
		{otherClient, "web", dns.TypeA, Hidden, nil},
		// Not cluster names.
		{frontClient, "ghost", dns.TypeA, Forward, nil},
		{frontClient, "example.com.", dns.TypeA, Forward, nil},
		{frontClient, "tasks", dns.TypeA, Forward, nil},
		{frontClient, "web.front.example.com", dns.TypeA, Forward, nil},
	}
	r := Build(fixture())
	for _, tc := range tests {
		var client netip.Addr
		if tc.client != "" {
			client = netip.MustParseAddr(tc.client)
		}
		got := r.Lookup(client, tc.qname, tc.qtype)
		ips := slices.SortedFunc(slices.Values(got.IPs), netip.Addr.Compare)
		if got.Kind != tc.kind || !slices.Equal(ips, addrs(tc.want...)) {
			t.Errorf("Lookup(%q, %q, %s) = %v %v, want %v %v",
				tc.client, tc.qname, dns.TypeToString[tc.qtype], got.Kind, ips, tc.kind, tc.want)
		}
	}
}

// TestBuildOrderIndependent checks that the records do not depend on the
// order the store lists objects in (apart from documented collisions).
func TestBuildOrderIndependent(t *testing.T) {
	nets, svcs, tasks := fixture()
	want := Build(nets, svcs, tasks)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(nets), func(i, j int) { nets[i], nets[j] = nets[j], nets[i] })
		rng.Shuffle(len(svcs), func(i, j int) { svcs[i], svcs[j] = svcs[j], svcs[i] })
		rng.Shuffle(len(tasks), func(i, j int) { tasks[i], tasks[j] = tasks[j], tasks[i] })
		got := Build(nets, svcs, tasks)
		if got.Len() != want.Len() {
			t.Fatalf("Len = %d, want %d", got.Len(), want.Len())
		}
		for name, e := range want.names {
			if !equalEntry(got.names[name], e) {
				t.Fatalf("name %q: got %+v, want %+v", name, got.names[name], e)
			}
		}
	}
}

func equalEntry(a, b *entry) bool {
	if a == nil || b == nil || len(a.perNet) != len(b.perNet) {
		return false
	}
	for i := range a.perNet {
		if a.perNet[i].network != b.perNet[i].network || !slices.Equal(a.perNet[i].ips, b.perNet[i].ips) {
			return false
		}
	}
	return true
}

func TestBuildCollisions(t *testing.T) {
	nets := []*types.Network{network("web", "10.240.0.0/16", true)}
	svcs := []*types.Service{
		// "tasks.web" is both tasks.SERVICE of web and SERVICE.NETWORK of
		// the service named "tasks" on network "web": the shorter form wins.
		service("tasks", nil, map[string]string{"web": "10.240.0.9"}),
		service("web", nil, map[string]string{"web": "10.240.0.2"}),
		service("Web", nil, map[string]string{"web": "10.240.0.3"}),
	}
	tasks := []*types.Task{task("w1", "web", "web", "10.240.1.5")}
	r := Build(nets, svcs, tasks)
	client := netip.MustParseAddr("10.240.1.5")
	check := func(name string, want ...string) {
		t.Helper()
		got := r.Lookup(client, name, dns.TypeA)
		if got.Kind != Found || !slices.Equal(got.IPs, addrs(want...)) {
			t.Errorf("%s = %v %v, want found %v", name, got.Kind, got.IPs, want)
		}
	}
	check("tasks.web", "10.240.1.5")
	check("tasks", "10.240.0.9")
	check("web", "10.240.0.2")
}

func TestBuildNoDefaultNetwork(t *testing.T) {
	nets := []*types.Network{network("front", "10.240.0.0/16", false)}
	svcs := []*types.Service{service("web", nil, map[string]string{"front": "10.240.0.2"})}
	r := Build(nets, svcs, nil)
	if got := r.Lookup(netip.Addr{}, "web", dns.TypeA); got.Kind != Forward {
		t.Fatalf("service on no network: got %v, want forward", got.Kind)
	}
}

// TestBuildAliases: a network alias answers with the service's VIP (and
// tasks.ALIAS with its tasks) to tasks on that network only; a service's
// own name beats another's alias.
func TestBuildAliases(t *testing.T) {
	nets := []*types.Network{network("front", "10.240.0.0/16", true), network("back", "10.241.0.0/16", false)}
	db := service("app_db", []string{"back", "front"}, map[string]string{"back": "10.241.0.2", "front": "10.240.0.2"})
	db.Spec.Task.Aliases = map[string][]string{"back": {"db", "cache"}}
	web := service("app_web", []string{"front"}, map[string]string{"front": "10.240.0.3"})
	web.Spec.Task.Aliases = map[string][]string{"front": {"Web"}}
	cache := service("cache", []string{"back"}, map[string]string{"back": "10.241.0.4"})
	tasks := []*types.Task{task("d1", "app_db", "back", "10.241.1.5", "front", "10.240.1.5"),
		task("w1", "app_web", "front", "10.240.1.6"), task("c1", "cache", "back", "10.241.1.7")}
	r := Build(nets, []*types.Service{db, web, cache}, tasks)
	onBack, onFront := netip.MustParseAddr("10.241.1.7"), netip.MustParseAddr("10.240.1.6")
	for _, tc := range []struct {
		client netip.Addr
		name   string
		kind   Kind
		want   []string
	}{
		{onBack, "db", Found, []string{"10.241.0.2"}},
		{onBack, "tasks.db", Found, []string{"10.241.1.5"}},
		{onFront, "db", Hidden, nil},                     // the alias is on back only
		{onFront, "web", Found, []string{"10.240.0.3"}},  // aliases fold case like names
		{onBack, "cache", Found, []string{"10.241.0.4"}}, // the service named cache, not db's alias
	} {
		got := r.Lookup(tc.client, tc.name, dns.TypeA)
		if got.Kind != tc.kind || (tc.kind == Found && !slices.Equal(got.IPs, addrs(tc.want...))) {
			t.Errorf("%s from %s = %v %v, want %v %v", tc.name, tc.client, got.Kind, got.IPs, tc.kind, tc.want)
		}
	}
}
