package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

var fixedNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fixtureService is a replicated service at a spec version.
func fixtureService(replicas, version uint64, st *types.UpdateStatus) api.Service {
	s := api.Service{DesiredTasks: replicas}
	s.ID, s.SpecVersion, s.UpdateStatus = "svc1abcdefghijklmnopqrstu", version, st
	s.Spec = webSpec()
	s.Spec.Mode.Replicas = replicas
	s.Spec.Rollback.Monitor = 2 * time.Second
	return s
}

// tk is a task: ID, slot, spec version, desired and observed state, since.
func mkTask(id string, slot int, ver uint64, desired, state types.TaskState, at time.Time) api.Task {
	var t api.Task
	t.ID, t.Slot, t.SpecVersion, t.DesiredState = id, slot, ver, desired
	t.Status = types.TaskStatus{State: state, Timestamp: at}
	t.CreatedAt, t.NodeID, t.NodeHostname = at, "node1", "worker1"
	return t
}

func withErr(t api.Task, msg string) api.Task { t.Status.Err = msg; return t }

func withHealth(t api.Task, ok bool) api.Task { t.Status.Healthy = &ok; return t }

func onNode(t api.Task, node string) api.Task { t.Slot, t.NodeID = 0, node; return t }

func updStatus(s types.UpdateState, msg string) *types.UpdateStatus {
	return &types.UpdateStatus{State: s, StartedAt: fixedNow.Add(-time.Minute), Message: msg}
}

const (
	tRun  = types.TaskRunning
	tShut = types.TaskShutdown
)

var (
	barRunning  = "running   [==================================================>]"
	barNew      = "new       [=====>                                             ]"
	barPending  = "pending   [================>                                  ]"
	barAssigned = "assigned  [======================>                            ]"
	barPrep     = "preparing [=================================>                 ]"
	barStarting = "starting  [============================================>      ]"
)

// progressStep is one poll and the display it must produce (terminal rendering,
// which counts down).
type progressStep struct {
	at    time.Time
	svc   api.Service
	tasks []api.Task
	want  []string
	done  bool
	err   string
}

