//go:build e2e && chaos

// The chaos tier (`make chaos`): each case starts from a fresh 3-node lab,
// breaks something on purpose and checks, by sampling the cluster while it
// happens, the invariant stated in its doc comment.
package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/e2e/lab"
)

// TestChaosLeaderKilledMidUpdate SIGKILLs the raft leader's agent in the
// middle of a stop-first rolling update of 6 replicas (batches of 2) and
// leaves it dead until the update is over, while a client on another node
// sends 100 requests a second through the VIP; then starts it again.
// Invariant: the update completes under the new leader (the dead node's
// tasks replaced on the others); in every sampled
// state of the store (every 150 ms) no slot holds two live tasks, since a
// stop-first replacement is created only once the old task is terminal;
// no request fails; once back, the old leader's node runs exactly the
// containers of its tasks.
func TestChaosLeaderKilledMidUpdate(t *testing.T) {
	logWall(t)
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	cs := apiClients(t, l)
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "web", "--replicas", "6",
		"--update-parallelism", "2", "--update-delay", "1s", "--update-monitor", "2s", img["web:v1"])
	waitRunning(t, l, "web", 6, "n1=2 n2=2 n3=2", 90*time.Second)
	leader := theLeader(t, cs)
	watch := others(l, leader)[0] // reads the tasks and sends the load
	vip := inspect(t, l, "web").VIPs["shoal"]

	var slots violations
	sampled := startSampler(150*time.Millisecond, func(time.Time) {
		var ts []api.Task
		if getJSON(cs[watch], "/v1/tasks?service=web", 3*time.Second, &ts) != nil {
			return
		}
		for slot, lv := range liveBySlot(ts) {
			if len(lv) > 1 {
				slots.add("slot %d has %d live tasks: %v", slot, len(lv), lv)
			}
		}
	})
	ld := startLoad(t, l, watch, "http://"+vip+"/", 100)
	agentctl(t, l, watch, "service", "update", "--detach", "--image", img["web:v2"], "web")
	waitUntil(t, 60*time.Second, "the first batch runs v2", func() (bool, string) {
		n := countRunning(serviceTasks(t, l, watch, "web"), img["web:v2"])
		return n >= 2, fmt.Sprint(n)
	})
	if err := l.Kill(leader, false); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var newLeader string
	waitUntil(t, 30*time.Second, "a new leader among the survivors", func() (bool, string) {
		ls, views := leaderInfo(map[string]*api.Client{watch: cs[watch], others(l, leader)[1]: cs[others(l, leader)[1]]})
		if len(ls) == 1 {
			newLeader = ls[0]
		}
		return newLeader != "", views
	})
	t.Logf("killed the leader %s mid-update; %s leads after %v", leader, newLeader, time.Since(killed).Round(time.Millisecond))
	waitUntil(t, 120*time.Second, "the update completed under the new leader, 6 tasks of v2", func() (bool, string) {
		var s api.Service
		apiGet(t, l, watch, "/v1/services/web", &s)
		rs := running(serviceTasks(t, l, watch, "web"))
		st := s.UpdateStatus
		return st != nil && st.State == types.UpdateCompleted && len(rs) == 6 && countRunning(rs, img["web:v2"]) == 6,
			fmt.Sprintf("%+v, %d running, %d v2", st, len(rs), countRunning(rs, img["web:v2"]))
	})
	t.Logf("update completed %v after the kill: %s", time.Since(killed).Round(time.Millisecond), perNode(running(serviceTasks(t, l, watch, "web"))))
	ok, failed, errs := ld.stop()
	n := sampled.stop()
	t.Logf("%d samples of the tasks; load: %d ok, %d failed %v", n, ok, failed, errs)
	slots.check(t, "no slot holds two live tasks during a stop-first update")
	if failed != 0 {
		t.Errorf("%d of %d requests through the VIP failed: %v", failed, ok+failed, errs)
	}
	if ok < 1000 {
		t.Errorf("only %d requests answered: the load did not run", ok)
	}
	// The old leader's agent returns and stops what it ran for tasks the
	// cluster replaced meanwhile.
	if err := l.Start(leader); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "every node runs exactly the containers of its running tasks", func() (bool, string) {
		rs := running(serviceTasks(t, l, watch, "web"))
		for _, node := range others(l) {
			var want []string
			for _, tk := range rs {
				if tk.NodeHostname == node {
					want = append(want, tk.ID)
				}
			}
			if got := containers(t, l, node); strings.Join(got, ",") != strings.Join(sorted(want), ",") {
				return false, fmt.Sprintf("%s runs %v, want %v", node, got, sorted(want))
			}
		}
		return true, ""
	})
}

