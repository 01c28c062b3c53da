package rollout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

var abc = []*types.Node{nd("a"), nd("b"), nd("c")}

// fleet builds a service with running tasks of image img:1 (created an
// hour ago): replicated with n slots spread over abc, or global on abc.
func fleet(n uint64, global bool, opts ...func(*types.Service)) (*types.Service, []*types.Task) {
	svc := rep("web", n, opts...)
	svc.Spec.Mode.Global = global
	if global {
		svc.Spec.Mode.Replicas = 0
	}
	var tasks []*types.Task
	if global {
		for _, node := range abc {
			tasks = append(tasks, tk("w"+node.ID, svc, 0, node.ID))
		}
		return svc, tasks
	}
	for i := 1; i <= int(n); i++ {
		tasks = append(tasks, tk(fmt.Sprintf("w%d", i), svc, i, abc[i%len(abc)].ID))
	}
	return svc, tasks
}

func withUpdate(c types.UpdateConfig) func(*types.Service) {
	return func(s *types.Service) { s.Spec.Update = c }
}

func withRollback(c types.UpdateConfig) func(*types.Service) {
	return func(s *types.Service) { s.Spec.Rollback = c }
}

func image(img string) func(*types.Service) {
	return func(s *types.Service) { s.Spec.Task.Image = img }
}

// startSim builds a simulation of svc's update to image img.
func startSim(t *testing.T, svc *types.Service, tasks []*types.Task, img string) *sim {
	s := newSim(t, Input{Nodes: abc, Services: []*types.Service{svc}, Tasks: tasks})
	s.setService(changeImage(svc, img, t0))
	return s
}