// progressCases are polls in sequence and the display each must produce.
func progressCases() []struct {
	name  string
	spec  watchSpec
	steps []progressStep
} {
	v1 := func(id string, slot int, state types.TaskState, at time.Time) api.Task {
		return mkTask(id, slot, 1, tRun, state, at)
	}
	old := fixedNow.Add(-time.Hour)
	return []struct {
		name  string
		spec  watchSpec
		steps []progressStep
	}{
		{"create converging", watchSpec{Op: opCreate}, []progressStep{
			{at: fixedNow, svc: fixtureService(3, 1, nil),
				want: []string{"overall progress: 0 out of 3 tasks", "1/3: ", "2/3: ", "3/3: "}},
			{at: fixedNow.Add(time.Second), svc: fixtureService(3, 1, nil), tasks: []api.Task{
				v1("a", 1, types.TaskNew, fixedNow), withErr(v1("b", 2, types.TaskPending, fixedNow), "no suitable node (insufficient memory on 3 nodes)"),
				v1("c", 3, types.TaskAssigned, fixedNow)},
				want: []string{"overall progress: 0 out of 3 tasks", "1/3: " + barNew,
					"2/3: no suitable node (insufficient memory on 3 nodes)", "3/3: " + barAssigned}},
			{at: fixedNow.Add(2 * time.Second), svc: fixtureService(3, 1, nil), tasks: []api.Task{
				v1("a", 1, types.TaskPreparing, fixedNow), v1("b", 2, types.TaskPending, fixedNow), v1("c", 3, types.TaskStarting, fixedNow)},
				want: []string{"overall progress: 0 out of 3 tasks", "1/3: " + barPrep, "2/3: " + barPending, "3/3: " + barStarting}},
			{at: fixedNow.Add(3 * time.Second), svc: fixtureService(3, 1, nil), tasks: []api.Task{
				v1("a", 1, tRun, fixedNow.Add(3*time.Second)), v1("b", 2, tRun, fixedNow.Add(3*time.Second)), v1("c", 3, tRun, fixedNow.Add(2*time.Second))},
				want: []string{"overall progress: 3 out of 3 tasks", "1/3: " + barRunning, "2/3: " + barRunning, "3/3: " + barRunning,
					"verify: Waiting 5 seconds to verify that tasks are stable..."}},
			{at: fixedNow.Add(5500 * time.Millisecond), svc: fixtureService(3, 1, nil), tasks: []api.Task{
				v1("a", 1, tRun, fixedNow.Add(3*time.Second)), v1("b", 2, tRun, fixedNow.Add(3*time.Second)), v1("c", 3, tRun, fixedNow.Add(2*time.Second))},
				want: []string{"overall progress: 3 out of 3 tasks", "1/3: " + barRunning, "2/3: " + barRunning, "3/3: " + barRunning,
					"verify: Waiting 3 seconds to verify that tasks are stable..."}},
			{at: fixedNow.Add(8 * time.Second), svc: fixtureService(3, 1, nil), tasks: []api.Task{
				v1("a", 1, tRun, fixedNow.Add(3*time.Second)), v1("b", 2, tRun, fixedNow.Add(3*time.Second)), v1("c", 3, tRun, fixedNow.Add(2*time.Second))},
				want: []string{"overall progress: 3 out of 3 tasks", "1/3: " + barRunning, "2/3: " + barRunning, "3/3: " + barRunning,
					"verify: Service converged"}, done: true},
		}},
		{"update paused with message", watchSpec{Op: opUpdate, Baseline: updStatus(types.UpdateCompleted, "update completed")}, []progressStep{
			{at: fixedNow, svc: fixtureService(3, 2, updStatus(types.UpdateCompleted, "update completed")), tasks: []api.Task{
				v1("a", 1, tRun, old), v1("b", 2, tRun, old), v1("c", 3, tRun, old)},
				want: []string{"overall progress: 0 out of 3 tasks", "1/3: ", "2/3: ", "3/3: "}},
			{at: fixedNow.Add(time.Second), svc: fixtureService(3, 2, updStatus(types.UpdateUpdating, "update in progress")), tasks: []api.Task{
				mkTask("a", 1, 1, tShut, tShut, fixedNow), mkTask("a2", 1, 2, tRun, tRun, fixedNow), mkTask("b", 2, 1, tShut, tShut, fixedNow),
				withErr(mkTask("b2", 2, 2, tRun, types.TaskFailed, fixedNow), "task: non-zero exit (1)"), v1("c", 3, tRun, old)},
				want: []string{"overall progress: 1 out of 3 tasks", "1/3: " + barRunning, "2/3: task: non-zero exit (1)", "3/3: "}},
			{at: fixedNow.Add(2 * time.Second), svc: fixtureService(3, 2, updStatus(types.UpdatePaused, "update paused due to failure or early termination of task b2")),
				want: []string{"overall progress: 0 out of 3 tasks", "1/3: ", "2/3: ", "3/3: "},
				err:  "service update paused: update paused due to failure or early termination of task b2"},
		}},
		{"stale paused status does not fail a scale", watchSpec{Op: opScale, Baseline: updStatus(types.UpdatePaused, "update paused due to failure")}, []progressStep{
			{at: fixedNow, svc: fixtureService(3, 1, updStatus(types.UpdatePaused, "update paused due to failure")), tasks: []api.Task{
				v1("a", 1, tRun, old), v1("b", 2, tRun, old), v1("c", 3, types.TaskAssigned, fixedNow)},
				want: []string{"overall progress: 2 out of 3 tasks", "1/3: " + barRunning, "2/3: " + barRunning, "3/3: " + barAssigned}},
		}},
		{"scale down converges at once around a slot gap", watchSpec{Op: opScale}, []progressStep{
			{at: fixedNow, svc: fixtureService(2, 1, nil), tasks: []api.Task{v1("a", 1, tRun, old), mkTask("b", 2, 1, tShut, tShut, fixedNow), v1("c", 3, tRun, old)},
				want: []string{"overall progress: 2 out of 2 tasks", "1/2: " + barRunning, "2/2: " + barRunning, "verify: Service converged"}, done: true},
		}},
		{"manual rollback", watchSpec{Op: opRollback, Baseline: updStatus(types.UpdateCompleted, "update completed")}, []progressStep{
			{at: fixedNow, svc: fixtureService(2, 3, updStatus(types.UpdateRollbackStarted, "manually requested rollback")), tasks: []api.Task{
				mkTask("a", 1, 3, tRun, tRun, fixedNow), mkTask("b", 2, 2, tRun, tRun, old)},
				want: []string{"rollback: manually requested rollback", "overall progress: rolling back update: 1 out of 2 tasks",
					"1/2: " + barRunning, "2/2: "}},
			{at: fixedNow.Add(time.Second), svc: fixtureService(2, 3, updStatus(types.UpdateRollbackCompleted, "rollback completed")), tasks: []api.Task{
				mkTask("a", 1, 3, tRun, tRun, fixedNow), mkTask("b2", 2, 3, tRun, tRun, fixedNow.Add(time.Second))},
				want: []string{"overall progress: rolling back update: 2 out of 2 tasks", "1/2: " + barRunning, "2/2: " + barRunning,
					"verify: Waiting 2 seconds to verify that tasks are stable..."}},
			{at: fixedNow.Add(3 * time.Second), svc: fixtureService(2, 3, updStatus(types.UpdateRollbackCompleted, "rollback completed")), tasks: []api.Task{
				mkTask("a", 1, 3, tRun, tRun, fixedNow), mkTask("b2", 2, 3, tRun, tRun, fixedNow.Add(time.Second))},
				want: []string{"overall progress: rolling back update: 2 out of 2 tasks", "1/2: " + barRunning, "2/2: " + barRunning,
					"verify: Service converged"}, done: true},
		}},
		{"update rolled back by its failure action", watchSpec{Op: opUpdate}, []progressStep{
			{at: fixedNow, svc: fixtureService(1, 3, updStatus(types.UpdateRollbackStarted, "update rolled back due to failure or early termination of task x")),
				tasks: []api.Task{mkTask("a", 1, 3, tRun, types.TaskStarting, fixedNow)},
				want: []string{"rollback: update rolled back due to failure or early termination of task x",
					"overall progress: rolling back update: 0 out of 1 tasks", "1/1: " + barStarting}},
			{at: fixedNow.Add(time.Second), svc: fixtureService(1, 3, updStatus(types.UpdateRollbackCompleted, "rollback completed")),
				tasks: []api.Task{mkTask("a", 1, 3, tRun, tRun, fixedNow)},
				want:  []string{"overall progress: rolling back update: 1 out of 1 tasks", "1/1: " + barRunning},
				err:   "service rolled back: rollback completed"},
		}},
		{"rollback paused", watchSpec{Op: opRollback}, []progressStep{
			{at: fixedNow, svc: fixtureService(1, 3, updStatus(types.UpdateRollbackPaused, "rollback paused due to failure of task y")),
				want: []string{"overall progress: rolling back update: 0 out of 1 tasks", "1/1: "},
				err:  "service rollback paused: rollback paused due to failure of task y"},
		}},
		{"failure after settling, then recovery", watchSpec{Op: opCreate}, []progressStep{
			{at: fixedNow, svc: fixtureService(1, 1, nil), tasks: []api.Task{v1("a", 1, tRun, fixedNow)},
				want: []string{"overall progress: 1 out of 1 tasks", "1/1: " + barRunning, "verify: Waiting 5 seconds to verify that tasks are stable..."}},
			{at: fixedNow.Add(time.Second), svc: fixtureService(1, 1, nil), tasks: []api.Task{
				withErr(mkTask("a", 1, 1, tShut, types.TaskFailed, fixedNow.Add(time.Second)), "task: non-zero exit (2)")},
				want: []string{"overall progress: 0 out of 1 tasks", "1/1: task: non-zero exit (2)", "verify: Detected task failure"}},
			{at: fixedNow.Add(2 * time.Second), svc: fixtureService(1, 1, nil), tasks: []api.Task{
				withErr(mkTask("a", 1, 1, tShut, types.TaskFailed, fixedNow.Add(time.Second)), "task: non-zero exit (2)"), v1("b", 1, tRun, fixedNow.Add(2*time.Second))},
				want: []string{"overall progress: 1 out of 1 tasks", "1/1: " + barRunning, "verify: Waiting 5 seconds to verify that tasks are stable..."}},
		}},
		{"unhealthy task shows as starting", watchSpec{Op: opCreate}, []progressStep{
			{at: fixedNow, svc: fixtureService(1, 1, nil), tasks: []api.Task{withHealth(v1("a", 1, tRun, old), false)},
				want: []string{"overall progress: 0 out of 1 tasks", "1/1: " + barStarting}},
			{at: fixedNow, svc: fixtureService(1, 1, nil), tasks: []api.Task{withHealth(v1("a", 1, tRun, old), true)},
				want: []string{"overall progress: 1 out of 1 tasks", "1/1: " + barRunning, "verify: Service converged"}, done: true},
		}},
		{"global service lines per node", watchSpec{Op: opUpdate}, []progressStep{
			{at: fixedNow, svc: func() api.Service {
				s := fixtureService(0, 2, updStatus(types.UpdateUpdating, ""))
				s.Spec.Mode, s.DesiredTasks = types.ServiceMode{Global: true}, 2
				return s
			}(), tasks: []api.Task{onNode(mkTask("a", 0, 2, tRun, tRun, fixedNow), "nodeaaaaaaaaaaaaaaaaaaaaa"), onNode(mkTask("b", 0, 1, tRun, tRun, old), "nodebbbbbbbbbbbbbbbbbbbbb")},
				want: []string{"overall progress: 1 out of 2 tasks", "nodeaaaaaaaa: " + barRunning, "nodebbbbbbbb: "}},
		}},
		{"no task lines beyond 20 tasks", watchSpec{Op: opCreate}, []progressStep{
			{at: fixedNow, svc: fixtureService(21, 1, nil), tasks: []api.Task{v1("a", 1, tRun, fixedNow)},
				want: []string{"overall progress: 1 out of 21 tasks"}},
		}},
		{"scaled to zero", watchSpec{Op: opScale}, []progressStep{
			{at: fixedNow, svc: fixtureService(0, 1, nil), tasks: []api.Task{mkTask("a", 1, 1, tShut, tRun, old)},
				want: []string{"overall progress: 0 out of 0 tasks", "verify: Waiting 5 seconds to verify that tasks are stable..."}},
			{at: fixedNow.Add(5 * time.Second), svc: fixtureService(0, 1, nil), tasks: []api.Task{mkTask("a", 1, 1, tShut, tShut, fixedNow)},
				want: []string{"overall progress: 0 out of 0 tasks", "verify: Service converged"}, done: true},
		}},
	}
}

