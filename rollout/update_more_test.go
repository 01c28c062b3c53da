package rollout

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// TestUpdateLeaderChange loses plans, as leaders that fail before their
// plan commits do: the next leader recomputes from the store and the
// rollout still takes every slot once, in order, to the end.
func TestUpdateLeaderChange(t *testing.T) {
	for _, order := range []string{OrderStopFirst, OrderStartFirst} {
		t.Run(order, func(t *testing.T) {
			svc, tasks := fleet(6, false, withUpdate(updCfg(2, 4*time.Second, 3*time.Second, order, "", 0)))
			s := startSim(t, svc, tasks, "img:2")
			rounds := 0
			s.lose = func() bool { rounds++; return rounds%3 == 1 } // the first of every three
			s.run(500, nil)
			s.checkDone("web", types.UpdateCompleted, 6)
			if st := s.service("web").UpdateStatus; st.Updated != 6 {
				t.Fatalf("updated %d slots, want 6", st.Updated)
			}
			// Batches in slot order: every slot's new task starts after
			// those of the lower batches.
			first := map[string]int{}
			for k, line := range s.log {
				if f := strings.Fields(line); f[1] == "start" {
					if _, ok := first[f[2]]; !ok {
						first[f[2]] = k
					}
				}
			}
			for _, pair := range [][2]string{{"web.2", "web.3"}, {"web.4", "web.5"}} {
				if first[pair[0]] > first[pair[1]] {
					t.Fatalf("%s started before %s:\n%s", pair[1], pair[0], strings.Join(s.log, "\n"))
				}
			}
		})
	}
}

// TestUpdateNewLeaderMidRollout restarts the rollout from the store at
// every point of a rollout: a new leader's first plan (from the snapshot,
// through JSON, with other task IDs) is the old leader's next step; made
// a little later, it never touches a slot that is already up to date nor
// goes back to a lower slot.
func TestUpdateNewLeaderMidRollout(t *testing.T) {
	svc, tasks := fleet(4, false, withUpdate(updCfg(1, 2*time.Second, 0, "", "", 0)))
	s := startSim(t, svc, tasks, "img:2")
	for range 60 {
		if s.state("web") == types.UpdateCompleted {
			break
		}
		snap := roundTrip(t, s.in)
		other := func() string { return "other-leader-id" }
		mine, theirs := describe(s.in, Reconcile(s.in, ids())), describe(snap, Reconcile(snap, other))
		if !slices.Equal(mine, theirs) {
			t.Fatalf("%s: new leader's next step %v, old leader's %v", s.at(), theirs, mine)
		}
		snap.Now = snap.Now.Add(500 * time.Millisecond)
		p := Reconcile(snap, other)
		up := map[int]bool{}
		for _, tsk := range snap.Tasks {
			if live(tsk) && tsk.Spec.Image == "img:2" && tsk.Status.State == types.TaskRunning {
				up[tsk.Slot] = true
			}
		}
		for _, c := range p.Create {
			if up[c.Slot] {
				t.Fatalf("new leader recreates up-to-date slot %d", c.Slot)
			}
		}
		for _, u := range p.Update {
			if up[u.Slot] && !live(u) {
				t.Fatalf("new leader stops up-to-date slot %d", u.Slot)
			}
		}
		if st := s.service("web").UpdateStatus; len(p.Services) == 1 && len(st.BatchSlots) == 1 {
			if got := p.Services[0].UpdateStatus.BatchSlots; len(got) == 1 && got[0] < st.BatchSlots[0] {
				t.Fatalf("new leader goes back from slot %d to %d", st.BatchSlots[0], got[0])
			}
		}
		next, changed := s.round()
		if changed {
			s.in.Now = s.in.Now.Add(time.Second)
		} else if !next.WakeAt.IsZero() {
			s.in.Now = next.WakeAt
		}
	}
	s.checkDone("web", types.UpdateCompleted, 4)
}

