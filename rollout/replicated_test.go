package rollout

import (
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

func TestReplicated(t *testing.T) {
	web := rep("web", 3)
	ab := []*types.Node{nd("a"), nd("b")}
	abc := []*types.Node{nd("a"), nd("b"), nd("c")}
	pending := func(t *types.Task) { t.NodeID, t.Status.State = "", types.TaskPending }
	tests := []struct {
		name string
		in   Input
		want []string
	}{
		{name: "create from nothing, spread",
			in:   Input{Nodes: ab, Services: []*types.Service{web}},
			want: []string{"create web.1 v1 on a", "create web.2 v1 on b", "create web.3 v1 on a"}},
		{name: "steady state: nothing to do",
			in: Input{Nodes: ab, Services: []*types.Service{web}, Tasks: []*types.Task{
				tk("w1", web, 1, "a"), tk("w2", web, 2, "b"), tk("w3", web, 3, "a")}}},
		{name: "scale up fills the lowest free numbers",
			in: Input{Nodes: ab, Services: []*types.Service{rep("web", 4)}, Tasks: []*types.Task{
				tk("w1", web, 1, "a"), tk("w3", web, 3, "b")}},
			want: []string{"create web.2 v1 on a", "create web.4 v1 on b"}},
		{name: "scale down: deepest copies on the busiest node first",
			in: Input{Nodes: abc, Services: []*types.Service{web}, Tasks: []*types.Task{
				tk("w1", web, 1, "a"), tk("w2", web, 2, "a"), tk("w3", web, 3, "a"),
				tk("w4", web, 4, "b"), tk("w5", web, 5, "c")}},
			want: []string{"update w2: desired shutdown", "update w3: desired shutdown"}},
		{name: "scale down: equal depth, highest slot first",
			in: Input{Nodes: abc, Services: []*types.Service{rep("web", 2)}, Tasks: []*types.Task{
				tk("w1", web, 1, "c"), tk("w2", web, 2, "b"), tk("w3", web, 3, "a")}},
			want: []string{"update w3: desired shutdown"}},
		{name: "scale down: unassigned, then not yet running, before running",
			in: Input{Nodes: abc, Services: []*types.Service{rep("web", 1)}, Tasks: []*types.Task{
				tk("w1", web, 1, "a"), tk("w2", web, 2, "b", observed(types.TaskStarting)),
				tk("w3", web, 3, "", pending)}},
			want: []string{"delete w3", "update w2: desired shutdown"}},
		{name: "scale to zero",
			in: Input{Nodes: ab, Services: []*types.Service{rep("web", 0)}, Tasks: []*types.Task{
				tk("w1", web, 1, "a"), tk("w2", web, 2, "b", ended(types.TaskFailed, -time.Second))}},
			want: []string{"update w1: desired shutdown", "delete w2"}},
		{name: "removed slots are reaped once their tasks are terminal",
			in: Input{Nodes: ab, Services: []*types.Service{rep("web", 1)}, Tasks: []*types.Task{
				tk("w1", web, 1, "a"), tk("h1", web, 1, "a", desired(types.TaskShutdown), ended(types.TaskFailed, -2*time.Hour)),
				tk("w2", web, 2, "b", desired(types.TaskShutdown), observed(types.TaskShutdown)),
				tk("h2", web, 2, "b", desired(types.TaskShutdown), ended(types.TaskFailed, -2*time.Hour)),
				tk("w3", web, 3, "b", desired(types.TaskShutdown))}}, // still stopping: kept
			want: []string{"delete w2", "delete h2"}},
		{name: "node down: orphaned and replaced in the same slot at once",
			in: Input{Nodes: []*types.Node{nd("a", down), nd("b"), nd("c")}, Services: []*types.Service{rep("web", 2)},
				Tasks: []*types.Task{tk("w1", web, 1, "a"), tk("w2", web, 2, "b")}},
			want: []string{"update w1: desired shutdown, orphaned: node host-a is down", "create web.1 v1 on c"}},
		{name: "node gone: orphaned and replaced",
			in: Input{Nodes: ab, Services: []*types.Service{rep("web", 1)},
				Tasks: []*types.Task{tk("w1", web, 1, "x")}},
			want: []string{"update w1: desired shutdown, orphaned: node x is no longer in the cluster", "create web.1 v1 on a"}},
		{name: "drain: shut down and replaced elsewhere in the same slot",
			in: Input{Nodes: []*types.Node{nd("a", drain), nd("b"), nd("c")}, Services: []*types.Service{rep("web", 2)},
				Tasks: []*types.Task{tk("w1", web, 1, "a"), tk("w2", web, 2, "b")}},
			want: []string{"update w1: desired shutdown", "create web.1 v1 on c"}},
		{name: "pause and unknown keep their tasks but get no new ones",
			in: Input{Nodes: []*types.Node{nd("a", pause), nd("b", unknown), nd("c")}, Services: []*types.Service{rep("web", 4)},
				Tasks: []*types.Task{tk("w1", web, 1, "a"), tk("w2", web, 2, "b")}},
			want: []string{"create web.3 v1 on c", "create web.4 v1 on c"}},
		{name: "constraints no longer met: shut down and replaced",
			in: Input{Nodes: []*types.Node{nd("a", label("env", "prod")), nd("b", label("env", "test")), nd("c", label("env", "prod"))},
				Services: []*types.Service{rep("web", 2, constraint("node.labels.env==prod"))},
				Tasks: []*types.Task{tk("w1", rep("web", 2, constraint("node.labels.env==prod")), 1, "b"),
					tk("w2", web, 2, "a")}},
			want: []string{"update w1: desired shutdown", "create web.1 v1 on c"}},
		{name: "template change is left to the updater; new tasks use the new spec",
			in: Input{Nodes: []*types.Node{nd("a", label("env", "prod")), nd("b", label("env", "test"))},
				Services: []*types.Service{rep("web", 2, constraint("node.labels.env==prod"),
					func(s *types.Service) { s.SpecVersion = 2 })},
				Tasks: []*types.Task{tk("w1", web, 1, "b")}},
			want: []string{"create web.2 v2 on a"}},
		{name: "unplaceable: pending with the scheduler's explanation",
			in:   Input{Nodes: ab, Services: []*types.Service{rep("web", 1, constraint("node.labels.gpu==yes"))}},
			want: []string{"create web.1 v1 pending: no suitable node (scheduling constraints not satisfied on 2 nodes)"}},
		{name: "never-assigned task no longer wanted is deleted",
			in: Input{Nodes: ab, Services: []*types.Service{rep("web", 1)}, Tasks: []*types.Task{
				tk("w1", web, 1, "a"), tk("p2", web, 2, "", pending, desired(types.TaskShutdown))}},
			want: []string{"delete p2"}},
		{name: "service removed: stop, then delete when terminal",
			in: Input{Nodes: []*types.Node{nd("a"), nd("d", down)}, Tasks: []*types.Task{
				tk("o1", web, 1, "a"), tk("o2", web, 2, "a", desired(types.TaskShutdown), ended(types.TaskFailed, -time.Hour)),
				tk("o3", web, 3, "", pending), tk("o4", web, 4, "d")}},
			want: []string{"update o1: desired shutdown", "delete o2", "delete o3", "delete o4"}},
		{name: "stray task without slot number",
			in: Input{Nodes: ab, Services: []*types.Service{rep("web", 1)}, Tasks: []*types.Task{
				tk("w1", web, 1, "a"), tk("s0", web, 0, "b")}},
			want: []string{"update s0: desired shutdown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, tt.in, tt.want...) })
	}
}

func TestUnplaceableRetried(t *testing.T) {
	gpu := rep("web", 1, constraint("node.labels.gpu==yes"))
	nodes := []*types.Node{nd("a"), nd("b")}
	in := Input{Now: t0, Nodes: nodes, Services: []*types.Service{gpu}}
	p := check(t, in, "create web.1 v1 pending: no suitable node (scheduling constraints not satisfied on 2 nodes)")
	// Applied and reconciled again with nothing changed: nothing to write.
	in.Tasks = apply(nil, p, t0)
	in.Now = t0.Add(time.Minute)
	check(t, in)
	// One more node that still does not fit: only the message changes.
	in.Nodes = append(nodes, nd("c", drain))
	check(t, in, "update new-1: pending: no suitable node (scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks)")
	// A node gets the label: the same task is assigned.
	in.Nodes = []*types.Node{nd("a"), nd("b", label("gpu", "yes"))}
	p = check(t, in, "update new-1: node b, assigned")
	if u := p.Update[0]; u.Status.Err != "" || u.Status.Message != MsgAssigned || !u.Status.Timestamp.Equal(in.Now) {
		t.Fatalf("assigned status = %+v", u.Status)
	}
}

func TestCreatedTaskFields(t *testing.T) {
	web := rep("web", 1, func(s *types.Service) { s.SpecVersion = 7; s.Spec.Task.Image = "img:7" })
	p := Reconcile(Input{Now: t0, Nodes: []*types.Node{nd("a")}, Services: []*types.Service{web}}, ids())
	if len(p.Create) != 1 {
		t.Fatalf("created %d tasks", len(p.Create))
	}
	c := p.Create[0]
	want := types.Task{ID: "new-1", ServiceID: "web", ServiceName: "web", Slot: 1, NodeID: "a", SpecVersion: 7,
		Spec: web.Spec.Task, DesiredState: types.TaskRunning,
		Status: types.TaskStatus{State: types.TaskAssigned, Timestamp: t0, Message: MsgAssigned}}
	if c.ID != want.ID || c.ServiceID != want.ServiceID || c.ServiceName != want.ServiceName || c.Slot != want.Slot ||
		c.NodeID != want.NodeID || c.SpecVersion != want.SpecVersion || c.Spec.Image != "img:7" ||
		c.DesiredState != want.DesiredState || c.Status != want.Status {
		t.Fatalf("created %+v\nwant    %+v", *c, want)
	}
}

func TestInputNotModified(t *testing.T) {
	web := rep("web", 1)
	w1 := tk("w1", web, 1, "a")
	in := Input{Now: t0, Nodes: []*types.Node{nd("a", down), nd("b")}, Services: []*types.Service{web},
		Tasks: []*types.Task{w1}}
	before := *w1
	p := Reconcile(in, ids())
	if w1.DesiredState != before.DesiredState || w1.Status != before.Status {
		t.Fatalf("input task modified: %+v", *w1)
	}
	if len(p.Update) != 1 || p.Update[0] == w1 || p.Update[0].Status.State != types.TaskOrphaned {
		t.Fatalf("update = %+v", p.Update)
	}
}
