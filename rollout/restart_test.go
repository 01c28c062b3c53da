package rollout

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// failures returns n finished tasks of svc in slot 1 on node a, each
// created 2s before it failed, the last failing at last (relative to t0),
// one every gap before it. The newest still has desired state running.
func failures(svc *types.Service, n int, last, gap time.Duration) []*types.Task {
	var out []*types.Task
	for k := range n {
		end := last - time.Duration(n-1-k)*gap
		t := tk(fmt.Sprintf("f%d", k+1), svc, 1, "a", ended(types.TaskFailed, end), created(end-2*time.Second),
			exit(1), desired(types.TaskShutdown))
		out = append(out, t)
	}
	out[n-1].DesiredState = types.TaskRunning
	return out
}

func TestRestart(t *testing.T) {
	nodes := []*types.Node{nd("a"), nd("b")}
	def := rep("web", 1)
	onFailure := rep("web", 1, policy(types.RestartPolicy{Condition: ConditionOnFailure}))
	none := rep("web", 1, policy(types.RestartPolicy{Condition: ConditionNone}))
	max2 := rep("web", 1, policy(types.RestartPolicy{MaxAttempts: 2}))
	max2w := rep("web", 1, policy(types.RestartPolicy{MaxAttempts: 2, Window: time.Minute}))
	v2 := rep("web", 1, policy(types.RestartPolicy{MaxAttempts: 2}), func(s *types.Service) { s.SpecVersion = 2 })
	longDelay := rep("web", 1, policy(types.RestartPolicy{Delay: 10 * time.Minute}))
	replaced := []string{"update f1: desired shutdown", "create web.1 v1 on b"}
	tests := []struct {
		name  string
		svc   *types.Service
		tasks []*types.Task
		now   time.Duration // after t0
		want  []string
	}{
		{name: "waits the default 5s delay", svc: def, tasks: failures(def, 1, -2*time.Second, 0),
			want: []string{"wake +3s"}},
		{name: "replaced in the same slot once due", svc: def, tasks: failures(def, 1, -5*time.Second, 0),
			want: replaced},
		{name: "delay doubles per consecutive failure", svc: def, tasks: failures(def, 3, -10*time.Second, 10*time.Second),
			want: []string{"wake +10s"}}, // 5s×2² = 20s after -10s
		{name: "delay is capped at 5 minutes", svc: def, tasks: failures(def, 12, -time.Minute, time.Second),
			// History beyond the 7 tasks that reach the cap goes.
			want: []string{"wake +4m0s", "delete f1", "delete f2", "delete f3", "delete f4", "delete f5"}},
		{name: "a longer Delay is its own cap", svc: longDelay, tasks: failures(longDelay, 3, -time.Minute, time.Second),
			want: []string{"wake +9m0s"}},
		{name: "a task that ran long resets the backoff", svc: def,
			tasks: append(failures(def, 3, -time.Hour, time.Second),
				tk("f9", def, 1, "a", ended(types.TaskFailed, -3*time.Second), created(-30*time.Minute))),
			want: []string{"wake +2s"}},
		{name: "on-failure: success is not restarted", svc: onFailure,
			tasks: []*types.Task{tk("f1", onFailure, 1, "a", ended(types.TaskComplete, -time.Minute))},
			want:  []string{"update f1: desired shutdown"}},
		{name: "on-failure: non-zero exit is restarted", svc: onFailure,
			tasks: []*types.Task{tk("f1", onFailure, 1, "a", ended(types.TaskComplete, -time.Minute), exit(3))},
			want:  replaced},
		{name: "on-failure: rejected is restarted", svc: onFailure,
			tasks: []*types.Task{tk("f1", onFailure, 1, "a", ended(types.TaskRejected, -time.Minute))},
			want:  replaced},
		{name: "any: success is restarted", svc: def,
			tasks: []*types.Task{tk("f1", def, 1, "a", ended(types.TaskComplete, -time.Minute))},
			want:  replaced},
		{name: "none: never restarted, slot stays empty", svc: none,
			tasks: []*types.Task{tk("f1", none, 1, "a", ended(types.TaskFailed, -time.Minute))},
			want:  []string{"update f1: desired shutdown"}},
		{name: "none: stays empty on the next round", svc: none,
			tasks: []*types.Task{tk("f1", none, 1, "a", ended(types.TaskFailed, -time.Minute), desired(types.TaskShutdown))}},
		{name: "max attempts: 2 failures, one more restart", svc: max2, tasks: failures(max2, 2, -time.Hour, time.Second),
			want: []string{"update f2: desired shutdown", "create web.1 v1 on b"}},
		{name: "max attempts: 3 failures, stop", svc: max2, tasks: failures(max2, 3, -time.Hour, time.Second),
			want: []string{"update f3: desired shutdown"}},
		{name: "max attempts: counted per spec version", svc: v2, tasks: failures(max2, 3, -time.Hour, time.Second),
			want: []string{"update f3: desired shutdown", "create web.1 v2 on b"}},
		{name: "max attempts in a window: wake when the oldest leaves it", svc: max2w,
			tasks: failures(max2w, 3, -30*time.Second, 10*time.Second),
			want:  []string{"update f3: desired shutdown", "wake +10s"}},
		{name: "max attempts in a window: restart once it has", svc: max2w,
			tasks: failures(max2w, 3, -30*time.Second, 10*time.Second), now: 10 * time.Second,
			want: []string{"update f3: desired shutdown", "create web.1 v1 on b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A task elsewhere makes b the emptier node, so replacements land there.
			other := rep("other", 1)
			in := Input{Now: t0.Add(tt.now), Nodes: nodes, Services: []*types.Service{tt.svc, other},
				Tasks: append(tt.tasks, tk("o1", other, 1, "a"))}
			check(t, in, tt.want...)
		})
	}
}