func TestUpdateScale(t *testing.T) {
	t.Run("scale up during the update: new slots get the new spec directly", func(t *testing.T) {
		svc, tasks := fleet(3, false, withUpdate(updCfg(1, 0, 0, "", "", 0)))
		s := startSim(t, svc, tasks, "img:2")
		s.steps(3)
		c := s.service("web").Copy()
		c.Spec.Mode.Replicas = 5
		s.setService(c)
		s.run(200, nil)
		s.checkDone("web", types.UpdateCompleted, 5)
		if st := s.service("web").UpdateStatus; st.Updated != 3 {
			t.Fatalf("updated %d slots, want 3 (the new ones were created up to date)", st.Updated)
		}
		if !slices.Contains(s.log, "+2s start web.4 v2") || !slices.Contains(s.log, "+2s start web.5 v2") {
			t.Fatalf("new slots not created at once with v2:\n%s", strings.Join(s.log, "\n"))
		}
	})
	t.Run("scale down removes slots of the batch in flight", func(t *testing.T) {
		svc, tasks := fleet(6, false, withUpdate(updCfg(2, 0, 0, "", "", 0)))
		s := startSim(t, svc, tasks, "img:2")
		s.stopLag = 3
		s.allowRetire = true
		s.steps(1) // slots 1 and 2 stopping
		if st := s.service("web").UpdateStatus; !slices.Equal(st.BatchSlots, []int{1, 2}) {
			t.Fatalf("batch %v", st.BatchSlots)
		}
		c := s.service("web").Copy()
		c.Spec.Mode.Replicas = 4
		s.setService(c)
		s.round()
		if st := s.service("web").UpdateStatus; !slices.Equal(st.BatchSlots, []int{3, 4}) {
			t.Fatalf("after scaling down the stopping slots, batch %v, want [3 4]", st.BatchSlots)
		}
		s.run(200, nil)
		s.checkDone("web", types.UpdateCompleted, 4)
	})
}

// TestUpdatePaused: a paused update does nothing, however long it waits;
// resumed, it goes on where it stopped.
func TestUpdatePaused(t *testing.T) {
	svc, tasks := fleet(3, false, withUpdate(updCfg(1, 0, 0, "", "", 0)))
	s := startSim(t, svc, tasks, "img:2")
	s.run(100, func() bool { return s.service("web").UpdateStatus.Updated == 2 })
	paused := s.service("web").Copy()
	paused.UpdateStatus.State = types.UpdatePaused
	s.setService(paused)
	s.run(100, nil)
	for _, at := range []time.Duration{0, time.Minute, time.Hour} {
		in := s.in
		in.Now = in.Now.Add(at)
		if p := Reconcile(in, ids()); !p.Empty() || !p.WakeAt.IsZero() {
			t.Fatalf("paused, +%s: plan %v, services %d", at, describe(in, p), len(p.Services))
		}
	}
	if got := slotImages(s.in.Tasks); !slices.Equal(got, []string{"img:2", "img:2", "img:1"}) {
		t.Fatalf("paused at %v", got)
	}
	resumed, ok := ResumeUpdate(s.service("web").UpdateStatus)
	if !ok || resumed.State != types.UpdateUpdating || resumed.Updated != 2 {
		t.Fatalf("resume: %+v %v", resumed, ok)
	}
	c := s.service("web").Copy()
	c.UpdateStatus = resumed
	s.setService(c)
	s.run(100, nil)
	s.checkDone("web", types.UpdateCompleted, 3)
	if st := s.service("web").UpdateStatus; st.Updated != 3 {
		t.Fatalf("updated %d, want 3", st.Updated)
	}
}

// TestUpdateRetarget changes the image again in the middle of an update:
// the batch in flight finishes under the newest spec, and every slot ends
// on it without two tasks running in a stop-first slot.
func TestUpdateRetarget(t *testing.T) {
	svc, tasks := fleet(4, false, withUpdate(updCfg(2, 0, 0, "", "", 0)))
	s := startSim(t, svc, tasks, "img:2")
	s.stopLag = 1
	s.run(100, func() bool { return s.service("web").UpdateStatus.Updated == 4 })
	s.setService(changeImage(s.service("web"), "img:3", s.in.Now))
	s.run(200, nil)
	s.checkDone("web", types.UpdateCompleted, 4)
}

// TestManualRollbackHalfDone rolls back an update that reached two of
// four slots: only those (and the slot in flight) are replaced.
func TestManualRollbackHalfDone(t *testing.T) {
	svc, tasks := fleet(4, false, withUpdate(updCfg(1, 0, 0, "", "", 0)), withRollback(updCfg(1, 0, 0, "", "", 0)))
	s := startSim(t, svc, tasks, "img:2")
	s.run(100, func() bool { return s.service("web").UpdateStatus.Updated == 3 })
	// The agent's rollback: swap the specs, new SpecVersion, rollback status.
	c := s.service("web").Copy()
	prev := *c.PreviousSpec
	c.PreviousSpec = &c.Spec
	c.Spec = prev
	c.SpecVersion++
	c.UpdateStatus = BeginUpdate(c.UpdateStatus, s.in.Now, true)
	s.setService(c)
	s.log = nil
	s.run(200, nil)
	s.checkDone("web", types.UpdateRollbackCompleted, 4)
	for _, line := range s.log {
		if strings.Contains(line, "web.4") {
			t.Fatalf("slot 4 was never updated but the rollback touched it:\n%s", strings.Join(s.log, "\n"))
		}
	}
	if i := slices.IndexFunc(s.in.Tasks, func(t *types.Task) bool { return t.ID == "w4" }); i < 0 ||
		!live(s.in.Tasks[i]) || s.in.Tasks[i].SpecVersion != c.SpecVersion {
		t.Fatalf("w4 should still run, relabelled v%d", c.SpecVersion)
	}
}

