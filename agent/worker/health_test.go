package worker

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

func TestEffectiveHealth(t *testing.T) {
	image := &types.HealthConfig{Test: []string{"CMD", "/web", "-check"}, Interval: time.Second, Timeout: 3 * time.Second, Retries: 5}
	tests := []struct {
		name        string
		task, image *types.HealthConfig
		want        *types.HealthConfig
		wantErr     bool
	}{
		{name: "none anywhere"},
		{name: "image's, defaults for the rest", image: &types.HealthConfig{Test: []string{"CMD", "/check"}},
			want: &types.HealthConfig{Test: []string{"CMD", "/check"}, Interval: 30 * time.Second, Timeout: 30 * time.Second, Retries: 3}},
		{name: "task's over the image's", image: image,
			task: &types.HealthConfig{Test: []string{"CMD-SHELL", "curl -f localhost"}, StartPeriod: time.Minute},
			want: &types.HealthConfig{Test: []string{"CMD-SHELL", "curl -f localhost"}, Interval: time.Second,
				Timeout: 3 * time.Second, Retries: 5, StartPeriod: time.Minute}},
		{name: "task sets timings only: the image's test", image: image,
			task: &types.HealthConfig{Interval: 10 * time.Second, Retries: 1},
			want: &types.HealthConfig{Test: []string{"CMD", "/web", "-check"}, Interval: 10 * time.Second, Timeout: 3 * time.Second, Retries: 1}},
		{name: "NONE disables the image's", image: image, task: &types.HealthConfig{Test: []string{"NONE"}}},
		{name: "timings without any test: none", task: &types.HealthConfig{Interval: time.Second}},
		{name: "unknown form", task: &types.HealthConfig{Test: []string{"FOO", "x"}}, wantErr: true},
		{name: "CMD without a program", task: &types.HealthConfig{Test: []string{"CMD"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := effectiveHealth(tc.task, tc.image)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if got != nil { // the label round-trips
				back, err := parseHealthLabel(healthLabel(got))
				if err != nil || !reflect.DeepEqual(back, got) {
					t.Fatalf("label round trip: %+v, %v", back, err)
				}
			}
		})
	}
}

func TestProbeCommand(t *testing.T) {
	for _, tc := range []struct {
		test, want []string
	}{
		{[]string{"CMD", "/web", "-check", "http://x/"}, []string{"/web", "-check", "http://x/"}},
		{[]string{"CMD-SHELL", "curl -f localhost || exit 1"}, []string{"/bin/sh", "-c", "curl -f localhost || exit 1"}},
		{[]string{"CMD-SHELL", "a", "b"}, []string{"/bin/sh", "-c", "a b"}},
	} {
		if got, err := probeCommand(tc.test); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("probeCommand(%q) = %q, %v; want %q", tc.test, got, err, tc.want)
		}
	}
}

// TestHealthTracker replays probe results at given times (seconds after
// the start period began) and checks each change, docker's rules.
func TestHealthTracker(t *testing.T) {
	type step struct {
		at   int // seconds
		ok   bool
		want healthChange
	}
	tests := []struct {
		name        string
		startPeriod time.Duration
		healthy     bool
		steps       []step
	}{
		{name: "first success makes it healthy", steps: []step{{1, false, healthSame}, {2, true, healthBecameHealthy}, {3, true, healthSame}}},
		{name: "retries failures in a row while starting: unhealthy",
			steps: []step{{1, false, healthSame}, {2, false, healthSame}, {3, false, healthBecameUnhealthy}}},
		{name: "a success resets the streak",
			steps: []step{{1, true, healthBecameHealthy}, {2, false, healthSame}, {3, false, healthSame}, {4, true, healthSame},
				{5, false, healthSame}, {6, false, healthSame}, {7, false, healthBecameUnhealthy}}},
		{name: "failures within the start period do not count", startPeriod: 10 * time.Second,
			steps: []step{{1, false, healthSame}, {2, false, healthSame}, {3, false, healthSame}, {9, false, healthSame},
				{10, false, healthSame}, {11, false, healthSame}, {12, false, healthBecameUnhealthy}}},
		{name: "a success ends the start period", startPeriod: 10 * time.Second,
			steps: []step{{1, false, healthSame}, {2, true, healthBecameHealthy}, {3, false, healthSame}, {4, false, healthSame},
				{5, false, healthBecameUnhealthy}}},
		{name: "adopted healthy: stays healthy until it fails", healthy: true, startPeriod: time.Minute,
			steps: []step{{1, true, healthSame}, {2, false, healthSame}, {3, false, healthSame}, {4, false, healthBecameUnhealthy}}},
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := healthTracker{cfg: types.HealthConfig{Retries: 3, StartPeriod: tc.startPeriod}, since: t0, healthy: tc.healthy}
			for i, s := range tc.steps {
				if got := tr.observe(s.ok, t0.Add(time.Duration(s.at)*time.Second)); got != s.want {
					t.Fatalf("step %d (%+v): change %d, want %d", i, s, got, s.want)
				}
			}
		})
	}
}