func TestProgressSequences(t *testing.T) {
	for _, tt := range progressCases() {
		t.Run(tt.name, func(t *testing.T) {
			w := &watcher{spec: tt.spec}
			for i, st := range tt.steps {
				f, done, err := w.observe(st.svc, st.tasks, st.at)
				if got := linesText(render(f, true)); got != strings.Join(st.want, "\n") {
					t.Errorf("progressStep %d lines:\n%s\nwant:\n%s", i, got, strings.Join(st.want, "\n"))
				}
				if done != st.done {
					t.Errorf("progressStep %d: done = %v, want %v", i, done, st.done)
				}
				if fmt.Sprint(err) != fmt.Sprint(errOrNil(st.err)) {
					t.Errorf("progressStep %d: err = %v, want %q", i, err, st.err)
				}
			}
		})
	}
}

func errOrNil(s string) error {
	if s == "" {
		return nil
	}
	return fmt.Errorf("%s", s)
}

func linesText(lines []progressLine) string {
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = l.String()
	}
	return strings.Join(s, "\n")
}

func TestRenderWithoutCountdown(t *testing.T) {
	f := frame{P: progress{Desired: 1, Running: 1, Monitor: 30 * time.Second}, Verify: verifyWaiting, Wait: 3 * time.Second}
	if got := linesText(render(f, false)); !strings.HasSuffix(got, "verify: Waiting 30 seconds to verify that tasks are stable...") {
		t.Errorf("log rendering should state the monitor period, got:\n%s", got)
	}
	if got := linesText(render(f, true)); !strings.HasSuffix(got, "verify: Waiting 3 seconds to verify that tasks are stable...") {
		t.Errorf("terminal rendering should count down, got:\n%s", got)
	}
}

func TestTruncError(t *testing.T) {
	long := strings.Repeat("x", 80) + "\nnext"
	got := truncError(long)
	if []rune(got)[74] != '…' || len([]rune(got)) != 75 || strings.Contains(got, "\n") {
		t.Errorf("truncError = %q", got)
	}
	if got := truncError("a\nb"); got != "a b" {
		t.Errorf("truncError(a\\nb) = %q", got)
	}
}