func TestRollingUpdateTimeline(t *testing.T) {
	tests := []struct {
		name    string
		n       uint64
		global  bool
		cfg     types.UpdateConfig
		img     string
		stopLag int
		want    []string
	}{
		{name: "parallelism 1, delay 10s, monitor 5s: batch, monitor, delay, batch",
			n: 3, cfg: updCfg(1, 10*time.Second, 5*time.Second, "", "", 0),
			want: []string{
				"+0s stop web.1 v1", "+1s start web.1 v2", // running at +1s, done at +6s
				"+16s stop web.2 v1", "+17s start web.2 v2",
				"+32s stop web.3 v1", "+33s start web.3 v2",
				"+38s web completed: update completed"}}, // no delay after the last batch
		{name: "parallelism 2, default monitor (5s), no delay",
			n: 3, cfg: updCfg(2, 0, 0, "", "", 0),
			want: []string{
				"+0s stop web.1 v1", "+0s stop web.2 v1", "+1s start web.1 v2", "+1s start web.2 v2",
				"+6s stop web.3 v1", "+7s start web.3 v2",
				"+12s web completed: update completed"}},
		{name: "parallelism 0: all slots at once",
			n: 6, cfg: updCfg(0, time.Minute, 0, "", "", 0),
			want: []string{
				"+0s stop web.1 v1", "+0s stop web.2 v1", "+0s stop web.3 v1",
				"+0s stop web.4 v1", "+0s stop web.5 v1", "+0s stop web.6 v1",
				"+1s start web.1 v2", "+1s start web.2 v2", "+1s start web.3 v2",
				"+1s start web.4 v2", "+1s start web.5 v2", "+1s start web.6 v2",
				"+6s web completed: update completed"}},
		{name: "start-first: the new task first, the old one stopped once the new one runs",
			n: 3, cfg: updCfg(1, 0, 0, OrderStartFirst, "", 0),
			want: []string{
				"+0s start web.1 v2", "+1s stop web.1 v1", // running at +0s, done at +5s
				"+5s start web.2 v2", "+6s stop web.2 v1",
				"+10s start web.3 v2", "+11s stop web.3 v1",
				"+15s web completed: update completed"}},
		{name: "6 replicas, parallelism 2, start-first, delay 3s, monitor 2s",
			n: 6, cfg: updCfg(2, 3*time.Second, 2*time.Second, OrderStartFirst, "", 0),
			want: []string{
				"+0s start web.1 v2", "+0s start web.2 v2", "+1s stop web.1 v1", "+1s stop web.2 v1",
				"+5s start web.3 v2", "+5s start web.4 v2", "+6s stop web.3 v1", "+6s stop web.4 v1",
				"+10s start web.5 v2", "+10s start web.6 v2", "+11s stop web.5 v1", "+11s stop web.6 v1",
				"+12s web completed: update completed"}},
		{name: "stop-first waits until the old task has stopped",
			n: 3, cfg: updCfg(1, 0, 0, "", "", 0), stopLag: 2,
			want: []string{
				"+0s stop web.1 v1", "+3s start web.1 v2", // stopped at +2s
				"+8s stop web.2 v1", "+11s start web.2 v2",
				"+16s stop web.3 v1", "+19s start web.3 v2",
				"+24s web completed: update completed"}},
		{name: "monitor counts from running, not from creation",
			n: 2, cfg: updCfg(1, 0, 5*time.Second, "", "", 0), img: imgSlow,
			want: []string{
				"+0s stop web.1 v1", "+1s start web.1 v2", // preparing, starting, running at +3s
				"+8s stop web.2 v1", "+9s start web.2 v2",
				"+16s web completed: update completed"}},
		{name: "global: one node at a time",
			global: true, cfg: updCfg(1, 0, 0, "", "", 0),
			want: []string{
				"+0s stop web.a v1", "+1s start web.a v2",
				"+6s stop web.b v1", "+7s start web.b v2",
				"+12s stop web.c v1", "+13s start web.c v2",
				"+18s web completed: update completed"}},
		{name: "global, start-first, parallelism 2",
			global: true, cfg: updCfg(2, 0, 0, OrderStartFirst, "", 0),
			want: []string{
				"+0s start web.a v2", "+0s start web.b v2", "+1s stop web.a v1", "+1s stop web.b v1",
				"+5s start web.c v2", "+6s stop web.c v1",
				"+10s web completed: update completed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, tasks := fleet(tt.n, tt.global, withUpdate(tt.cfg))
			img := cmpOr(tt.img, "img:2")
			s := startSim(t, svc, tasks, img)
			s.stopLag = tt.stopLag
			s.run(200, nil)
			if !slices.Equal(s.log, tt.want) {
				t.Fatalf("timeline:\n  %s\nwant:\n  %s", strings.Join(s.log, "\n  "), strings.Join(tt.want, "\n  "))
			}
			slots := int(tt.n)
			if tt.global {
				slots = len(abc)
			}
			s.checkDone("web", types.UpdateCompleted, slots)
			st := s.service("web").UpdateStatus
			done := fmt.Sprintf("+%s ", st.CompletedAt.Sub(t0))
			if st.Updated != uint64(slots) || st.Failures != 0 || !strings.HasPrefix(s.log[len(s.log)-1], done) {
				t.Fatalf("final status %+v", *st)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestUpdateFailures runs updates to images that fail, for two minutes of
// simulated time, through each failure action.
func TestUpdateFailures(t *testing.T) {
	tests := []struct {
		name      string
		n         uint64
		base, img string
		opts      []func(*types.Service)
		noPrev    bool
		want      []string // the timeline up to the failure action
		state     types.UpdateState
		msg       string
		failures  uint64
		images    []string // of the live tasks, by slot
	}{
		{name: "pause", n: 3, img: imgBad, opts: []func(*types.Service){withUpdate(updCfg(1, 0, 0, "", ActionPause, 0))},
			want: []string{"+0s stop web.1 v1", "+1s start web.1 v2", // fails at +2s
				"+3s web paused: update paused due to failure or early termination of task t000001"},
			state: types.UpdatePaused, msg: "update paused due to failure or early termination of task t000001",
			failures: 1, images: []string{imgBad, "img:1", "img:1"}},
		{name: "continue: every slot updated, completed", n: 3, img: imgBad,
			opts: []func(*types.Service){withUpdate(updCfg(1, 0, 0, "", ActionContinue, 0))},
			want: []string{"+0s stop web.1 v1", "+1s start web.1 v2",
				"+3s stop web.2 v1", "+4s start web.2 v2", // the batch ended with the failure at +2s
				"+6s stop web.3 v1", "+7s start web.1 v2", "+7s start web.3 v2", // web.1 restarted
				"+9s web completed: update completed"},
			state: types.UpdateCompleted, msg: MsgUpdateCompleted, failures: 3, images: []string{imgBad, imgBad, imgBad}},
		{name: "rollback: the failed slot gets the old spec back at once, the others are never touched", n: 3, img: imgBad,
			opts: []func(*types.Service){withUpdate(updCfg(1, 0, 0, "", ActionRollback, 0))},
			want: []string{"+0s stop web.1 v1", "+1s start web.1 v2",
				"+3s start web.1 v3",
				"+3s web rollback_started: update rolled back due to failure or early termination of task t000001",
				"+8s web rollback_completed: rollback completed"},
			state: types.UpdateRollbackCompleted, msg: MsgRollbackCompleted, images: []string{"img:1", "img:1", "img:1"}},
		{name: "rollback without a previous spec pauses", n: 3, img: imgBad, noPrev: true,
			opts: []func(*types.Service){withUpdate(updCfg(1, 0, 0, "", ActionRollback, 0))},
			want: []string{"+0s stop web.1 v1", "+1s start web.1 v2",
				"+3s web paused: update paused due to failure or early termination of task t000001" + noPreviousSpec},
			state: types.UpdatePaused, msg: "update paused due to failure or early termination of task t000001" + noPreviousSpec,
			failures: 1, images: []string{imgBad, "img:1", "img:1"}},
		{name: "rejected before running counts", n: 2, img: imgReject,
			opts: []func(*types.Service){withUpdate(updCfg(1, 0, 0, "", ActionPause, 0))},
			want: []string{"+0s stop web.1 v1", "+1s start web.1 v2",
				"+2s web paused: update paused due to failure or early termination of task t000001"},
			state: types.UpdatePaused, msg: "update paused due to failure or early termination of task t000001",
			failures: 1, images: []string{imgReject, "img:1"}},
		{name: "unhealthy counts; start-first keeps the old tasks running", n: 3, img: imgSick,
			opts: []func(*types.Service){withUpdate(updCfg(2, 0, 0, OrderStartFirst, ActionPause, 0))},
			want: []string{"+0s start web.1 v2", "+0s start web.2 v2",
				"+2s web paused: update paused due to failure or early termination of task t000001"},
			state: types.UpdatePaused, msg: "update paused due to failure or early termination of task t000001",
			// The failed new tasks are history; the old ones run on.
			failures: 2, images: []string{"img:1", "img:1", "img:1"}},
		{name: "max failure ratio 0.34 of 6: the third failure pauses", n: 6, img: imgBad,
			opts: []func(*types.Service){withUpdate(updCfg(1, 0, 0, "", ActionPause, 0.34))},
			want: []string{"+0s stop web.1 v1", "+1s start web.1 v2",
				"+3s stop web.2 v1", "+4s start web.2 v2",
				"+6s stop web.3 v1", "+7s start web.1 v2", "+7s start web.3 v2",
				"+9s web paused: update paused due to failure or early termination of task t000004"},
			state: types.UpdatePaused, msg: "update paused due to failure or early termination of task t000004",
			failures: 3, images: []string{imgBad, imgBad, imgBad, "img:1", "img:1", "img:1"}},
		{name: "a failing rollback pauses (never rolled back)", n: 2, base: imgSick, img: imgReject,
			opts: []func(*types.Service){withUpdate(updCfg(1, 0, 0, "", ActionRollback, 0)),
				withRollback(updCfg(1, 0, 0, "", ActionRollback, 0))},
			want: []string{"+0s stop web.1 v1", "+1s start web.1 v2",
				"+2s start web.1 v3",
				"+2s web rollback_started: update rolled back due to failure or early termination of task t000001",
				"+4s web rollback_paused: rollback paused due to failure or early termination of task t000002",
				// The paused rollback leaves the failing tasks to the restart
				// policy, which keeps restarting them with growing delays.
				"+5s start web.2 v3", "+13s start web.1 v3", "+16s start web.2 v3", "+34s start web.1 v3",
				"+37s start web.2 v3", "+1m15s start web.1 v3", "+1m18s start web.2 v3"},
			state: types.UpdateRollbackPaused, msg: "rollback paused due to failure or early termination of task t000002",
			failures: 1, images: []string{imgSick, imgSick}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, tasks := fleet(tt.n, false, append(tt.opts, image(cmpOr(tt.base, "img:1")))...)
			s := newSim(t, Input{Nodes: abc, Services: []*types.Service{svc}, Tasks: tasks})
			upd := changeImage(svc, tt.img, t0)
			if tt.noPrev {
				upd.PreviousSpec = nil
			}
			s.setService(upd)
			s.runFor(2 * time.Minute)
			if got := s.log[:min(len(s.log), len(tt.want))]; !slices.Equal(got, tt.want) {
				t.Fatalf("timeline:\n  %s\nwant:\n  %s", strings.Join(s.log, "\n  "), strings.Join(tt.want, "\n  "))
			}
			st := s.service("web").UpdateStatus
			if st.State != tt.state || st.Message != tt.msg || st.Failures != tt.failures {
				t.Fatalf("status %+v\nwant %s %q with %d failures", *st, tt.state, tt.msg, tt.failures)
			}
			if got := slotImages(s.in.Tasks); !slices.Equal(got, tt.images) {
				t.Fatalf("images by slot %v, want %v", got, tt.images)
			}
			if ended := endedButWanted(s.in.Tasks); len(ended) > 0 {
				t.Fatalf("tasks ended but still wanted running behind a newer task of their slot: %v", ended)
			}
		})
	}
}

// endedButWanted lists the tasks that ended but keep desired state running
// although a newer task of their slot replaced them: history that says
// "running", which `service ps` shows and the history limit never prunes.
func endedButWanted(tasks []*types.Task) []string {
	newest := map[int]*types.Task{}
	for _, t := range tasks {
		if n := newest[t.Slot]; n == nil || t.CreatedAt.After(n.CreatedAt) {
			newest[t.Slot] = t
		}
	}
	var out []string
	for _, t := range tasks {
		if t.Status.State.Terminal() && t.DesiredState == types.TaskRunning && newest[t.Slot] != t {
			out = append(out, taskName(t)+" "+t.ID)
		}
	}
	return out
}

// slotImages lists, slot by slot, the images of the slot's live tasks
// (oldest first) or, if it has none, of its newest task (one that crashes
// and waits for its restart).
func slotImages(tasks []*types.Task) []string {
	bySlot := map[int][]*types.Task{}
	for _, t := range tasks {
		bySlot[t.Slot] = append(bySlot[t.Slot], t)
	}
	var out []string
	for _, slot := range sortedIntKeys(bySlot) {
		ts := bySlot[slot]
		slices.SortStableFunc(ts, func(a, b *types.Task) int { return a.CreatedAt.Compare(b.CreatedAt) })
		n := len(out)
		for _, t := range ts {
			if live(t) {
				out = append(out, t.Spec.Image)
			}
		}
		if len(out) == n {
			out = append(out, ts[len(ts)-1].Spec.Image)
		}
	}
	return out
}

func sortedIntKeys[V any](m map[int]V) []int {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestAutomaticRollbackSpec checks the service an automatic rollback
// writes and that the slots the update never reached keep their tasks.
func TestAutomaticRollbackSpec(t *testing.T) {
	svc, tasks := fleet(3, false, withUpdate(updCfg(1, 0, 0, "", ActionRollback, 0)))
	s := startSim(t, svc, tasks, imgBad)
	s.run(100, nil)
	got := s.service("web")
	if got.SpecVersion != 3 || got.Spec.Task.Image != "img:1" || got.PreviousSpec == nil ||
		got.PreviousSpec.Task.Image != imgBad || got.Spec.Mode.Replicas != 3 {
		t.Fatalf("service after rollback: v%d %s, previous %+v", got.SpecVersion, got.Spec.Task.Image, got.PreviousSpec)
	}
	s.checkDone("web", types.UpdateRollbackCompleted, 3)
	for _, id := range []string{"w2", "w3"} {
		if i := slices.IndexFunc(s.in.Tasks, func(t *types.Task) bool { return t.ID == id }); i < 0 || !live(s.in.Tasks[i]) {
			t.Fatalf("task %s of a slot the update never reached was replaced", id)
		}
	}
}
