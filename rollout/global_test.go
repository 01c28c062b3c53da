package rollout

import (
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

func TestGlobal(t *testing.T) {
	g := glob("g")
	prod := glob("g", constraint("node.labels.env==prod"))
	big := glob("g", func(s *types.Service) { s.Spec.Task.Reservations.NanoCPUs = 2e9 })
	mixed := []*types.Node{nd("a"), nd("b", drain), nd("c", pause), nd("d", down), nd("e", unknown)}
	tests := []struct {
		name string
		in   Input
		want []string
	}{
		{name: "one task per ready, active node",
			in:   Input{Nodes: mixed, Services: []*types.Service{g}},
			want: []string{"create g v1 on a"}},
		{name: "steady state",
			in: Input{Nodes: mixed, Services: []*types.Service{g}, Tasks: []*types.Task{
				tk("ga", g, 0, "a"), tk("gc", g, 0, "c"), tk("ge", g, 0, "e")}}},
		{name: "a node joins",
			in: Input{Nodes: []*types.Node{nd("a"), nd("z")}, Services: []*types.Service{g},
				Tasks: []*types.Task{tk("ga", g, 0, "a")}},
			want: []string{"create g v1 on z"}},
		{name: "constraints: labels decide, a changed label stops the task",
			in: Input{Nodes: []*types.Node{nd("a", label("env", "prod")), nd("b", label("env", "test")), nd("c", label("env", "prod"))},
				Services: []*types.Service{prod}, Tasks: []*types.Task{tk("ga", prod, 0, "a"), tk("gb", prod, 0, "b")}},
			want: []string{"update gb: desired shutdown", "create g v1 on c"}},
		{name: "drain stops the task, no replacement",
			in: Input{Nodes: []*types.Node{nd("a", drain)}, Services: []*types.Service{g},
				Tasks: []*types.Task{tk("ga", g, 0, "a")}},
			want: []string{"update ga: desired shutdown"}},
		{name: "down node: orphaned, no replacement",
			in: Input{Nodes: []*types.Node{nd("a", down)}, Services: []*types.Service{g},
				Tasks: []*types.Task{tk("ga", g, 0, "a")}},
			want: []string{"update ga: desired shutdown, orphaned: node host-a is down"}},
		{name: "node back: a new task, the orphaned one is history",
			in: Input{Nodes: []*types.Node{nd("a")}, Services: []*types.Service{g},
				Tasks: []*types.Task{tk("ga", g, 0, "a", desired(types.TaskShutdown), observed(types.TaskOrphaned))}},
			want: []string{"create g v1 on a"}},
		{name: "history of a node that left is deleted",
			in: Input{Nodes: []*types.Node{nd("a")}, Services: []*types.Service{g}, Tasks: []*types.Task{
				tk("ga", g, 0, "a"), tk("gx", g, 0, "x", desired(types.TaskShutdown), observed(types.TaskOrphaned))}},
			want: []string{"delete gx"}},
		{name: "history of a down node is kept",
			in: Input{Nodes: []*types.Node{nd("a", down)}, Services: []*types.Service{g}, Tasks: []*types.Task{
				tk("ga", g, 0, "a", desired(types.TaskShutdown), observed(types.TaskOrphaned))}}},
		{name: "restart on the same node after the delay",
			in: Input{Nodes: []*types.Node{nd("a"), nd("b")}, Services: []*types.Service{g}, Tasks: []*types.Task{
				tk("ga", g, 0, "a", ended(types.TaskFailed, -6*time.Second)), tk("gb", g, 0, "b")}},
			want: []string{"update ga: desired shutdown", "create g v1 on a"}},
		{name: "restart waits",
			in: Input{Nodes: []*types.Node{nd("a")}, Services: []*types.Service{g}, Tasks: []*types.Task{
				tk("ga", g, 0, "a", ended(types.TaskFailed, -time.Second))}},
			want: []string{"wake +4s"}},
		{name: "no restart on a paused node",
			in: Input{Nodes: []*types.Node{nd("a", pause)}, Services: []*types.Service{g}, Tasks: []*types.Task{
				tk("ga", g, 0, "a", ended(types.TaskFailed, -time.Second))}},
			want: []string{"update ga: desired shutdown"}},
		{name: "does not fit: pending on its node",
			in:   Input{Nodes: []*types.Node{nd("a", cpus(1)), nd("b", cpus(4))}, Services: []*types.Service{big}},
			want: []string{"create g v1 on a pending: no suitable node (insufficient resources on 1 node)", "create g v1 on b"}},
		{name: "pending task on a node that drained is deleted",
			in: Input{Nodes: []*types.Node{nd("a", drain)}, Services: []*types.Service{g}, Tasks: []*types.Task{
				tk("ga", g, 0, "a", observed(types.TaskPending))}},
			want: []string{"delete ga"}},
		{name: "stray task with a slot number",
			in: Input{Nodes: []*types.Node{nd("a")}, Services: []*types.Service{g}, Tasks: []*types.Task{
				tk("ga", g, 0, "a"), tk("g1", g, 1, "a")}},
			want: []string{"update g1: desired shutdown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, tt.in, tt.want...) })
	}
}

func TestGlobalPendingRetried(t *testing.T) {
	big := glob("g", func(s *types.Service) { s.Spec.Task.Reservations.NanoCPUs = 2e9 })
	in := Input{Now: t0, Nodes: []*types.Node{nd("a", cpus(1))}, Services: []*types.Service{big}}
	p := check(t, in, "create g v1 on a pending: no suitable node (insufficient resources on 1 node)")
	in.Tasks = apply(nil, p, t0)
	check(t, in)
	in.Nodes = []*types.Node{nd("a", cpus(2))}
	check(t, in, "update new-1: assigned")
}