// TestUpdateOutsideTemplate: a change that leaves the template alone (an
// endpoint, say) replaces nothing; tasks are relabelled and the update
// completes at once.
func TestUpdateOutsideTemplate(t *testing.T) {
	svc, tasks := fleet(2, false)
	c := svc.Copy()
	c.Spec.Endpoint.Mode = "dnsrr"
	c.SpecVersion = 2
	c.UpdateStatus = BeginUpdate(nil, t0, false)
	in := Input{Now: t0, Nodes: abc, Services: []*types.Service{c}, Tasks: tasks}
	p := Reconcile(in, ids())
	if len(p.Create) != 0 || len(p.Update) != 2 || len(p.Services) != 1 {
		t.Fatalf("plan %v, %d services", describe(in, p), len(p.Services))
	}
	for _, u := range p.Update {
		if u.SpecVersion != 2 || !live(u) {
			t.Fatalf("task %s: v%d desired %s", u.ID, u.SpecVersion, u.DesiredState)
		}
	}
	if st := p.Services[0].UpdateStatus; st.State != types.UpdateCompleted || st.Message != MsgUpdateCompleted ||
		!st.CompletedAt.Equal(t0) || st.Updated != 0 {
		t.Fatalf("status %+v", *st)
	}
}

// TestNoUpdateNoReplacement: without an update in progress, outdated
// tasks stay (the agent starts updates).
func TestNoUpdateNoReplacement(t *testing.T) {
	for _, st := range []*types.UpdateStatus{nil, {State: types.UpdateCompleted}, {State: types.UpdateRollbackCompleted}} {
		svc, tasks := fleet(2, false)
		c := changeImage(svc, "img:2", t0)
		c.UpdateStatus = st
		check(t, Input{Nodes: abc, Services: []*types.Service{c}, Tasks: tasks})
	}
}

func TestBeginAndResume(t *testing.T) {
	st := BeginUpdate(nil, t0, false)
	if !sameStatus(*st, types.UpdateStatus{State: types.UpdateUpdating, StartedAt: t0, Message: MsgUpdateInProgress}) {
		t.Fatalf("begin: %+v", *st)
	}
	inFlight := &types.UpdateStatus{State: types.UpdatePaused, Updated: 5, Failures: 2, BatchSlots: []int{4, 5},
		BatchDoneAt: t0.Add(-time.Minute), Message: "update paused due to failure or early termination of task x"}
	st = BeginUpdate(inFlight, t0, true)
	if st.State != types.UpdateRollbackStarted || st.Message != MsgManualRollback || st.Updated != 2 ||
		st.Failures != 0 || !slices.Equal(st.BatchSlots, []int{4, 5}) || !st.BatchDoneAt.IsZero() {
		t.Fatalf("begin rollback with a batch in flight: %+v", *st)
	}
	st.BatchSlots[0] = 9
	if inFlight.BatchSlots[0] != 4 {
		t.Fatal("BeginUpdate shares the batch with its argument")
	}
	done := &types.UpdateStatus{State: types.UpdateCompleted, BatchSlots: []int{1}}
	if st = BeginUpdate(done, t0, false); st.BatchSlots != nil {
		t.Fatalf("a finished update's batch carried over: %+v", *st)
	}
	r, ok := ResumeUpdate(inFlight)
	if !ok || r.State != types.UpdateUpdating || r.Message != MsgUpdateInProgress || r.Updated != 5 || r.Failures != 2 ||
		!slices.Equal(r.BatchSlots, inFlight.BatchSlots) {
		t.Fatalf("resume: %+v %v", r, ok)
	}
	if r, ok = ResumeUpdate(&types.UpdateStatus{State: types.UpdateRollbackPaused}); !ok || r.State != types.UpdateRollbackStarted {
		t.Fatalf("resume rollback: %+v %v", r, ok)
	}
	for _, s := range []*types.UpdateStatus{nil, {State: types.UpdateUpdating}, {State: types.UpdateCompleted}} {
		if _, ok := ResumeUpdate(s); ok {
			t.Fatalf("resumed %+v", s)
		}
	}
}

func TestEffectiveConfig(t *testing.T) {
	got := effectiveConfig(types.UpdateConfig{}, false)
	want := types.UpdateConfig{Monitor: DefaultMonitor, Order: OrderStopFirst, FailureAction: ActionPause}
	if got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	if got := effectiveConfig(types.UpdateConfig{FailureAction: ActionRollback}, true); got.FailureAction != ActionPause {
		t.Fatalf("a rollback's rollback action is %q, want pause", got.FailureAction)
	}
	got = effectiveConfig(types.UpdateConfig{FailureAction: ActionContinue, Order: OrderStartFirst}, true)
	if got.FailureAction != ActionContinue || got.Order != OrderStartFirst {
		t.Fatalf("kept values changed: %+v", got)
	}
}
