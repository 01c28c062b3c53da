package rollout

import (
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// mk makes a task of version v (1 or 2) of the service.
type mk = func(id string, v int, slot int, node string, opts ...func(*types.Task)) *types.Task

// v2 returns web updated from img:1 (v1) to img:2 (v2) with cfg, its
// status st, and a helper making tasks of either version.
func v2(n uint64, global bool, cfg types.UpdateConfig, st types.UpdateStatus) (*types.Service, mk) {
	old, _ := fleet(n, global, withUpdate(cfg))
	svc := changeImage(old, "img:2", t0.Add(-time.Minute))
	svc.UpdateStatus = &st
	return svc, func(id string, v int, slot int, node string, opts ...func(*types.Task)) *types.Task {
		if v == 1 {
			return tk(id, old, slot, node, opts...)
		}
		return tk(id, svc, slot, node, opts...)
	}
}

func updating(batch ...int) types.UpdateStatus {
	return types.UpdateStatus{State: types.UpdateUpdating, StartedAt: t0.Add(-time.Minute), BatchSlots: batch,
		Updated: uint64(len(batch))}
}

func running(since time.Duration) func(*types.Task) {
	return func(t *types.Task) { t.Status.State, t.Status.Timestamp = types.TaskRunning, t0.Add(since) }
}

func healthy(h bool) func(*types.Task) { return func(t *types.Task) { t.Status.Healthy = &h } }

// TestUpdateStep checks single plans of the updater on hand-made states.
func TestUpdateStep(t *testing.T) {
	stopFirst := updCfg(2, time.Minute, 0, "", "", 0)
	startFirst := updCfg(1, 0, 0, OrderStartFirst, "", 0)
	tests := []struct {
		name  string
		cfg   types.UpdateConfig
		st    types.UpdateStatus
		nodes []*types.Node
		tasks func(mk) []*types.Task
		want  []string
	}{
		{name: "first plan: a batch of Parallelism slots, old tasks stopped, nothing created yet",
			cfg: stopFirst, st: updating(),
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("w1", 1, 1, "a"), k("w2", 1, 2, "b"), k("w3", 1, 3, "c")}
			},
			want: []string{"update w1: desired shutdown", "update w2: desired shutdown",
				"status web v2: updating batch [1 2][] updated 2 failures 0"}},
		{name: "stop-first: the old task still stops: nothing created",
			cfg: stopFirst, st: updating(1),
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("w1", 1, 1, "a", desired(types.TaskShutdown)), k("w2", 1, 2, "b")}
			}},
		{name: "stop-first: the old task stopped: its replacement, same slot, new spec",
			cfg: stopFirst, st: updating(1),
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("w1", 1, 1, "a", desired(types.TaskShutdown), ended(types.TaskShutdown, -time.Second)),
					k("w2", 1, 2, "b")}
			},
			want: []string{"create web.1 v2 on a"}},
		{name: "stop-first: the old task's node is down: orphaned and replaced at once",
			cfg: stopFirst, st: updating(1), nodes: []*types.Node{nd("a", down), nd("b")},
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("w1", 1, 1, "a", desired(types.TaskShutdown)), k("w2", 1, 2, "b")}
			},
			want: []string{"update w1: orphaned: node host-a is down", "create web.1 v2 on b"}},
		{name: "start-first: the first plan creates the replacement, the old task stays",
			cfg: startFirst, st: updating(),
			tasks: func(k mk) []*types.Task { return []*types.Task{k("w1", 1, 1, "a"), k("w2", 1, 2, "b")} },
			want:  []string{"create web.1 v2 on c", "status web v2: updating batch [1][] updated 1 failures 0"}},
		{name: "start-first: the replacement starts: the old task stays",
			cfg: startFirst, st: updating(1),
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("w1", 1, 1, "a"), k("n1", 2, 1, "b", observed(types.TaskStarting)), k("w2", 1, 2, "b")}
			}},
		{name: "start-first: the replacement runs but its healthcheck has not passed: the old task stays",
			cfg: startFirst, st: updating(1),
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("w1", 1, 1, "a"), k("n1", 2, 1, "b", running(-time.Second), func(t *types.Task) {
					t.Spec.Healthcheck = &types.HealthConfig{Test: []string{"CMD", "true"}}
				}), k("w2", 1, 2, "b")}
			}},
		{name: "start-first: the replacement runs healthy: the old task stops, monitor runs",
			cfg: startFirst, st: updating(1),
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("w1", 1, 1, "a"), k("n1", 2, 1, "b", running(-time.Second), healthy(true)),
					k("w2", 1, 2, "b")}
			},
			want: []string{"update w1: desired shutdown"}},
		{name: "monitor period not over: wake when it ends",
			cfg: stopFirst, st: updating(1),
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("n1", 2, 1, "a", running(-2*time.Second)), k("w2", 1, 2, "b")}
			},
			want: []string{"wake +3s"}},
		{name: "batch done: recorded, next batch after the delay",
			cfg: stopFirst, st: updating(1),
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("n1", 2, 1, "a", running(-10*time.Second)), k("w2", 1, 2, "b")}
			},
			want: []string{"status web v2: updating batch [][] updated 1 failures 0", "wake +55s"}},
		{name: "a new task rejected: counted, paused, left to the restart policy",
			cfg: stopFirst, st: updating(1, 2),
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("n1", 2, 1, "a", ended(types.TaskRejected, -time.Second)),
					k("n2", 2, 2, "b", observed(types.TaskStarting)), k("w3", 1, 3, "c")}
			},
			want: []string{"status web v2: paused batch [2][] updated 2 failures 1", "wake +4s"}},
		{name: "paused: the batch in flight finishes its step, nothing else",
			cfg: stopFirst, st: types.UpdateStatus{State: types.UpdatePaused, BatchSlots: []int{1, 2}, Updated: 2},
			tasks: func(k mk) []*types.Task {
				return []*types.Task{k("w1", 1, 1, "a", desired(types.TaskShutdown), ended(types.TaskShutdown, -time.Second)),
					k("n2", 2, 2, "b", ended(types.TaskFailed, -time.Minute)), k("w3", 1, 3, "c")}
			},
			want: []string{"create web.1 v2 on a", "update n2: desired shutdown", "create web.2 v2 on b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, k := v2(3, false, tt.cfg, tt.st)
			nodes := tt.nodes
			if nodes == nil {
				nodes = abc
			}
			tasks := tt.tasks(k)
			slots := map[int]bool{}
			for _, tsk := range tasks {
				slots[tsk.Slot] = true
			}
			svc.Spec.Mode.Replicas = uint64(len(slots))
			check(t, Input{Nodes: nodes, Services: []*types.Service{svc}, Tasks: tasks}, tt.want...)
		})
	}
}

