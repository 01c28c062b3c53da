package worker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

var planNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// ptask is a task assigned to the node under test.
func ptask(id string, desired, state types.TaskState) *types.Task {
	return &types.Task{ID: id, ServiceID: "svc", ServiceName: "web", Slot: 1, NodeID: "n1",
		Spec: types.TaskTemplate{Image: "web:v1"}, DesiredState: desired, Status: types.TaskStatus{State: state}}
}

// render writes an action in the form the tables use.
func render(a action) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", a.Kind, a.ID)
	switch a.Kind {
	case actReport:
		fmt.Fprintf(&b, " %s", a.Status.State)
		if a.Status.ContainerID != "" {
			fmt.Fprintf(&b, " ctr=%s", a.Status.ContainerID)
		}
		if a.Status.ExitCode != 0 {
			fmt.Fprintf(&b, " exit=%d", a.Status.ExitCode)
		}
		if a.Status.Err != "" {
			fmt.Fprintf(&b, " err=%q", a.Status.Err)
		}
		if a.Status.Healthy != nil {
			fmt.Fprintf(&b, " healthy=%t", *a.Status.Healthy)
		}
	case actStop, actStart:
		if a.Task == nil {
			b.WriteString(" (no task)")
		} else if a.Task.ID != a.ID {
			fmt.Fprintf(&b, " (task %s!)", a.Task.ID)
		}
	}
	return b.String()
}

