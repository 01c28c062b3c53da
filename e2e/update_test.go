//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/e2e/lab"
	"github.com/shoal-org/shoal/internal/testimages"
)

// TestRollingUpdate walks issue 5's scenarios on a 3-node lab: seed 004's
// rolling updates and rollback, a pause on a bad image and its resume, an
// automatic rollback.
func TestRollingUpdate(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3})
	ctx := context.Background()
	img := pushImages(t, l)

	t.Run("seed 004: update one at a time, then in delayed batches, then roll back", func(t *testing.T) {
		agentctl(t, l, "n1", "service", "create", "--detach", "--name", "web", "--replicas", "3", img["web:v1"])
		waitRunning(t, l, "web", 3, "n1=1 n2=1 n3=1", 60*time.Second)
		out := agentctl(t, l, "n1", "service", "update", "--image", img["web:v2"], "web")
		if !strings.Contains(out, "Service converged") {
			t.Errorf("update output does not end converged:\n%s", out)
		}
		checkImages(t, l, "web", img["web:v2"], 3)
		checkUpdateState(t, l, "web", types.UpdateCompleted)
		if b := batchesOf(runningSince(serviceTasks(t, l, "n1", "web"), img["web:v2"]), time.Second); len(b) != 3 {
			t.Errorf("v2 tasks started in %d batches %v, want 3 (one at a time)", len(b), b)
		}

		agentctl(t, l, "n1", "service", "update", "--replicas", "6", "--update-parallelism", "2", "--update-delay", "10s", "web")
		waitRunning(t, l, "web", 6, "", 60*time.Second)
		agentctl(t, l, "n1", "service", "update", "--image", img["web:v3"], "web")
		checkImages(t, l, "web", img["web:v3"], 6)
		batches := batchesOf(runningSince(serviceTasks(t, l, "n1", "web"), img["web:v3"]), 3*time.Second)
		t.Logf("v3 batches (task start times): %v", batches)
		if len(batches) != 3 {
			t.Fatalf("v3 started in %d batches, want 3 of 2", len(batches))
		}
		for i, b := range batches {
			if len(b) != 2 {
				t.Errorf("batch %d has %d tasks, want 2", i, len(b))
			}
			if i > 0 && b[0].Sub(batches[i-1][len(batches[i-1])-1]) < 10*time.Second {
				t.Errorf("batch %d started %v after the previous one, want at least the 10s delay",
					i, b[0].Sub(batches[i-1][len(batches[i-1])-1]))
			}
		}
		ps := agentctl(t, l, "n1", "service", "ps", "web")
		if !strings.Contains(ps, ` \_ `) || !strings.Contains(ps, "Shutdown") {
			t.Errorf("service ps shows no replaced tasks as history:\n%s", ps)
		}
		agentctl(t, l, "n1", "service", "update", "--update-delay", "0s", "--rollback-parallelism", "0", "web")
		out = agentctl(t, l, "n1", "service", "rollback", "web")
		t.Logf("rollback output:\n%s", out)
		checkImages(t, l, "web", img["web:v2"], 6)
		checkUpdateState(t, l, "web", types.UpdateRollbackCompleted)
	})

	t.Run("a bad image pauses the update, which resumes later", func(t *testing.T) {
		missing := l.RegistryAddr() + "/web:v9"
		_, err := l.Agentctl(ctx, "n1", "service", "update", "--update-parallelism", "1", "--image", missing, "web")
		if err == nil || !strings.Contains(err.Error(), "update paused") {
			t.Fatalf("update to a missing image: err = %v, want `service update paused: ...`", err)
		}
		svc := inspect(t, l, "web")
		if svc.UpdateStatus == nil || svc.UpdateStatus.State != types.UpdatePaused {
			t.Fatalf("update status = %+v, want paused", svc.UpdateStatus)
		}
		t.Logf("paused: %s", svc.UpdateStatus.Message)
		if !strings.Contains(svc.UpdateStatus.Message, "task ") {
			t.Errorf("pause message %q does not name the task", svc.UpdateStatus.Message)
		}
		// Only the first slot was touched: five tasks still run v2.
		if n := countRunning(serviceTasks(t, l, "n1", "web"), img["web:v2"]); n != 5 {
			t.Errorf("%d tasks run v2 after the pause, want 5", n)
		}
		// The image appears. The restart policy retries the failed slot
		// (with backoff) and now succeeds; a plain update then resumes the
		// paused one, which completes.
		if err := l.Push(ctx, archiveOf(t, l, "web", "v2"), "web:v9"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 60*time.Second, "the failed slot runs web:v9", func() (bool, string) {
			n := countRunning(serviceTasks(t, l, "n1", "web"), missing)
			return n == 1, fmt.Sprint(n)
		})
		agentctl(t, l, "n1", "service", "update", "web")
		checkImages(t, l, "web", missing, 6)
		checkUpdateState(t, l, "web", types.UpdateCompleted)
	})

	t.Run("failure action rollback rolls back by itself", func(t *testing.T) {
		_, err := l.Agentctl(ctx, "n1", "service", "update", "--update-failure-action", "rollback",
			"--image", img["crash:latest"], "web")
		t.Logf("update to the crashing image: %v", err)
		waitUntil(t, 60*time.Second, "rollback_completed", func() (bool, string) {
			st := inspect(t, l, "web").UpdateStatus
			return st != nil && st.State == types.UpdateRollbackCompleted, fmt.Sprintf("%+v", st)
		})
		checkImages(t, l, "web", l.RegistryAddr()+"/web:v9", 6)
	})

	t.Run("a new leader carries the rollout on from where it stopped", func(t *testing.T) {
		rows := nodeLs(t, l, "n1")
		leader := leaderOf(rows)
		other := "n1"
		if leader == "n1" {
			other = "n2"
		}
		began := time.Now()
		agentctl(t, l, other, "service", "update", "--detach", "--update-parallelism", "1", "--update-delay", "2s",
			"--update-failure-action", "pause", "--image", img["web:v1"], "web")
		waitUntil(t, 60*time.Second, "first v1 task running", func() (bool, string) {
			n := countRunning(serviceTasks(t, l, other, "web"), img["web:v1"])
			return n >= 1, fmt.Sprint(n)
		})
		if err := l.Kill(leader, false); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed the leader %s mid-rollout", leader)
		waitUntil(t, 120*time.Second, "rollout completed under the new leader", func() (bool, string) {
			var s api.Service
			apiGet(t, l, other, "/v1/services/web", &s)
			rs := running(serviceTasks(t, l, other, "web"))
			st := s.UpdateStatus
			return st != nil && st.State == types.UpdateCompleted && len(rs) == 6 && countRunning(rs, img["web:v1"]) == 6,
				fmt.Sprintf("%+v, %d running, %d v1", st, len(rs), countRunning(rs, img["web:v1"]))
		})
		// No slot got two v1 tasks, except to replace a task of the dead node.
		perSlot := map[int]int{}
		for _, tk := range serviceTasks(t, l, other, "web") {
			if tk.Spec.Image == img["web:v1"] && tk.NodeHostname != leader && tk.CreatedAt.After(began) {
				perSlot[tk.Slot]++
			}
		}
		for slot, n := range perSlot {
			if n > 1 {
				t.Errorf("slot %d got %d v1 tasks on live nodes: updated twice", slot, n)
			}
		}
		if err := l.Start(leader); err != nil {
			t.Fatal(err)
		}
	})
}