func TestBackoffSequence(t *testing.T) {
	p := types.RestartPolicy{}
	var tasks []*types.Task
	var got []time.Duration
	for k := range 9 {
		tasks = append(tasks, tk(fmt.Sprint(k), rep("web", 1), 1, "a", ended(types.TaskFailed, 0), created(-time.Second)))
		got = append(got, backoff(p, tasks))
	}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backoff sequence %v, want %v", got, want)
	}
	// With a Window, a task that ran that long resets the sequence.
	p.Window = 30 * time.Second
	tasks[len(tasks)-1].CreatedAt = t0.Add(-time.Minute)
	if d := backoff(p, tasks); d != 5*time.Second {
		t.Fatalf("after a 1m run with a 30s window: %v, want 5s", d)
	}
}

func TestHistoryLimit(t *testing.T) {
	web := rep("web", 1)
	var tasks []*types.Task
	for k := range 7 {
		tasks = append(tasks, tk(fmt.Sprintf("h%d", k), web, 1, "a", desired(types.TaskShutdown),
			ended(types.TaskShutdown, -time.Duration(10-k)*time.Minute), created(-time.Duration(10-k)*time.Minute)))
	}
	tasks = append(tasks, tk("w1", web, 1, "a"))
	nodes := []*types.Node{nd("a")}
	check(t, Input{Nodes: nodes, Services: []*types.Service{web}, Tasks: tasks}, "delete h0", "delete h1")
	check(t, Input{Nodes: nodes, Services: []*types.Service{web}, Tasks: tasks, HistoryLimit: 3},
		"delete h0", "delete h1", "delete h2", "delete h3")
	// History that MaxAttempts still counts is kept beyond the limit.
	var ranLong []*types.Task
	for k := range 7 {
		end := -time.Duration(7-k) * time.Hour
		ranLong = append(ranLong, tk(fmt.Sprintf("f%d", k+1), web, 1, "a", desired(types.TaskShutdown),
			ended(types.TaskFailed, end), created(end-30*time.Minute)))
	}
	max6 := rep("web", 1, policy(types.RestartPolicy{MaxAttempts: 6}))
	check(t, Input{Nodes: nodes, Services: []*types.Service{max6}, Tasks: ranLong})
	check(t, Input{Nodes: nodes, Services: []*types.Service{web}, Tasks: ranLong},
		"delete f1", "delete f2", "create web.1 v1 on a")
	// So is the streak of quick failures the backoff counts (7 reach 5m).
	loop := failures(web, 9, -time.Minute, time.Second)
	loop[8].DesiredState = types.TaskShutdown
	loop = append(loop, tk("w1", web, 1, "a"))
	check(t, Input{Nodes: nodes, Services: []*types.Service{web}, Tasks: loop}, "delete f1", "delete f2")
}