var (
	running    = ctrState{Running: true}
	created    = ctrState{}
	exited0    = ctrState{Exited: true}
	exited1    = ctrState{Exited: true, ExitCode: 1}
	exited143  = ctrState{Exited: true, ExitCode: 143}
	desiredRun = types.TaskRunning
	desiredOff = types.TaskShutdown
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name     string
		tasks    []*types.Task
		ctrs     map[string]ctrState
		inflight map[string]opKind
		reported map[string]types.TaskState
		health   map[string]healthMark
		want     []string
	}{
		{name: "assigned task starts", tasks: []*types.Task{ptask("t1", desiredRun, types.TaskAssigned)},
			want: []string{"start t1"}},
		{name: "pending task with this node's ID never starts",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskPending), ptask("t2", desiredRun, types.TaskNew)}},
		{name: "start in flight: nothing more", tasks: []*types.Task{ptask("t1", desiredRun, types.TaskAssigned)},
			inflight: map[string]opKind{"t1": opStart}},
		{name: "half-started by an earlier agent: start again",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskStarting), ptask("t2", desiredRun, types.TaskPreparing)},
			ctrs:  map[string]ctrState{"t1": created},
			want:  []string{"start t1", "start t2"}},
		{name: "adopted running container reported running",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskStarting)},
			ctrs:  map[string]ctrState{"t1": running},
			want:  []string{"report t1 running ctr=t1"}},
		{name: "running container the store knows runs: nothing",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskRunning)},
			ctrs:  map[string]ctrState{"t1": running}},
		{name: "running already reported, not yet accepted: no double report",
			tasks:    []*types.Task{ptask("t1", desiredRun, types.TaskStarting)},
			ctrs:     map[string]ctrState{"t1": running},
			reported: map[string]types.TaskState{"t1": types.TaskRunning}},
		{name: "non-zero exit fails the task",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskRunning)},
			ctrs:  map[string]ctrState{"t1": exited1},
			want:  []string{`report t1 failed ctr=t1 exit=1 err="task: non-zero exit (1)"`}},
		{name: "exit before running was reported still fails it",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskStarting)},
			ctrs:  map[string]ctrState{"t1": exited1},
			want:  []string{`report t1 failed ctr=t1 exit=1 err="task: non-zero exit (1)"`}},
		{name: "exit 0 completes the task",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskRunning)},
			ctrs:  map[string]ctrState{"t1": exited0},
			want:  []string{"report t1 complete ctr=t1"}},
		{name: "failure reported, not yet accepted: keep the container",
			tasks:    []*types.Task{ptask("t1", desiredRun, types.TaskRunning)},
			ctrs:     map[string]ctrState{"t1": exited1},
			reported: map[string]types.TaskState{"t1": types.TaskFailed}},
		{name: "failure accepted: remove the container",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskFailed), ptask("t2", desiredRun, types.TaskComplete)},
			ctrs:  map[string]ctrState{"t1": exited1, "t2": exited0},
			want:  []string{"remove t1", "remove t2"}},
		{name: "running task whose container vanished fails",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskRunning), ptask("t2", desiredRun, types.TaskRunning)},
			ctrs:  map[string]ctrState{"t2": created},
			want: []string{`report t1 failed err="task: container is gone"`,
				`report t2 failed ctr=t2 err="task: container is not running and has no exit status"`}},
		{name: "ended task never restarted by the worker",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskFailed), ptask("t2", desiredRun, types.TaskRejected)}},
		{name: "task the cluster counts as ended must not run on",
			tasks: []*types.Task{ptask("t1", desiredRun, types.TaskFailed)},
			ctrs:  map[string]ctrState{"t1": running},
			want:  []string{"stop t1"}},
		{name: "desired shutdown stops a running container",
			tasks: []*types.Task{ptask("t1", desiredOff, types.TaskRunning), ptask("t2", types.TaskRemove, types.TaskRunning)},
			ctrs:  map[string]ctrState{"t1": running, "t2": running},
			want:  []string{"stop t1", "stop t2"}},
		{name: "stopped container: report shutdown with its exit code",
			tasks: []*types.Task{ptask("t1", desiredOff, types.TaskRunning)},
			ctrs:  map[string]ctrState{"t1": exited143},
			want:  []string{"report t1 shutdown ctr=t1 exit=143"}},
		{name: "shutdown reported, not yet accepted: wait",
			tasks:    []*types.Task{ptask("t1", desiredOff, types.TaskRunning)},
			ctrs:     map[string]ctrState{"t1": exited143},
			reported: map[string]types.TaskState{"t1": types.TaskShutdown}},
		{name: "shutdown accepted: remove",
			tasks: []*types.Task{ptask("t1", desiredOff, types.TaskShutdown)},
			ctrs:  map[string]ctrState{"t1": exited143},
			want:  []string{"remove t1"}},
		{name: "desired shutdown without a container: report shutdown",
			tasks: []*types.Task{ptask("t1", desiredOff, types.TaskAssigned), ptask("t2", desiredOff, types.TaskPreparing)},
			want:  []string{"report t1 shutdown", "report t2 shutdown"}},
		{name: "desired shutdown of a never-assigned task: nothing",
			tasks: []*types.Task{ptask("t1", desiredOff, types.TaskPending)}},
		{name: "orphaned task's container stopped, then removed",
			tasks: []*types.Task{ptask("t1", desiredOff, types.TaskOrphaned), ptask("t2", desiredOff, types.TaskOrphaned)},
			ctrs:  map[string]ctrState{"t1": running, "t2": exited143},
			want:  []string{"stop t1", "remove t2"}},
		{name: "start in flight for a task no longer wanted is cancelled",
			tasks:    []*types.Task{ptask("t1", desiredOff, types.TaskPreparing)},
			inflight: map[string]opKind{"t1": opStart, "gone": opStart},
			want:     []string{"cancel gone", "cancel t1"}},
		{name: "stop or remove in flight: nothing",
			tasks:    []*types.Task{ptask("t1", desiredOff, types.TaskRunning)},
			ctrs:     map[string]ctrState{"t1": running, "x": exited0},
			inflight: map[string]opKind{"t1": opStop, "x": opRemove}},
		{name: "container with a healthcheck reported running, unhealthy until it passes",
			tasks:  []*types.Task{ptask("t1", desiredRun, types.TaskStarting)},
			ctrs:   map[string]ctrState{"t1": running},
			health: map[string]healthMark{"t1": hmChecked},
			want:   []string{"report t1 running ctr=t1 healthy=false"}},
		{name: "unhealthy container is stopped",
			tasks:  []*types.Task{ptask("t1", desiredRun, types.TaskRunning)},
			ctrs:   map[string]ctrState{"t1": running},
			health: map[string]healthMark{"t1": hmUnhealthy},
			want:   []string{"stop t1"}},
		{name: "unhealthy container stopped or gone: task failed",
			tasks:  []*types.Task{ptask("t1", desiredRun, types.TaskRunning), ptask("t2", desiredRun, types.TaskRunning)},
			ctrs:   map[string]ctrState{"t1": exited143},
			health: map[string]healthMark{"t1": hmUnhealthy, "t2": hmUnhealthy},
			want: []string{`report t1 failed ctr=t1 exit=143 err="task: container unhealthy" healthy=false`,
				`report t2 failed err="task: container unhealthy" healthy=false`}},
		{name: "unhealthy failure accepted: remove",
			tasks:  []*types.Task{ptask("t1", desiredRun, types.TaskFailed)},
			ctrs:   map[string]ctrState{"t1": exited143},
			health: map[string]healthMark{"t1": hmUnhealthy},
			want:   []string{"remove t1"}},
		{name: "unhealthy task meanwhile desired shutdown: shut down as usual",
			tasks:  []*types.Task{ptask("t1", desiredOff, types.TaskRunning)},
			ctrs:   map[string]ctrState{"t1": exited143},
			health: map[string]healthMark{"t1": hmUnhealthy},
			want:   []string{"report t1 shutdown ctr=t1 exit=143"}},
		{name: "containers of tasks not assigned here are stopped or removed",
			ctrs: map[string]ctrState{"a": running, "b": exited0, "c": created},
			want: []string{"stop a (no task)", "remove b", "remove c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acts := plan(snapshot{Now: planNow, Tasks: tc.tasks, Containers: tc.ctrs, InFlight: tc.inflight, Reported: tc.reported,
				Health: tc.health})
			var got []string
			for _, a := range acts {
				got = append(got, render(a))
				if a.Kind == actReport && !a.Status.Timestamp.Equal(planNow) {
					t.Errorf("%s: timestamp %v, want %v", render(a), a.Status.Timestamp, planNow)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("plan:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestPlanInvariants checks, over random snapshots, the rules every plan
// must keep whatever the input.
func TestPlanInvariants(t *testing.T) {
	states := []types.TaskState{types.TaskNew, types.TaskPending, types.TaskAssigned, types.TaskPreparing,
		types.TaskStarting, types.TaskRunning, types.TaskComplete, types.TaskShutdown, types.TaskFailed,
		types.TaskRejected, types.TaskOrphaned}
	desired := []types.TaskState{types.TaskRunning, types.TaskShutdown, types.TaskRemove}
	ctrChoices := []*ctrState{nil, &running, &created, &exited0, &exited1}
	ops := []opKind{0, opStart, opStop, opRemove}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		s := snapshot{Now: planNow, Containers: map[string]ctrState{}, InFlight: map[string]opKind{}, Reported: map[string]types.TaskState{},
			Health: map[string]healthMark{}}
		tasks := map[string]*types.Task{}
		for i := range 6 {
			id := fmt.Sprintf("t%d", i)
			if rng.IntN(4) > 0 {
				tk := ptask(id, desired[rng.IntN(len(desired))], states[rng.IntN(len(states))])
				s.Tasks = append(s.Tasks, tk)
				tasks[id] = tk
				if rng.IntN(3) == 0 {
					s.Reported[id] = states[rng.IntN(len(states))]
				}
			}
			if c := ctrChoices[rng.IntN(len(ctrChoices))]; c != nil {
				s.Containers[id] = *c
			}
			if k := ops[rng.IntN(len(ops))]; k != 0 {
				s.InFlight[id] = k
			}
			if m := healthMark(rng.IntN(3)); m != hmNone {
				s.Health[id] = m
			}
		}
		checkInvariants(t, s, tasks, plan(s))
	}
}

func checkInvariants(t *testing.T, s snapshot, tasks map[string]*types.Task, acts []action) {
	t.Helper()
	seen := map[string]bool{}
	for _, a := range acts {
		if seen[a.ID] {
			t.Fatalf("two actions for %s in %v", a.ID, acts)
		}
		seen[a.ID] = true
		tk := tasks[a.ID]
		if _, busy := s.InFlight[a.ID]; busy && a.Kind != actCancel {
			t.Fatalf("%s while an operation is in flight (snapshot %+v)", render(a), s)
		}
		switch a.Kind {
		case actStart:
			obs := observedState(tk, s.Reported)
			if tk == nil || tk.DesiredState != types.TaskRunning || obs.Rank() < types.TaskAssigned.Rank() || obs.Rank() >= types.TaskRunning.Rank() {
				t.Fatalf("%s for task %+v (observed %s)", render(a), tk, obs)
			}
		case actReport:
			if tk == nil || a.Status.State.Rank() <= observedState(tk, s.Reported).Rank() {
				t.Fatalf("%s does not move task %+v forward (reported %s)", render(a), tk, s.Reported[a.ID])
			}
		case actRemove:
			if c, ok := s.Containers[a.ID]; !ok || c.Running {
				t.Fatalf("%s of container %+v (exists %v)", render(a), c, ok)
			}
			if tk != nil && tk.DesiredState == types.TaskRunning && tk.Status.State.Rank() >= types.TaskAssigned.Rank() && !tk.Status.State.Terminal() {
				t.Fatalf("%s before the store shows task %+v ended", render(a), tk)
			}
		case actStop:
			if c := s.Containers[a.ID]; !c.Running {
				t.Fatalf("%s of a container that does not run", render(a))
			}
		case actCancel:
			if s.InFlight[a.ID] != opStart {
				t.Fatalf("%s without a start in flight", render(a))
			}
		}
	}
}
