package rollout

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// classify decides the kind of a slot of the batch in flight and takes its
// next step. Stop-first retires the slot's outdated tasks at once; the
// slot then waits (slotStopping) until none is left stopping, and is
// refilled with the current spec. Start-first gives the slot its new task
// first (s.create) and retires the outdated ones once a new task runs and
// is healthy. A new task that ended on its own is left to the restart
// policy (its failure was counted by countFailures, or the update is
// paused).
func (u *update) classify(s *slot, mayRestart bool) {
	r := u.r
	r.keepCheck(s)
	var cur, old []int
	ready := false
	for _, i := range s.tasks {
		t := r.cur[i]
		if r.deleted[i] || !live(t) {
			continue
		}
		if u.tmpl.outdated(t) {
			old = append(old, i)
		} else {
			cur = append(cur, i)
			ready = ready || runningHealthy(t)
		}
	}
	if len(old) > 0 && (u.cfg.Order == OrderStopFirst || ready) {
		for _, i := range old {
			r.retire(i)
		}
		old = nil
	}
	switch {
	case len(cur) > 0 || len(old) > 0:
		s.kind, s.create = slotLive, len(cur) == 0
	case r.stopping(s):
		s.kind = slotStopping
	case u.newFailed(s):
		r.classifyEnded(u.svc, s, mayRestart)
	default:
		// The slot is refilled with the current spec. An outdated task that
		// ended on its own (a failed new task when a rollback swapped the
		// specs) is replaced here, not by a restart, so it becomes history
		// here: otherwise it would stay "failed, desired running" for good,
		// beyond the history limit's reach.
		for _, i := range s.tasks {
			if !r.deleted[i] && r.cur[i].Status.State.Terminal() {
				r.shutdown(i)
			}
		}
		s.kind, s.replace = slotDead, true
	}
}

// newFailed reports whether the slot's newest task (deleted by this plan
// or not: an outdated task deleted now still counts as the newest) has the
// current template and ended on its own.
func (u *update) newFailed(s *slot) bool {
	if len(s.tasks) == 0 {
		return false
	}
	t := u.r.cur[s.tasks[len(s.tasks)-1]]
	return !u.tmpl.outdated(t) && endedOnOwn(t)
}

// runningHealthy reports whether t runs and, if it has a healthcheck, is
// healthy: a task whose spec has a healthcheck must report Healthy true;
// one without reports nil, unless its image brings a healthcheck.
func runningHealthy(t *types.Task) bool {
	if !assigned(t) || t.Status.State != types.TaskRunning {
		return false
	}
	if h := t.Status.Healthy; h != nil {
		return *h
	}
	hc := t.Spec.Healthcheck
	return hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE"
}

// step moves an active update on once the plan's other decisions about
// the service are made. It closes the batch in flight once every slot of
// it has run its new task for the monitor period (slots whose new task
// failed left it already). Once the delay has passed and no outdated task
// is still stopping, it starts the next batch: the first Parallelism (0:
// all) slots still outdated, in slot order. With none left it completes
// the update at once (no delay after the last batch, whose monitor period
// has passed). slots are the service's slots; add asks for a new task in
// a slot.
func (u *update) step(slots []*slot, add func(*slot)) {
	if u == nil || !u.active {
		return
	}
	var batch []*slot
	for _, s := range slots {
		if s.inBatch && !s.gone {
			batch = append(batch, s)
		}
	}
	doneAt, done := u.batchDone(batch)
	if !done {
		return
	}
	if len(batch) > 0 || len(u.failedAt) > 0 {
		u.st.BatchDoneAt = doneAt
		for _, s := range batch {
			s.inBatch = false
		}
	}
	var next []*slot
	for _, s := range slots {
		if !s.inBatch && u.updatable(s) {
			next = append(next, s)
		}
	}
	if len(next) == 0 {
		u.complete()
		return
	}
	if u.retiring(slots) {
		return // its status change wakes the leader
	}
	if !u.st.BatchDoneAt.IsZero() {
		if due := u.st.BatchDoneAt.Add(u.cfg.Delay); u.r.in.Now.Before(due) {
			u.r.wakeAt(due)
			return
		}
	}
	if p := u.cfg.Batch(); p > 0 && uint64(len(next)) > p {
		next = next[:p]
	}
	for _, s := range next {
		s.inBatch = true
		u.classify(s, true)
		if s.kind == slotDead || s.create {
			add(s)
		}
	}
	u.st.Updated += uint64(len(next))
}

// retiring reports whether an outdated task is still stopping in a slot
// the update may touch (the old task of a failed start-first slot, say):
// the next batch waits for it, so that at most Parallelism slots are
// being replaced at any time.
func (u *update) retiring(slots []*slot) bool {
	for _, s := range slots {
		if s.gone {
			continue
		}
		for _, i := range s.tasks {
			t := u.r.cur[i]
			if !u.r.deleted[i] && assigned(t) && !t.Status.State.Terminal() &&
				t.DesiredState.Rank() > types.TaskRunning.Rank() && u.tmpl.outdated(t) {
				return true
			}
		}
	}
	return false
}

