package scheduler

import (
	"errors"
	"reflect"
	"testing"

	"github.com/shoal-org/shoal/api/placement"
	"github.com/shoal-org/shoal/api/types"
)

const gib = 1 << 30

// nd builds a ready, active node; opts adjust it.
func nd(id string, opts ...func(*types.Node)) *types.Node {
	n := &types.Node{ID: id, Hostname: "host-" + id, Status: types.NodeReady,
		Availability: types.AvailabilityActive, Role: types.RoleNonvoter,
		Platform: types.Platform{OS: "linux", Architecture: "amd64"}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func status(st types.NodeStatus) func(*types.Node) {
	return func(n *types.Node) { n.Status = st }
}

func avail(a types.Availability) func(*types.Node) {
	return func(n *types.Node) { n.Availability = a }
}

func label(k, v string) func(*types.Node) {
	return func(n *types.Node) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[k] = v
	}
}

func res(cpus float64, mem int64) func(*types.Node) {
	return func(n *types.Node) { n.Resources = types.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem} }
}

func arch(a string) func(*types.Node) {
	return func(n *types.Node) { n.Platform.Architecture = a }
}

// svc builds a replicated service; opts adjust its template.
func svc(id string, opts ...func(*types.TaskTemplate)) *types.Service {
	s := &types.Service{ID: id, SpecVersion: 1, Spec: types.ServiceSpec{Name: id}}
	for _, o := range opts {
		o(&s.Spec.Task)
	}
	return s
}

func constraints(c ...string) func(*types.TaskTemplate) {
	return func(t *types.TaskTemplate) { t.Placement.Constraints = c }
}

func prefs(p ...string) func(*types.TaskTemplate) {
	return func(t *types.TaskTemplate) { t.Placement.Preferences = p }
}

func maxPerNode(m uint64) func(*types.TaskTemplate) {
	return func(t *types.TaskTemplate) { t.Placement.MaxReplicas = m }
}

func reserve(cpus float64, mem int64) func(*types.TaskTemplate) {
	return func(t *types.TaskTemplate) {
		t.Reservations = types.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem}
	}
}

func binpack(t *types.TaskTemplate) { t.Placement.Strategy = "binpack" }

func platforms(p string) func(*types.TaskTemplate) {
	return func(t *types.TaskTemplate) { t.Extra = map[string]string{placement.PlatformsKey: p} }
}

// running is a running task of service s on node; opts adjust it.
func running(s *types.Service, node string, opts ...func(*types.Task)) *types.Task {
	t := &types.Task{ID: s.ID + "@" + node, ServiceID: s.ID, NodeID: node, SpecVersion: s.SpecVersion,
		Spec: s.Spec.Task, DesiredState: types.TaskRunning, Status: types.TaskStatus{State: types.TaskRunning}}
	for _, o := range opts {
		o(t)
	}
	return t
}

func times(n int, t func() *types.Task) []*types.Task {
	out := make([]*types.Task, n)
	for i := range out {
		out[i] = t()
	}
	return out
}