// TestGlobalUpdateSkipsIneligibleNodes: a paused node keeps its old task
// and does not hold up completion.
func TestGlobalUpdateSkipsIneligibleNodes(t *testing.T) {
	nodes := []*types.Node{nd("a", pause), nd("b"), nd("c")}
	svc, k := v2(0, true, updCfg(0, 0, 0, "", "", 0), updating())
	in := Input{Nodes: nodes, Services: []*types.Service{svc},
		Tasks: []*types.Task{k("wa", 1, 0, "a"), k("wb", 1, 0, "b"), k("wc", 1, 0, "c")}}
	check(t, in, "update wb: desired shutdown", "update wc: desired shutdown",
		"status web v2: updating batch [][b c] updated 2 failures 0")
	svc.UpdateStatus = &types.UpdateStatus{State: types.UpdateUpdating, BatchNodes: []string{"b", "c"}, Updated: 2}
	in.Tasks = []*types.Task{k("wa", 1, 0, "a"), k("nb", 2, 0, "b", running(-time.Minute)), k("nc", 2, 0, "c", running(-time.Minute))}
	p := check(t, in, "status web v2: completed batch [][] updated 2 failures 0")
	if st := p.Services[0].UpdateStatus; st.Message != MsgUpdateCompleted || !st.CompletedAt.Equal(t0) {
		t.Fatalf("status %+v", *st)
	}
}

// TestRollbackComparesTemplates: after a rollback (v3 = v1's template),
// a task of v1 is up to date (relabelled v3) and only the v2 task is
// replaced.
func TestRollbackComparesTemplates(t *testing.T) {
	v1, _ := fleet(2, false, withRollback(updCfg(0, 0, 0, "", "", 0)))
	upd := changeImage(v1, "img:2", t0.Add(-time.Hour))
	back := upd.Copy()
	back.Spec, back.PreviousSpec = v1.Spec.Copy(), &upd.Spec
	back.SpecVersion = 3
	back.UpdateStatus = BeginUpdate(upd.UpdateStatus, t0.Add(-time.Minute), true)
	in := Input{Nodes: abc, Services: []*types.Service{back}, Tasks: []*types.Task{tk("w1", v1, 1, "a"), tk("n2", upd, 2, "b")}}
	check(t, in, "update w1: v3", "update n2: desired shutdown",
		"status web v3: rollback_started batch [2][] updated 1 failures 0")
}