// batchDone reports whether every slot of the batch has run its new task
// for the monitor period, and when the last one's period ended (or its
// failure was seen); it asks to be woken when a period ends.
func (u *update) batchDone(batch []*slot) (time.Time, bool) {
	at := u.st.StartedAt // no batch of this update ends before it began
	for _, t := range u.failedAt {
		at = later(at, t)
	}
	done := true
	for _, s := range batch {
		stable, ok := u.stableAt(s)
		switch {
		case !ok:
			done = false
		case u.r.in.Now.Before(stable):
			done = false
			u.r.wakeAt(stable)
		default:
			at = later(at, stable)
		}
	}
	return at, done
}

// stableAt returns when the slot's new task will have run (healthy) for
// the monitor period; false while its new task does not run or an
// outdated task is still live or stopping (start-first: a batch ends once
// its old tasks are gone, so that at most Parallelism extra tasks run).
func (u *update) stableAt(s *slot) (time.Time, bool) {
	var at time.Time
	ok := false
	for _, i := range s.tasks {
		t := u.r.cur[i]
		if u.r.deleted[i] || t.Status.State.Terminal() {
			continue
		}
		if u.tmpl.outdated(t) && (live(t) || assigned(t)) {
			return time.Time{}, false // not replaced, or still stopping
		}
		if !live(t) {
			continue
		}
		if runningHealthy(t) {
			at, ok = later(at, t.Status.Timestamp.Add(u.cfg.Monitor)), true
		}
	}
	return at, ok
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// complete ends the update: no slot is outdated and no batch in flight.
func (u *update) complete() {
	if rollingBack(u.st.State) {
		u.st.State, u.st.Message = types.UpdateRollbackCompleted, MsgRollbackCompleted
	} else {
		u.st.State, u.st.Message = types.UpdateCompleted, MsgUpdateCompleted
	}
	u.st.CompletedAt = u.r.in.Now
}

// finish records the batch in flight in the status and, when the status
// or the spec changed, adds the service to the plan.
func (u *update) finish(slots []*slot) {
	if u == nil {
		return
	}
	u.st.BatchSlots, u.st.BatchNodes = nil, nil
	for _, s := range slots {
		switch {
		case !s.inBatch || s.gone:
		case u.svc.Spec.Mode.Global:
			u.st.BatchNodes = append(u.st.BatchNodes, s.node)
		default:
			u.st.BatchSlots = append(u.st.BatchSlots, s.num)
		}
	}
	if u.svc == u.in && sameStatus(u.st, *u.in.UpdateStatus) {
		return
	}
	c := u.svc
	if c == u.in {
		c = u.in.Copy()
	}
	st := u.st
	c.UpdateStatus = &st
	u.r.changed = append(u.r.changed, c)
}

func sameStatus(a, b types.UpdateStatus) bool {
	return a.State == b.State && a.Message == b.Message && a.StartedAt.Equal(b.StartedAt) &&
		a.CompletedAt.Equal(b.CompletedAt) && a.Updated == b.Updated && a.Failures == b.Failures &&
		slices.Equal(a.BatchSlots, b.BatchSlots) && slices.Equal(a.BatchNodes, b.BatchNodes) &&
		a.BatchDoneAt.Equal(b.BatchDoneAt)
}

// templates tells whether a task's template is its service's current one.
// Tasks of one SpecVersion share one template (a service's spec at a
// version never changes), so each version is compared once.
type templates struct {
	svc  *types.Service
	same map[uint64]bool // task SpecVersion -> same template as svc's
}

func newTemplates(svc *types.Service) *templates { return &templates{svc: svc} }

// outdated reports whether t's template differs from the service's.
func (m *templates) outdated(t *types.Task) bool {
	if t.SpecVersion == m.svc.SpecVersion {
		return false
	}
	same, ok := m.same[t.SpecVersion]
	if !ok {
		same = sameTemplate(&t.Spec, &m.svc.Spec.Task)
		if m.same == nil {
			m.same = make(map[uint64]bool)
		}
		m.same[t.SpecVersion] = same
	}
	return !same
}

// sameTemplate compares templates as the store holds them (in JSON, where
// an empty list and none are the same).
func sameTemplate(a, b *types.TaskTemplate) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// relabel gives the live tasks whose template is the service's current one
// the service's SpecVersion, so that they count as up to date (a rollback
// of a half-done update leaves the slots it never reached in place; a
// change outside the template replaces nothing).
func (r *reconciler) relabel(m *templates, slots []*slot) {
	v := m.svc.SpecVersion
	for _, s := range slots {
		for _, i := range s.tasks {
			if t := r.cur[i]; !r.deleted[i] && live(t) && t.SpecVersion != v && !m.outdated(t) {
				r.edit(i).SpecVersion = v
			}
		}
	}
}