// TestChaosMinorityPartition cuts the raft leader off from the other two
// nodes while service creates and scales are sent to the majority, one
// after the other, then heals. Invariant: at no sampled moment (every
// 150 ms, every node's /v1/info) do two nodes say they are the leader; the
// majority elects a leader and acknowledges writes during the partition;
// after the heal every node's replica converges to the same services and
// tasks, with every acknowledged write in it.
func TestChaosMinorityPartition(t *testing.T) {
	logWall(t)
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	cs := apiClients(t, l)
	minority := theLeader(t, cs)
	majority := others(l, minority)

	var twoLeaders violations
	polled := startSampler(150*time.Millisecond, func(time.Time) {
		if ls, views := leaderInfo(cs); len(ls) > 1 {
			twoLeaders.add("leaders %v: %s", ls, views)
		}
	})
	w := startWrites(l, majority, img["web:v1"])
	w.waitAcks(t, 3, time.Time{})
	cut := partition(t, l, minority)
	w.waitAcks(t, 6, cut)
	t.Logf("partitioned the leader %s; the majority acknowledged 6 writes in %v", minority, time.Since(cut).Round(time.Millisecond))
	heal(t, l)
	w.waitAcks(t, 3, time.Now())
	acked, unknown := w.stop()
	n := polled.stop()
	t.Logf("%d samples of every node's leader; %d writes acknowledged, %d not: %v", n, len(acked), len(unknown), unknown)
	twoLeaders.check(t, "at most one leader at any sampled moment")
	if len(unknown) > 0 { // say why, from the agents' own words
		for _, node := range majority {
			logWindow(t, l, node, cut.Add(-time.Second), cut.Add(5*time.Second), "raft", "leader", "election", "vote")
		}
	}

	start := time.Now()
	waitUntil(t, 90*time.Second, "every replica holds the same services and tasks, every acknowledged write included", func() (bool, string) {
		return converged(cs, acked)
	})
	t.Logf("replicas converged %v after the writes stopped", time.Since(start).Round(time.Millisecond))
	theLeader(t, cs)
	waitUntil(t, 30*time.Second, "three Ready nodes", func() (bool, string) {
		rows := nodeLs(t, l, minority)
		ok := len(rows) == 3
		for _, r := range rows {
			ok = ok && r.Status == "Ready"
		}
		return ok, rowsString(rows)
	})
}

// TestChaosAgentKill9 SIGKILLs a node's agent (not the leader's) and starts
// it again. Invariant: the node's containers keep running while the agent
// is dead and the new agent adopts them: the same container IDs with the
// same PIDs in containerd before and after, the same tasks in the store,
// no task created or restarted.
func TestChaosAgentKill9(t *testing.T) {
	logWall(t)
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	cs := apiClients(t, l)
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "web", "--replicas", "6", img["web:v1"])
	before := waitRunning(t, l, "web", 6, "n1=2 n2=2 n3=2", 90*time.Second)
	victim := others(l, theLeader(t, cs))[0]
	pids := ctrTasks(t, l, victim)
	if len(pids) != 2 {
		t.Fatalf("%s runs %d containers before the kill, want its 2 tasks: %v", victim, len(pids), pids)
	}
	if err := l.Kill(victim, false); err != nil {
		t.Fatal(err)
	}
	if got := ctrTasks(t, l, victim); !maps.Equal(got, pids) {
		t.Errorf("containers on %s with its agent dead: %v, want %v", victim, got, pids)
	}
	if err := l.Start(victim); err != nil {
		t.Fatal(err)
	}
	// The worker adopts what containerd runs before it starts anything, so
	// once a task placed on the node after the restart runs, adoption is done.
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "probe",
		"--constraint", "node.hostname=="+victim, img["web:v1"])
	waitRunning(t, l, "probe", 1, victim+"=1", 60*time.Second)

	after := ctrTasks(t, l, victim)
	for id, pid := range pids {
		if after[id] != pid {
			t.Errorf("container %s on %s: pid %s before the kill, %q after: restarted or removed", id, victim, pid, after[id])
		}
	}
	all := serviceTasks(t, l, "n1", "web")
	if len(all) != len(before) {
		t.Errorf("web has %d tasks after the restart, want the same %d (none created): %s", len(all), len(before), perNode(all))
	}
	now := map[string]api.Task{}
	for _, tk := range all {
		now[tk.ID] = tk
	}
	for _, tk := range before {
		got, ok := now[tk.ID]
		switch {
		case !ok:
			t.Errorf("task %s on %s is gone after the restart", tk.ID, tk.NodeHostname)
		case got.Status.State != types.TaskRunning || got.DesiredState != types.TaskRunning:
			t.Errorf("task %s on %s is %s/%s after the restart, want running", tk.ID, tk.NodeHostname, got.Status.State, got.DesiredState)
		case got.Status.ContainerID != tk.Status.ContainerID:
			t.Errorf("task %s: container %s before, %s after", tk.ID, tk.Status.ContainerID, got.Status.ContainerID)
		}
	}
	t.Logf("%s: %d containers adopted with the same PIDs %v", victim, len(pids), pids)
}