// hasSuffix reports whether got ends with want.
func hasSuffix(got []string, want ...string) bool {
	return len(got) >= len(want) && slices.Equal(got[len(got)-len(want):], want)
}

// healthTask is a task of nodeA with healthcheck hc.
func healthTask(id string, hc *types.HealthConfig) *types.Task {
	tk := newTask(id, nodeA)
	tk.Spec.Healthcheck = hc
	return tk
}

func isHealthy(want bool) func(*types.Task) bool {
	return func(t *types.Task) bool {
		return t.Status.State == types.TaskRunning && t.Status.Healthy != nil && *t.Status.Healthy == want
	}
}

func TestHealthcheckHealthy(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	startWorker(t, c, rt, nil)
	rt.setProbe("t1", "fail")
	c.put(healthTask("t1", &types.HealthConfig{Test: []string{"CMD-SHELL", "check --fast"}, Interval: 10 * time.Millisecond, Retries: 1e6}))

	c.waitTask("t1", "running, not yet healthy", isHealthy(false))
	waitFor(t, "a failed probe", func() (bool, string) { return rt.failedExecs("t1") > 0, "none yet" })
	if tk := c.st.View().Task("t1"); !isHealthy(false)(tk) {
		t.Fatalf("after a failed probe: %+v, want running and not healthy", tk.Status)
	}
	rt.setProbe("t1", "ok")
	c.waitTask("t1", "healthy", isHealthy(true))
	// (Earlier states may have been sent in one batch with running.)
	if h := c.health("t1"); !hasSuffix(h, "running unhealthy", "running healthy") {
		t.Fatalf("reported %q", h)
	}
	c.checkForward("t1")
	e := rt.execsOf("t1")[0]
	if !slices.Equal(e.cmd, []string{"/bin/sh", "-c", "check --fast"}) || e.timeout != DefaultHealthTimeout {
		t.Fatalf("probe ran %q with timeout %v, want sh -c and the default %v", e.cmd, e.timeout, DefaultHealthTimeout)
	}
}

func TestHealthcheckUnhealthyFailsTask(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	removedAfterAccepted(t, c, rt)
	openStop := rt.gate("stop:t1")
	startWorker(t, c, rt, func(cfg *Config) { cfg.StopDrain = 20 * time.Millisecond })
	tk := healthTask("t1", &types.HealthConfig{Test: []string{"CMD", "/check"}, Interval: 10 * time.Millisecond, Retries: 2})
	tk.Spec.StopSignal, tk.Spec.StopGracePeriod = "SIGINT", 7*time.Second
	c.put(tk)
	c.waitTask("t1", "healthy", isHealthy(true))

	rt.setProbe("t1", "fail")
	// The load balancers learn first, while the stop (held here) waits.
	c.waitTask("t1", "running, unhealthy again", isHealthy(false))
	openStop()
	failed := c.waitState("t1", types.TaskFailed)
	if st := failed.Status; st.Err != "task: container unhealthy" || st.ExitCode != 143 || st.ContainerID != "t1" ||
		st.Healthy == nil || *st.Healthy {
		t.Fatalf("failed status = %+v", st)
	}
	waitFor(t, "container removed", func() (bool, string) { _, ok := rt.container("t1"); return !ok, "still there" })
	equalCalls(t, "calls", rt.callsOf("t1"), []string{"create t1", "start t1", "stop t1 SIGINT 7s", "remove t1"})
	if h := c.health("t1"); !hasSuffix(h, "running healthy", "running unhealthy", "failed unhealthy") {
		t.Fatalf("reported %q", h)
	}
	c.checkForward("t1")
	if n := rt.failedExecs("t1"); n != 2 {
		t.Fatalf("%d failed probes, want exactly Retries (2): the probe must end when unhealthy", n)
	}
}