func inspect(t *testing.T, l *lab.Lab, svc string) api.Service {
	t.Helper()
	var s api.Service
	apiGet(t, l, "n1", "/v1/services/"+svc, &s)
	return s
}

func checkUpdateState(t *testing.T, l *lab.Lab, svc string, want types.UpdateState) {
	t.Helper()
	waitUntil(t, 30*time.Second, "update state "+string(want), func() (bool, string) {
		st := inspect(t, l, svc).UpdateStatus
		return st != nil && st.State == want, fmt.Sprintf("%+v", st)
	})
}

// checkImages waits until svc runs n tasks, all of image.
func checkImages(t *testing.T, l *lab.Lab, svc, image string, n int) {
	t.Helper()
	waitUntil(t, 120*time.Second, fmt.Sprintf("%d tasks of %s", n, image), func() (bool, string) {
		rs := running(serviceTasks(t, l, "n1", svc))
		return len(rs) == n && countRunning(rs, image) == n, fmt.Sprintf("%d running, %d of %s", len(rs), countRunning(rs, image), image)
	})
}

func countRunning(ts []api.Task, image string) int {
	n := 0
	for _, t := range running(ts) {
		if t.Spec.Image == image {
			n++
		}
	}
	return n
}

// runningSince returns the times the running tasks of image were created.
func runningSince(ts []api.Task, image string) []time.Time {
	var out []time.Time
	for _, t := range running(ts) {
		if t.Spec.Image == image {
			out = append(out, t.CreatedAt)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// batchesOf groups sorted times into batches: a gap longer than gap starts
// a new one.
func batchesOf(ts []time.Time, gap time.Duration) [][]time.Time {
	var out [][]time.Time
	for i, x := range ts {
		if i == 0 || x.Sub(ts[i-1]) > gap {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], x)
	}
	return out
}

// archiveOf is the path of a test image archive built by PushTestImages.
func archiveOf(t *testing.T, l *lab.Lab, name, tag string) string {
	t.Helper()
	imgs, err := testimages.Build(context.Background(), filepath.Join(l.Config().DataDir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range imgs {
		if i.Name == name && i.Tag == tag {
			return i.Path
		}
	}
	t.Fatalf("no test image %s:%s", name, tag)
	return ""
}

// TestZeroDowntime rolls 6 replicas v1 → v2 stop-first, then v2 → v3
// start-first, while a client in n3's namespace sends 250 requests a second
// through the service's VIP, each on a new connection: no request may fail,
// out of at least 20,000.
func TestZeroDowntime(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "web", "--replicas", "6", img["web:v1"])
	waitRunning(t, l, "web", 6, "n1=2 n2=2 n3=2", 60*time.Second)
	vip := inspect(t, l, "web").VIPs["shoal"]
	if vip == "" {
		t.Fatal("service web has no VIP on the default network")
	}
	var total int64
	for _, step := range []struct{ order, image string }{{"stop-first", "web:v2"}, {"start-first", "web:v3"}} {
		ld := startLoad(t, l, "n3", "http://"+vip+"/", 250)
		start := time.Now()
		agentctl(t, l, "n1", "service", "update", "--update-order", step.order, "--image", img[step.image], "web")
		checkImages(t, l, "web", img[step.image], 6)
		ok, failed, errs := ld.stop()
		t.Logf("%s update to %s took %v: %d requests ok, %d failed %v; answers by task: %v",
			step.order, step.image, time.Since(start).Round(time.Second), ok, failed, errs, ld.byTask)
		if failed != 0 {
			t.Errorf("%s: %d of %d requests failed through the VIP: %v", step.order, failed, ok+failed, errs)
			logTaskTimeline(t, l, "web")
		}
		if ok < 5000 {
			t.Errorf("%s: only %d requests answered: the load did not run", step.order, ok)
		}
		total += ok + failed
	}
	t.Logf("zero downtime: %d requests in all", total)
	if total < 20000 {
		t.Errorf("only %d requests in all, want at least 20,000", total)
	}
}

// logTaskTimeline logs service svc's tasks by the time of their latest
// status, to set beside the times of failed requests: which task started,
// turned healthy or stopped just before a failure.
func logTaskTimeline(t *testing.T, l *lab.Lab, svc string) {
	t.Helper()
	ts := serviceTasks(t, l, "n1", svc)
	slices.SortFunc(ts, func(a, b api.Task) int { return a.Status.Timestamp.Compare(b.Status.Timestamp) })
	for _, tk := range ts {
		healthy := "-"
		if tk.Status.Healthy != nil {
			healthy = fmt.Sprint(*tk.Status.Healthy)
		}
		t.Logf("%s task %s slot %d on %s (%s): created %s, desired %s, observed %s healthy %s",
			tk.Status.Timestamp.Format("15:04:05.000"), tk.ID, tk.Slot, tk.NodeHostname, tk.Addresses,
			tk.CreatedAt.Format("15:04:05.000"), tk.DesiredState, tk.Status.State, healthy)
	}
}