// TestChaosPartitionedTaskEndpoints runs one replica on a node that is not
// the leader, cuts that node off, lets the majority replace the task, and
// heals. Every node's embedded DNS (tasks.NAME, by dig against the node's
// resolver), its VIP backends (its nftables table) and its containers are
// sampled every 250 ms throughout. Invariant: no node's DNS or VIP lists
// an endpoint that is gone for it (across the partition, or its container
// stopped) for longer than the failure detection time, and none ever
// lists two copies of the one slot.
func TestChaosPartitionedTaskEndpoints(t *testing.T) {
	logWall(t)
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	cs := apiClients(t, l)
	leader := theLeader(t, cs)
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "one", "--replicas", "1",
		"--constraint", "node.hostname!="+leader, img["web:v1"])
	old := waitRunning(t, l, "one", 1, "", 90*time.Second)[0]
	isolated := old.NodeHostname
	vip := inspect(t, l, "one").VIPs["shoal"]
	w := watchEndpoints(l, "one", vip, gateways(t, l), 250*time.Millisecond)
	for _, node := range others(l) {
		waitUntil(t, 30*time.Second, node+" serves the task", func() (bool, string) {
			s := w.last(node)
			want := []string{old.Addresses["shoal"]}
			return slices.Equal(s.DNS, want) && slices.Equal(s.VIP, want), fmt.Sprintf("%+v", s)
		})
	}
	cut := partition(t, l, isolated)
	watch := others(l, isolated)[0]
	var repl api.Task
	waitUntil(t, 60*time.Second, "a replacement runs on the majority", func() (bool, string) {
		rs := running(serviceTasks(t, l, watch, "one"))
		if len(rs) == 1 && rs[0].ID != old.ID {
			repl = rs[0]
			return true, ""
		}
		return false, perNode(rs)
	})
	t.Logf("partitioned %s; the replacement %s runs on %s after %v", isolated, repl.ID[:8], repl.NodeHostname, time.Since(cut).Round(time.Millisecond))
	want := []string{repl.Addresses["shoal"]}
	for _, node := range others(l, isolated) {
		waitUntil(t, 30*time.Second, node+" serves the replacement", func() (bool, string) {
			s := w.last(node)
			return slices.Equal(s.DNS, want) && slices.Equal(s.VIP, want), fmt.Sprintf("%+v", s)
		})
	}
	heal(t, l)
	healedAt := time.Now()
	waitUntil(t, 60*time.Second, isolated+" serves the replacement and stopped the old task", func() (bool, string) {
		s := w.last(isolated)
		_, runs := s.Runs[old.ID]
		return !runs && slices.Equal(s.DNS, want) && slices.Equal(s.VIP, want), fmt.Sprintf("%+v", s)
	})
	t.Logf("%s converged %v after the heal", isolated, time.Since(healedAt).Round(time.Millisecond))
	samples := w.stop()
	st := analyse(samples, serviceTasks(t, l, watch, "one"), isolated, cut, healedAt)
	n := 0
	for _, ss := range samples {
		n += len(ss)
	}
	t.Logf("%d samples; max stale time %v (%s); failure detection bound %v", n, st.max.Round(time.Millisecond), st.maxWhere, failureDetection())
	if st.max > failureDetection() {
		t.Errorf("an endpoint stayed listed %v after it was gone, longer than the failure detection time %v: %s",
			st.max.Round(time.Millisecond), failureDetection(), st.maxWhere)
	}
	st.twice.check(t, "never two copies of the slot in DNS or the VIP")
	st.unknown.check(t, "DNS and the VIP list only task addresses")
}