func TestHealthcheckNeverHealthyFailsTask(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	rt.setProbe("t1", "fail")
	startWorker(t, c, rt, nil)
	c.put(healthTask("t1", &types.HealthConfig{Test: []string{"CMD", "/check"}, Interval: 10 * time.Millisecond, Retries: 3}))
	failed := c.waitState("t1", types.TaskFailed)
	if failed.Status.Err != errUnhealthy {
		t.Fatalf("failed status = %+v", failed.Status)
	}
	if h := c.health("t1"); slices.Contains(h, "running healthy") {
		t.Fatalf("reported %q: healthy without a passing probe", h)
	}
	if n := rt.failedExecs("t1"); n != 3 {
		t.Fatalf("%d failed probes, want 3", n)
	}
}

func TestHealthcheckStartPeriod(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	rt.setProbe("t1", "fail")
	startWorker(t, c, rt, nil)
	c.put(healthTask("t1", &types.HealthConfig{Test: []string{"CMD", "/check"}, Interval: 10 * time.Millisecond,
		Retries: 2, StartPeriod: time.Hour}))
	// Were the failures counted, the probe would end at the second.
	waitFor(t, "failures within the start period", func() (bool, string) {
		n := rt.failedExecs("t1")
		return n >= 5, fmt.Sprint(n, " failed probes")
	})
	if tk := c.st.View().Task("t1"); !isHealthy(false)(tk) {
		t.Fatalf("within the start period: %+v, want running, not healthy", tk.Status)
	}
	rt.setProbe("t1", "ok")
	c.waitTask("t1", "healthy", isHealthy(true))
	// The success ended the start period: failures count now.
	before := rt.failedExecs("t1")
	rt.setProbe("t1", "fail")
	failed := c.waitState("t1", types.TaskFailed)
	if failed.Status.Err != errUnhealthy {
		t.Fatalf("failed status = %+v", failed.Status)
	}
	if n := rt.failedExecs("t1") - before; n != 2 {
		t.Fatalf("%d failures after the first success, want 2", n)
	}
}

func TestHealthcheckTimeout(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	rt.setProbe("t1", "hang")
	startWorker(t, c, rt, nil)
	c.put(healthTask("t1", &types.HealthConfig{Test: []string{"CMD", "/check"}, Interval: 10 * time.Millisecond,
		Timeout: 20 * time.Millisecond, Retries: 2}))
	failed := c.waitState("t1", types.TaskFailed)
	if failed.Status.Err != errUnhealthy {
		t.Fatalf("failed status = %+v", failed.Status)
	}
	execs := rt.execsOf("t1")
	if len(execs) != 2 {
		t.Fatalf("%d probes, want 2", len(execs))
	}
	for _, e := range execs {
		if e.ok || e.timeout != 20*time.Millisecond {
			t.Fatalf("probe %+v, want a failure with timeout 20ms", e)
		}
	}
}

// TestHealthcheckFromImage: the image's HEALTHCHECK applies unless the
// task disables it (NONE); a task may change its timings only.
func TestHealthcheckFromImage(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	rt.imageHealth["web:v1"] = &types.HealthConfig{Test: []string{"CMD", "/img-check"}, Interval: 10 * time.Millisecond}
	startWorker(t, c, rt, nil)
	c.put(healthTask("none", &types.HealthConfig{Test: []string{"NONE"}}),
		healthTask("inherit", nil),
		healthTask("timings", &types.HealthConfig{Interval: 20 * time.Millisecond, Retries: 5}))
	c.waitTask("inherit", "healthy", isHealthy(true))
	c.waitTask("timings", "healthy", isHealthy(true))
	none := c.waitState("none", types.TaskRunning)
	if none.Status.Healthy != nil || len(rt.execsOf("none")) != 0 {
		t.Fatalf("NONE: status %+v after %d probes, want no health and no probe", none.Status, len(rt.execsOf("none")))
	}
	if h := c.health("none"); slices.ContainsFunc(h, func(s string) bool { return strings.Contains(s, "healthy") }) {
		t.Fatalf("NONE reported %q", h)
	}
	if ctr, _ := rt.container("none"); ctr.labels[LabelHealthcheck] != "" {
		t.Fatalf("NONE container labelled %q", ctr.labels[LabelHealthcheck])
	}
	if e := rt.execsOf("inherit")[0]; !slices.Equal(e.cmd, []string{"/img-check"}) {
		t.Fatalf("inherited probe ran %q", e.cmd)
	}
	ctr, _ := rt.container("timings")
	got, err := parseHealthLabel(ctr.labels[LabelHealthcheck])
	want := &types.HealthConfig{Test: []string{"CMD", "/img-check"}, Interval: 20 * time.Millisecond, Timeout: DefaultHealthTimeout, Retries: 5}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("healthcheck label = %+v, %v; want %+v", got, err, want)
	}
}