func TestPlaceFilters(t *testing.T) {
	web := svc("web")
	tests := []struct {
		name    string
		nodes   []*types.Node
		tasks   []*types.Task
		svc     *types.Service
		n       int
		want    []string
		wantErr string
	}{
		{name: "availability", n: 1, svc: web,
			nodes: []*types.Node{nd("a", status(types.NodeDown)), nd("b", status(types.NodeUnknown)),
				nd("c", avail(types.AvailabilityPause)), nd("d", avail(types.AvailabilityDrain)), nd("e")},
			want: []string{"e"}},
		{name: "none available", n: 1, svc: web,
			nodes:   []*types.Node{nd("a", status(types.NodeDown)), nd("b", avail(types.AvailabilityDrain))},
			wantErr: "no suitable node (2 nodes not available for new tasks)"},
		{name: "no nodes", n: 1, svc: web, wantErr: "no suitable node (no nodes in the cluster)"},
		{name: "constraints", n: 2, svc: svc("s", constraints("node.labels.env==test", "node.role!=manager")),
			nodes: []*types.Node{nd("a", label("env", "test")), nd("b", label("env", "prod")),
				nd("c", label("env", "test"), func(n *types.Node) { n.Role = types.RoleVoter }), nd("d")},
			want:    []string{"a", "a"},
			wantErr: ""},
		{name: "constraints explained first by count", n: 1, svc: svc("s", constraints("node.labels.env==test")),
			nodes:   []*types.Node{nd("a"), nd("b"), nd("c"), nd("d", status(types.NodeDown), label("env", "test"))},
			wantErr: "no suitable node (scheduling constraints not satisfied on 3 nodes; 1 node not available for new tasks)"},
		{name: "platform", n: 2, svc: svc("s", platforms("linux/arm64")),
			nodes: []*types.Node{nd("a"), nd("b", arch("aarch64"))},
			want:  []string{"b", "b"}},
		{name: "platform rejects", n: 1, svc: svc("s", platforms("windows/amd64")),
			nodes:   []*types.Node{nd("a")},
			wantErr: "no suitable node (unsupported platform on 1 node)"},
		{name: "resources fill up", n: 4, svc: svc("s", reserve(1, gib)),
			nodes:   []*types.Node{nd("a", res(2, 8*gib)), nd("b", res(8, 1*gib)), nd("c")},
			tasks:   []*types.Task{running(svc("other", reserve(0, 512<<20)), "b")},
			want:    []string{"a", "a"},
			wantErr: "no suitable node (insufficient resources on 3 nodes)"},
		{name: "zero reservation fits a node of zero capacity", n: 2, svc: web,
			nodes: []*types.Node{nd("a")}, want: []string{"a", "a"}},
		{name: "max replicas", n: 4, svc: svc("s", maxPerNode(2)),
			nodes:   []*types.Node{nd("a"), nd("b")},
			tasks:   []*types.Task{running(svc("s"), "a")},
			want:    []string{"b", "a", "b"},
			wantErr: "no suitable node (max replicas per node limit exceeded on 2 nodes)"},
		{name: "invalid spec", n: 1, svc: svc("s", constraints("node.labels.env=test")),
			nodes:   []*types.Node{nd("a")},
			wantErr: `place tasks of service "s": constraint "node.labels.env=test": expected KEY==VALUE or KEY!=VALUE`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(tt.nodes, tt.tasks).Place(tt.svc, tt.n)
			if !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("placed on %v, want %v", got, tt.want)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestPlacementErrorWraps(t *testing.T) {
	_, err := New([]*types.Node{nd("a", status(types.NodeDown))}, nil).Place(svc("s"), 1)
	var pe *PlacementError
	if !errors.Is(err, ErrNoSuitableNode) || !errors.As(err, &pe) || pe.Reasons[0].Nodes != 1 {
		t.Fatalf("error %v: want a *PlacementError wrapping ErrNoSuitableNode", err)
	}
	_, err = New([]*types.Node{nd("a")}, nil).Place(svc("s", binpack, prefs("zone")), 1)
	if !errors.Is(err, placement.ErrInvalidPlacement) {
		t.Fatalf("error %v: want ErrInvalidPlacement", err)
	}
	bad := svc("s", func(t *types.TaskTemplate) { t.Placement.Strategy = "random" })
	_, err = New([]*types.Node{nd("a")}, nil).Place(bad, 1)
	want := `place tasks of service "s": placement strategy "random": expected spread or binpack`
	if !errors.Is(err, placement.ErrInvalidPlacement) || err.Error() != want {
		t.Fatalf("error %v: want %q", err, want)
	}
}

func TestSpreadOrder(t *testing.T) {
	web, db := svc("web"), svc("db")
	// a: 1 web + 2 db, b: 1 web, c: 0 web + 1 db, d: 0 web + 1 db.
	tasks := []*types.Task{running(web, "a"), running(db, "a"), running(db, "a"),
		running(web, "b"), running(db, "c"), running(db, "d")}
	nodes := []*types.Node{nd("d"), nd("c"), nd("b"), nd("a")} // order of input is irrelevant
	got, err := New(nodes, tasks).Place(web, 6)
	if err != nil {
		t.Fatal(err)
	}
	// Fewest web first (c, d by ID as totals tie), then b (web 1, total 1)
	// before a (web 1, total 3), then c, d again (web 1, total 2), ...
	want := []string{"c", "d", "b", "c", "d", "a"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("placed on %v, want %v", got, want)
	}
}

func TestCountsUpdateAcrossCalls(t *testing.T) {
	nodes := []*types.Node{nd("a", res(4, 4*gib)), nd("b", res(4, 4*gib)), nd("c", res(4, 4*gib))}
	s := New(nodes, nil)
	web, db := svc("web", maxPerNode(2)), svc("db", reserve(3, gib))
	first, err := s.Place(web, 2)
	if err != nil || !reflect.DeepEqual(first, []string{"a", "b"}) {
		t.Fatalf("first = %v, %v", first, err)
	}
	// db sees web's tasks in the totals: c has none, so it goes first.
	second, err := s.Place(db, 2)
	if err != nil || !reflect.DeepEqual(second, []string{"c", "a"}) {
		t.Fatalf("second = %v, %v", second, err)
	}
	// web continues where it stopped and keeps MaxReplicas over both calls.
	third, err := s.Place(web, 5)
	if want := []string{"c", "b", "a", "c"}; !reflect.DeepEqual(third, want) {
		t.Fatalf("third = %v, want %v", third, want)
	}
	if err == nil || err.Error() != "no suitable node (max replicas per node limit exceeded on 3 nodes)" {
		t.Fatalf("third error = %v", err)
	}
	// db's 3-CPU reservations now fill a and c; only b has room.
	fourth, err := s.Place(db, 2)
	if !reflect.DeepEqual(fourth, []string{"b"}) || err == nil ||
		err.Error() != "no suitable node (insufficient resources on 3 nodes)" {
		t.Fatalf("fourth = %v, %v", fourth, err)
	}
}

func TestNewCounting(t *testing.T) {
	web := svc("web", reserve(1, 0), maxPerNode(1))
	nodes := []*types.Node{nd("a", res(2, 0)), nd("b", res(2, 0))}
	tasks := []*types.Task{
		// Stopping on a: holds its CPU, but does not count for spreading.
		running(web, "a", func(t *types.Task) { t.DesiredState = types.TaskShutdown }),
		// Ignored: terminal, not yet assigned, unknown node.
		running(web, "b", func(t *types.Task) { t.Status.State = types.TaskFailed }),
		running(web, "b", func(t *types.Task) { t.Status.State = types.TaskPending }),
		running(web, "gone"),
	}
	got, err := New(nodes, tasks).Place(web, 3)
	if !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("placed on %v (%v), want [a b]", got, err)
	}
	// a has 1 stopping + 1 new = 2 CPUs: full; b has 1 web: at MaxReplicas.
	if err == nil || err.Error() != "no suitable node (insufficient resources on 1 node; max replicas per node limit exceeded on 1 node)" {
		t.Fatalf("error = %v", err)
	}
}

func TestPreferences(t *testing.T) {
	nodes := []*types.Node{
		nd("a1", label("zone", "a")), nd("a2", label("zone", "a")),
		nd("b1", label("zone", "b")),
		nd("x1"), // no zone label: a branch of its own
	}
	s := svc("web", prefs("spread=node.labels.zone"))
	got, err := New(nodes, nil).Place(s, 6)
	if err != nil {
		t.Fatal(err)
	}
	// Branches in value order ("", a, b), each taking turns by count.
	want := []string{"x1", "a1", "b1", "x1", "a2", "b1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("placed on %v, want %v", got, want)
	}
	// Existing tasks count: zone a already holds 3, so the others catch up.
	tasks := times(3, func() *types.Task { return running(s, "a1") })
	got, _ = New(nodes, tasks).Place(s, 4)
	if want := []string{"x1", "b1", "x1", "b1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("with existing tasks: placed on %v, want %v", got, want)
	}
	// A full branch is skipped.
	full := svc("web", prefs("node.labels.zone"), maxPerNode(1))
	got, err = New(nodes, nil).Place(full, 5)
	if want := []string{"x1", "a1", "b1", "a2"}; !reflect.DeepEqual(got, want) || err == nil {
		t.Fatalf("max replicas: placed on %v (%v), want %v and an error", got, err, want)
	}
}

func TestNestedPreferences(t *testing.T) {
	var nodes []*types.Node
	for _, id := range []string{"a-r1-1", "a-r1-2", "a-r2-1", "b-r1-1"} {
		nodes = append(nodes, nd(id, label("zone", id[:1]), label("rack", id[2:4])))
	}
	got, err := New(nodes, nil).Place(svc("web", prefs("node.labels.zone", "node.labels.rack")), 8)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	// Zones split 4/4; inside zone a, racks split 2/2; inside r1, nodes 1/1.
	want := map[string]int{"a-r1-1": 1, "a-r1-2": 1, "a-r2-1": 2, "b-r1-1": 4}
	if !reflect.DeepEqual(count, want) {
		t.Fatalf("counts %v, want %v", count, want)
	}
}

func TestBinpack(t *testing.T) {
	nodes := []*types.Node{nd("a", res(4, 8*gib)), nd("b", res(4, 8*gib)), nd("c", res(4, 8*gib))}
	other := svc("other", reserve(1, 0))
	tasks := []*types.Task{running(other, "b")} // b is the most loaded
	got, err := New(nodes, tasks).Place(svc("web", binpack, reserve(1, 2*gib)), 7)
	if err != nil {
		t.Fatal(err)
	}
	// b takes 3 more (4 CPUs), then a (a and c tie at load 0: node ID).
	want := []string{"b", "b", "b", "a", "a", "a", "a"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("placed on %v, want %v", got, want)
	}
	// Without reservations, binpack stacks on the node with most tasks.
	got, _ = New(nodes, tasks).Place(svc("web", binpack), 3)
	if want := []string{"b", "b", "b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("no reservations: placed on %v, want %v", got, want)
	}
}

func TestPlaceOnEligibleKeeps(t *testing.T) {
	nodes := []*types.Node{
		nd("a", label("env", "test"), res(1, 0)),
		nd("b", label("env", "prod")),
		nd("p", label("env", "test"), avail(types.AvailabilityPause)),
		nd("d", label("env", "test"), avail(types.AvailabilityDrain)),
		nd("x", label("env", "test"), status(types.NodeDown)),
	}
	g := svc("g", constraints("node.labels.env==test"), reserve(1, 0))
	s := New(nodes, nil)
	for id, want := range map[string]bool{"a": true, "b": false, "p": false, "d": false, "x": false, "nope": false} {
		if got := s.Eligible(g, id); got != want {
			t.Errorf("Eligible(%s) = %v, want %v", id, got, want)
		}
	}
	if err := s.PlaceOn(g, "a"); err != nil {
		t.Fatalf("PlaceOn(a): %v", err)
	}
	if err := s.PlaceOn(g, "a"); err == nil || err.Error() != "no suitable node (insufficient resources on 1 node)" {
		t.Fatalf("second PlaceOn(a) = %v", err)
	}
	if err := s.PlaceOn(g, "b"); err == nil || err.Error() != "no suitable node (scheduling constraints not satisfied on 1 node)" {
		t.Fatalf("PlaceOn(b) = %v", err)
	}
	// Keeps uses the task's own spec, and keeps tasks on paused and down nodes.
	for node, want := range map[string]bool{"a": true, "b": false, "p": true, "d": false, "x": true, "nope": false} {
		if got := s.Keeps(running(g, node)); got != want {
			t.Errorf("Keeps(task on %s) = %v, want %v", node, got, want)
		}
	}
	old := running(g, "b", func(t *types.Task) { t.SpecVersion = 0; t.Spec.Placement.Constraints = nil })
	if !s.Keeps(old) {
		t.Error("Keeps(task of an older spec without constraints on b) = false, want true")
	}
}