// TestChaosCrashLoopUpdate updates two services of 3 replicas (one at a
// time, restart delay 1 s) to an image that exits at once: one with failure
// action pause, one with rollback. Invariant: the first is paused with the
// other two slots untouched, the second rolls back by itself to all 3 tasks
// on the old image; the paused slot's restarts back off (each wait at
// least as long as the one before, doubling from 1 s), so the number of
// tasks created stays within what the backoff allows: no flood of tasks.
func TestChaosCrashLoopUpdate(t *testing.T) {
	logWall(t)
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	for _, svc := range []string{"pause", "rollback"} {
		agentctl(t, l, "n1", "service", "create", "--detach", "--name", svc, "--replicas", "3",
			"--restart-delay", "1s", "--update-monitor", "2s", "--update-failure-action", svc, img["web:v1"])
	}
	waitRunning(t, l, "pause", 3, "", 90*time.Second)
	waitRunning(t, l, "rollback", 3, "", 90*time.Second)
	for _, svc := range []string{"pause", "rollback"} {
		agentctl(t, l, "n1", "service", "update", "--detach", "--image", img["crash:latest"], svc)
	}
	checkUpdateState(t, l, "pause", types.UpdatePaused)
	checkUpdateState(t, l, "rollback", types.UpdateRollbackCompleted)
	checkImages(t, l, "rollback", img["web:v1"], 3)
	if n := countRunning(serviceTasks(t, l, "n1", "pause"), img["web:v1"]); n != 2 {
		t.Errorf("%d tasks of pause run web:v1 after the pause, want the 2 untouched", n)
	}
	// Watch the paused slot crash-loop for a while.
	var crashSlot int
	waitUntil(t, 60*time.Second, "the crashing slot restarted 4 times", func() (bool, string) {
		created := crashTasks(serviceTasks(t, l, "n1", "pause"), img["crash:latest"])
		crashSlot = 0
		if len(created) > 0 {
			crashSlot = created[0].Slot
		}
		return len(created) >= 5, fmt.Sprint(len(created))
	})
	ts := crashTasks(serviceTasks(t, l, "n1", "pause"), img["crash:latest"])
	// The wait before restart k is from the end of task k-1 to the creation
	// of task k: 1 s × 2^(k-1) by the restart policy's backoff.
	var waits []time.Duration
	for i := 1; i < len(ts); i++ {
		waits = append(waits, ts[i].CreatedAt.Sub(ts[i-1].Status.Timestamp).Round(10*time.Millisecond))
	}
	t.Logf("crashing slot %d: %d tasks in %v; waits before each restart %v", crashSlot, len(ts),
		ts[len(ts)-1].CreatedAt.Sub(ts[0].CreatedAt).Round(time.Second), waits)
	for i, w := range waits {
		if want := time.Second << i; w < want-20*time.Millisecond {
			t.Errorf("restart %d came %v after the previous task ended, want at least %v (backoff)", i+1, w, want)
		}
	}
	for _, tk := range ts {
		if tk.Slot != crashSlot {
			t.Errorf("task %s of the paused update is in slot %d: the update went past its first slot", tk.ID[:8], tk.Slot)
		}
	}
	// Tasks of the rolled-back service: 3 old + the failed new one(s) + 1
	// rollback replacement per slot the update reached; never a flood.
	rb := serviceTasks(t, l, "n1", "rollback")
	t.Logf("rollback service: %d tasks in all: %s", len(rb), crashSummary(rb))
	if len(rb) > 3+3*3 {
		t.Errorf("the rolled-back service has %d tasks, want at most 12 for 3 slots", len(rb))
	}
	// A replaced task is history: it no longer says it should run.
	for _, svc := range []string{"pause", "rollback"} {
		ts := serviceTasks(t, l, "n1", svc)
		newest := map[int]api.Task{}
		for _, tk := range ts {
			if n, ok := newest[tk.Slot]; !ok || tk.CreatedAt.After(n.CreatedAt) {
				newest[tk.Slot] = tk
			}
		}
		for _, tk := range ts {
			if !live(tk) && tk.DesiredState == types.TaskRunning && newest[tk.Slot].ID != tk.ID {
				t.Errorf("%s: task %s (slot %d, %s) ended %s but is still wanted running behind a newer task",
					svc, tk.ID[:8], tk.Slot, tk.Spec.Image, tk.Status.State)
			}
		}
	}
}

// crashTasks returns the tasks of image sorted by creation.
func crashTasks(ts []api.Task, image string) []api.Task {
	var out []api.Task
	for _, tk := range ts {
		if tk.Spec.Image == image {
			out = append(out, tk)
		}
	}
	sortTasks(out)
	return out
}

func crashSummary(ts []api.Task) string {
	var parts []string
	for _, tk := range ts {
		parts = append(parts, fmt.Sprintf("slot %d %s %s/%s", tk.Slot, tk.Spec.Image[strings.LastIndex(tk.Spec.Image, "/")+1:], tk.Status.State, tk.DesiredState))
	}
	return strings.Join(parts, "; ")
}