func TestHealthcheckInvalidRejects(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	startWorker(t, c, rt, nil)
	c.put(healthTask("bad", &types.HealthConfig{Test: []string{"CMD-EXEC", "/check"}}))
	got := c.waitState("bad", types.TaskRejected)
	if want := `task: healthcheck test ["CMD-EXEC" "/check"]: want ["CMD", program, args...], ["CMD-SHELL", command] or ["NONE"]`; got.Status.Err != want {
		t.Fatalf("Err = %q, want %q", got.Status.Err, want)
	}
	equalCalls(t, "calls", rt.callsOf("bad"), nil)
}

// TestHealthcheckResumesAfterAdoption: a restarted worker probes the
// containers it adopts, from their label, starting from the health the
// store shows.
func TestHealthcheckResumesAfterAdoption(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	label := healthLabel(&types.HealthConfig{Test: []string{"CMD", "/check"}, Interval: 10 * time.Millisecond, Timeout: time.Second, Retries: 2})
	for _, id := range []string{"sick", "fresh"} {
		rt.add(id, map[string]string{LabelTaskID: id, LabelHealthcheck: label}, true, 0)
	}
	rt.setProbe("sick", "fail")
	yes, no := true, false
	sick, fresh := newTask("sick", nodeA), newTask("fresh", nodeA)
	sick.Status = types.TaskStatus{State: types.TaskRunning, ContainerID: "sick", Healthy: &yes}
	fresh.Status = types.TaskStatus{State: types.TaskRunning, ContainerID: "fresh", Healthy: &no}
	c.put(sick, fresh)

	startWorker(t, c, rt, nil)
	c.waitTask("fresh", "healthy", isHealthy(true))
	if h := c.health("fresh"); !slices.Equal(h, []string{"running healthy"}) {
		t.Fatalf("fresh reported %q", h)
	}
	if got := c.waitState("sick", types.TaskFailed); got.Status.Err != errUnhealthy {
		t.Fatalf("sick status = %+v", got.Status)
	}
	waitFor(t, "sick removed", func() (bool, string) { _, ok := rt.container("sick"); return !ok, "still there" })
	equalCalls(t, "calls of sick", rt.callsOf("sick"), []string{"stop sick  0s", "remove sick"})
	equalCalls(t, "calls of fresh", rt.callsOf("fresh"), nil)
}

// TestHealthcheckStopsWithTheTask: a task's probe is cancelled when the
// task is being stopped.
func TestHealthcheckStopsWithTheTask(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	startWorker(t, c, rt, nil)
	c.put(healthTask("t1", &types.HealthConfig{Test: []string{"CMD", "/check"}, Interval: 10 * time.Millisecond, Timeout: time.Hour}))
	c.waitTask("t1", "healthy", isHealthy(true))
	rt.setProbe("t1", "hang")
	waitFor(t, "a probe hangs", func() (bool, string) { return rt.hangingExecs("t1") > 0, "none yet" })
	c.update("t1", func(t *types.Task) { t.DesiredState = types.TaskShutdown })
	waitFor(t, "the hanging probe cancelled", func() (bool, string) {
		e := rt.execsOf("t1")
		return len(e) > 0 && e[len(e)-1].cancelled, fmt.Sprintf("%+v", e)
	})
	if got := c.waitState("t1", types.TaskShutdown); got.Status.Err != "" {
		t.Fatalf("shutdown status = %+v", got.Status)
	}
}
