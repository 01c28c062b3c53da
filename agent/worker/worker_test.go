package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api/types"
)

func TestConfigRequired(t *testing.T) {
	err := New(Config{}).Run(context.Background())
	if err == nil {
		t.Fatal("Run with an empty Config: no error")
	}
	for _, field := range []string{"NodeID", "Store", "Runtime", "Report"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}

func TestStartPathReportsEveryStatusInOrder(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	openPull, openStart := rt.gate("pull:web:v1"), rt.gate("start:t1")
	startWorker(t, c, rt, nil)

	tk := newTask("t1", nodeA)
	tk.Slot = 3
	tk.Spec = types.TaskTemplate{
		Image: "web:v1", Command: []string{"/web"}, Args: []string{"-listen", ":8080"}, Env: []string{"A=1"},
		Dir: "/srv", User: "1000", Mounts: []types.Mount{{Type: "volume", Source: "data", Target: "/data"}},
		Limits: types.Resources{NanoCPUs: 5e8, MemoryBytes: 1 << 26}, StopSignal: "SIGINT", StopGracePeriod: 7 * time.Second,
		Labels: map[string]string{"team": "blue", LabelTaskID: "forged"},
	}
	c.put(tk)

	c.waitState("t1", types.TaskPreparing)
	equalCalls(t, "calls while pulling", rt.callsOf("t1"), nil)
	openPull()
	c.waitState("t1", types.TaskStarting)
	waitFor(t, "Start called", func() (bool, string) { return len(rt.callsOf("t1")) == 2, "no start yet" })
	equalCalls(t, "calls before start returns", rt.callsOf("t1"), []string{"create t1", "start t1"})
	openStart()
	got := c.waitState("t1", types.TaskRunning)
	if got.Status.ContainerID != "t1" || got.Status.Err != "" {
		t.Fatalf("running status = %+v, want ContainerID t1 and no error", got.Status)
	}
	if s := c.states("t1"); !slices.Equal(s, []types.TaskState{types.TaskPreparing, types.TaskStarting, types.TaskRunning}) {
		t.Fatalf("reported states = %v, want preparing, starting, running", s)
	}

	ctr, ok := rt.container("t1")
	if !ok || !ctr.running {
		t.Fatalf("container t1 exists %v running %v", ok, ctr.running)
	}
	s := ctr.spec
	wantLabels := map[string]string{"team": "blue", LabelTaskID: "t1", LabelServiceID: "svc-web", LabelServiceName: "web", LabelSlot: "3"}
	if s.ID != "t1" || s.Image != "web:v1" || !slices.Equal(s.Command, tk.Spec.Command) || !slices.Equal(s.Args, tk.Spec.Args) ||
		!slices.Equal(s.Env, []string{"A=1", "SHOAL_TASK_ID=t1", "SHOAL_SERVICE=web"}) || s.Dir != "/srv" || s.User != "1000" ||
		!slices.Equal(s.Mounts, tk.Spec.Mounts) || s.Limits != tk.Spec.Limits || s.StopSignal != "SIGINT" ||
		s.StopGrace != 7*time.Second || s.NetNSPath != "" || !equalMaps(s.Labels, wantLabels) {
		t.Fatalf("container spec = %+v", s)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestPullFailureRejects(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	pullErr := &runtime.ImageError{Ref: "web:v9", Registry: "10.0.0.1:5000", Kind: runtime.ErrImageNotFound}
	rt.pullErr["web:v9"] = pullErr
	startWorker(t, c, rt, nil)
	bad := newTask("bad", nodeA)
	bad.Spec.Image = "web:v9"
	c.put(bad)
	got := c.waitState("bad", types.TaskRejected)
	if got.Status.Err != `image "web:v9": not found in registry 10.0.0.1:5000` {
		t.Fatalf("rejected Err = %q", got.Status.Err)
	}
	// Another task running shows the worker went on; the rejected one was
	// pulled once and never created nor retried.
	c.put(newTask("t2", nodeA))
	c.waitState("t2", types.TaskRunning)
	equalCalls(t, "calls of the rejected task", rt.callsOf("bad"), nil)
	equalCalls(t, "pulls of its image", rt.callsOf("web:v9"), []string{"pull web:v9"})
	c.checkForward("bad")
}

func TestExitReportsFailedOrCompleteAndRemoves(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	removedAfterAccepted(t, c, rt)
	startWorker(t, c, rt, nil)
	c.put(newTask("t1", nodeA), newTask("t2", nodeA))
	c.waitState("t1", types.TaskRunning)
	c.waitState("t2", types.TaskRunning)

	rt.exit("t1", 3)
	rt.exit("t2", 0)
	failed := c.waitState("t1", types.TaskFailed)
	if failed.Status.Err != "task: non-zero exit (3)" || failed.Status.ExitCode != 3 || failed.Status.ContainerID != "t1" {
		t.Fatalf("failed status = %+v", failed.Status)
	}
	complete := c.waitState("t2", types.TaskComplete)
	if complete.Status.Err != "" || complete.Status.ExitCode != 0 {
		t.Fatalf("complete status = %+v", complete.Status)
	}
	for _, id := range []string{"t1", "t2"} {
		waitFor(t, "container "+id+" removed", func() (bool, string) {
			_, ok := rt.container(id)
			return !ok, "still there"
		})
		// Never restarted by the worker: the leader decides.
		equalCalls(t, "calls of "+id, rt.callsOf(id), []string{"create " + id, "start " + id, "remove " + id})
		c.checkForward(id)
	}
}

func TestCrashBeforeStartReturns(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	removedAfterAccepted(t, c, rt)
	rt.exitOnStart["t1"] = 1
	startWorker(t, c, rt, nil)
	c.put(newTask("t1", nodeA))
	got := c.waitState("t1", types.TaskFailed)
	if got.Status.ExitCode != 1 || got.Status.Err != "task: non-zero exit (1)" {
		t.Fatalf("status = %+v", got.Status)
	}
	waitFor(t, "container removed", func() (bool, string) { _, ok := rt.container("t1"); return !ok, "still there" })
	equalCalls(t, "calls", rt.callsOf("t1"), []string{"create t1", "start t1", "remove t1"})
	c.checkForward("t1")
}

// TestExitWhileStartEnds covers an exit that reaches the worker before
// the start operation's own (older) view of the container: the exit must
// win.
func TestExitWhileStartEnds(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	openStatus := rt.gate("status:t1")
	startWorker(t, c, rt, nil)
	c.put(newTask("t1", nodeA))
	waitFor(t, "start's status check", func() (bool, string) { return rt.statusWaiting("t1") > 0, "not yet" })
	rt.exit("t1", 5) // the held Status call still answers "running"
	openStatus()
	got := c.waitState("t1", types.TaskFailed)
	if got.Status.ExitCode != 5 {
		t.Fatalf("status = %+v, want exit 5", got.Status)
	}
}

func TestDesiredShutdownStopsThenRemoves(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	removedAfterAccepted(t, c, rt)
	startWorker(t, c, rt, func(cfg *Config) { cfg.StopDrain = 20 * time.Millisecond })
	tk := newTask("t1", nodeA)
	tk.Spec.StopSignal, tk.Spec.StopGracePeriod = "SIGINT", 7*time.Second
	c.put(tk)
	c.waitState("t1", types.TaskRunning)

	c.update("t1", func(t *types.Task) { t.DesiredState = types.TaskShutdown })
	got := c.waitState("t1", types.TaskShutdown)
	if got.Status.ExitCode != 143 || got.Status.ContainerID != "t1" {
		t.Fatalf("shutdown status = %+v, want exit 143 of container t1", got.Status)
	}
	waitFor(t, "container removed", func() (bool, string) { _, ok := rt.container("t1"); return !ok, "still there" })
	equalCalls(t, "calls", rt.callsOf("t1"), []string{"create t1", "start t1", "stop t1 SIGINT 7s", "remove t1"})
	c.checkForward("t1")
}

func TestTaskLeavingTheNodeIsStopped(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	startWorker(t, c, rt, nil)
	c.put(newTask("moved", nodeA), newTask("deleted", nodeA))
	c.waitState("moved", types.TaskRunning)
	c.waitState("deleted", types.TaskRunning)

	c.update("moved", func(t *types.Task) { t.NodeID = nodeB })
	c.del("deleted")
	for _, id := range []string{"moved", "deleted"} {
		waitFor(t, "container "+id+" removed", func() (bool, string) { _, ok := rt.container(id); return !ok, "still there" })
		equalCalls(t, "calls of "+id, rt.callsOf(id), []string{"create " + id, "start " + id, "stop " + id + "  0s", "remove " + id})
	}
	// The task now belongs to another node: nothing is reported for it.
	if s := c.states("moved"); len(s) == 0 || s[len(s)-1] != types.TaskRunning {
		t.Fatalf("moved task reported %v after it left", s)
	}
}

func TestAdoptsContainersAtStart(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	removedAfterAccepted(t, c, rt)
	lbl := func(id string) map[string]string { return map[string]string{LabelTaskID: id} }
	rt.add("keep", lbl("keep"), true, 0)   // store says starting: report running
	rt.add("known", lbl("known"), true, 0) // store says running: nothing to do
	rt.add("off", lbl("off"), true, 0)     // desired shutdown: stop, report, remove
	rt.add("gone", lbl("gone"), true, 0)   // no task: stop, remove
	rt.add("other", lbl("other"), true, 0) // assigned elsewhere: stop, remove
	rt.add("dead", lbl("dead"), false, 2)  // exited while the agent was down
	rt.add("alien", nil, true, 0)          // not a task container
	keepPid := func() uint32 { ctr, _ := rt.container("keep"); return ctr.pid }()

	keep := newTask("keep", nodeA)
	keep.Status = types.TaskStatus{State: types.TaskStarting}
	known := newTask("known", nodeA)
	known.Status = types.TaskStatus{State: types.TaskRunning, ContainerID: "known"}
	off := newTask("off", nodeA)
	off.DesiredState, off.Status = types.TaskShutdown, types.TaskStatus{State: types.TaskRunning, ContainerID: "off"}
	other := newTask("other", nodeB)
	other.Status = types.TaskStatus{State: types.TaskRunning}
	dead := newTask("dead", nodeA)
	dead.Status = types.TaskStatus{State: types.TaskRunning, ContainerID: "dead"}
	c.put(keep, known, off, other, dead)

	startWorker(t, c, rt, nil)
	got := c.waitState("keep", types.TaskRunning)
	if got.Status.ContainerID != "keep" {
		t.Fatalf("adopted status = %+v", got.Status)
	}
	c.waitState("off", types.TaskShutdown)
	if d := c.waitState("dead", types.TaskFailed); d.Status.ExitCode != 2 {
		t.Fatalf("dead status = %+v", d.Status)
	}
	for _, id := range []string{"off", "gone", "other", "dead"} {
		waitFor(t, "container "+id+" removed", func() (bool, string) { _, ok := rt.container(id); return !ok, "still there" })
	}
	equalCalls(t, "calls of keep", rt.callsOf("keep"), nil)
	equalCalls(t, "calls of known", rt.callsOf("known"), nil)
	equalCalls(t, "calls of alien", rt.callsOf("alien"), nil)
	equalCalls(t, "calls of off", rt.callsOf("off"), []string{"stop off  0s", "remove off"})
	equalCalls(t, "calls of gone", rt.callsOf("gone"), []string{"stop gone  0s", "remove gone"})
	equalCalls(t, "calls of other", rt.callsOf("other"), []string{"stop other  0s", "remove other"})
	equalCalls(t, "calls of dead", rt.callsOf("dead"), []string{"remove dead"})
	if ctr, ok := rt.container("keep"); !ok || !ctr.running || ctr.pid != keepPid {
		t.Fatalf("adopted container: exists %v running %v pid %d (was %d)", ok, ctr.running, ctr.pid, keepPid)
	}
	for id, want := range map[string][]types.TaskState{
		"keep": {types.TaskRunning}, "known": nil, "off": {types.TaskShutdown}, "other": nil, "dead": {types.TaskFailed},
	} {
		if s := c.states(id); !slices.Equal(s, want) {
			t.Errorf("reported for %s: %v, want %v", id, s, want)
		}
	}
}

func TestNeverRunsTasksNotAssignedHere(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	startWorker(t, c, rt, nil)
	pending := newTask("pending", nodeA) // a global task no node can take yet
	pending.Status = types.TaskStatus{State: types.TaskPending, Err: "no suitable node"}
	c.put(newTask("theirs", nodeB), pending, newTask("mine", nodeA))
	c.waitState("mine", types.TaskRunning)
	equalCalls(t, "calls of theirs", rt.callsOf("theirs"), nil)
	equalCalls(t, "calls of pending", rt.callsOf("pending"), nil)
	if s := append(c.states("theirs"), c.states("pending")...); len(s) != 0 {
		t.Fatalf("reported %v for tasks not assigned here", s)
	}
}

func TestReportFailuresAreRetried(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	c.failNext = 3
	startWorker(t, c, rt, nil)
	c.put(newTask("t1", nodeA))
	c.waitState("t1", types.TaskRunning)
	if n := c.reportCalls(); n < 4 {
		t.Fatalf("%d Report calls, want at least 3 failed and 1 accepted", n)
	}
	c.checkForward("t1")
	if s := c.states("t1"); s[len(s)-1] != types.TaskRunning {
		t.Fatalf("accepted %v", s)
	}
}

func TestSlowPullDoesNotHoldUpOthers(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	openPull := rt.gate("pull:slow:v1")
	startWorker(t, c, rt, nil)
	slow := newTask("slow", nodeA)
	slow.Spec.Image = "slow:v1"
	c.put(slow, newTask("fast", nodeA))
	c.waitState("fast", types.TaskRunning)
	if st := c.st.View().Task("slow").Status.State; st != types.TaskPreparing {
		t.Fatalf("slow task is %s while its pull hangs, want preparing", st)
	}
	openPull()
	c.waitState("slow", types.TaskRunning)
}

func TestShutdownWhilePulling(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	openPull := rt.gate("pull:web:v1")
	startWorker(t, c, rt, nil)
	c.put(newTask("t1", nodeA))
	c.waitState("t1", types.TaskPreparing)
	c.update("t1", func(t *types.Task) { t.DesiredState = types.TaskShutdown })
	// Once a later task runs, the worker has planned over the shutdown and
	// cancelled the start: it must not create the container after the pull.
	later := newTask("later", nodeA)
	later.Spec.Image = "web:v2"
	c.put(later)
	c.waitState("later", types.TaskRunning)
	openPull()
	c.waitState("t1", types.TaskShutdown)
	equalCalls(t, "calls", rt.callsOf("t1"), nil)
}

func TestRunReturnsWithOperationsInFlight(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	rt.gate("pull:web:v1") // never opened
	rt.gate("stop:t2")
	rt.add("t2", map[string]string{LabelTaskID: "t2"}, true, 0) // no task: stopped, and the stop hangs
	stop := startWorker(t, c, rt, nil)
	c.put(newTask("t1", nodeA))
	c.waitState("t1", types.TaskPreparing)
	waitFor(t, "stop of t2 begins", func() (bool, string) { return len(rt.callsOf("t2")) > 0, "no stop yet" })
	stop() // fails the test unless Run returns
}

func TestResyncAfterExitStreamBreaks(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	startWorker(t, c, rt, nil)
	c.put(newTask("t1", nodeA))
	c.waitState("t1", types.TaskRunning)

	// containerd restarts: the stream ends, listing fails for a while, and
	// the container exits meanwhile, with no event anybody could see.
	rt.setListErr(errors.New("containerd is restarting"))
	lists := len(rt.callsOf("list"))
	rt.breakExits()
	waitFor(t, "a failed relist", func() (bool, string) { return len(rt.callsOf("list")) > lists, "no list" })
	rt.exitSilently("t1", 4)
	rt.setListErr(nil)
	got := c.waitState("t1", types.TaskFailed)
	if got.Status.ExitCode != 4 {
		t.Fatalf("status = %+v, want exit 4", got.Status)
	}
}
