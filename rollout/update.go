package rollout

import (
	"fmt"
	"slices"
	"time"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/spec"
)

// Update configuration values and defaults (swarm's); see the package
// documentation, section Rolling updates.
const (
	// DefaultMonitor is used when UpdateConfig.Monitor is zero.
	DefaultMonitor = spec.DefaultMonitor

	OrderStopFirst  = "stop-first"
	OrderStartFirst = "start-first"

	ActionPause    = "pause"
	ActionContinue = "continue"
	ActionRollback = "rollback"
)

// Update status messages, as swarm writes them.
const (
	MsgUpdateInProgress   = "update in progress"
	MsgRollbackInProgress = "rollback in progress"
	MsgManualRollback     = "manually requested rollback"
	MsgUpdateCompleted    = "update completed"
	MsgRollbackCompleted  = "rollback completed"

	fmtUpdatePaused   = "update paused due to failure or early termination of task %s"
	fmtRollbackPaused = "rollback paused due to failure or early termination of task %s"
	fmtRolledBack     = "update rolled back due to failure or early termination of task %s"
	noPreviousSpec    = " (the service has no previous spec to roll back to)"
)

// BeginUpdate returns the status the agent writes, together with the new
// spec, whenever a service's task template changes: State updating (for a
// manual rollback, rollback_started with MsgManualRollback), StartedAt
// now, no failures. prev is the service's current status (nil for none):
// a batch still in flight is kept, so that its slots finish, under the new
// spec, before others start and a slot whose old task is still stopping is
// not refilled early.
func BeginUpdate(prev *types.UpdateStatus, now time.Time, rollback bool) *types.UpdateStatus {
	st := &types.UpdateStatus{State: types.UpdateUpdating, StartedAt: now, Message: MsgUpdateInProgress}
	if rollback {
		st.State, st.Message = types.UpdateRollbackStarted, MsgManualRollback
	}
	if prev != nil && inFlight(prev.State) {
		st.BatchSlots = slices.Clone(prev.BatchSlots)
		st.BatchNodes = slices.Clone(prev.BatchNodes)
		st.Updated = uint64(len(st.BatchSlots) + len(st.BatchNodes))
	}
	return st
}

// ResumeUpdate returns the status that resumes a paused update (State
// updating) or rollback (rollback_started), keeping its progress; ok is
// false when prev is not paused. The agent writes it when a user updates
// a paused service without changing its task template (swarm's resume).
func ResumeUpdate(prev *types.UpdateStatus) (st *types.UpdateStatus, ok bool) {
	if prev == nil {
		return nil, false
	}
	c := *prev
	c.BatchSlots, c.BatchNodes = slices.Clone(prev.BatchSlots), slices.Clone(prev.BatchNodes)
	switch prev.State {
	case types.UpdatePaused:
		c.State, c.Message = types.UpdateUpdating, MsgUpdateInProgress
	case types.UpdateRollbackPaused:
		c.State, c.Message = types.UpdateRollbackStarted, MsgRollbackInProgress
	default:
		return nil, false
	}
	return &c, true
}

// inFlight reports whether an update in state s may have a batch in flight.
func inFlight(s types.UpdateState) bool {
	switch s {
	case types.UpdateUpdating, types.UpdateRollbackStarted, types.UpdatePaused, types.UpdateRollbackPaused:
		return true
	}
	return false
}

// rollingBack reports whether state s runs with the rollback config.
func rollingBack(s types.UpdateState) bool {
	return s == types.UpdateRollbackStarted || s == types.UpdateRollbackPaused
}

// effectiveConfig fills the defaults into c; a rollback never rolls back.
func effectiveConfig(c types.UpdateConfig, rollback bool) types.UpdateConfig {
	if c.Monitor <= 0 {
		c.Monitor = DefaultMonitor
	}
	if c.Order != OrderStartFirst {
		c.Order = OrderStopFirst
	}
	switch {
	case c.FailureAction == ActionRollback && rollback,
		c.FailureAction != ActionContinue && c.FailureAction != ActionRollback:
		c.FailureAction = ActionPause
	}
	return c
}

// update is the rolling update of one service during one Reconcile.
type update struct {
	r      *reconciler
	in     *types.Service // as read
	svc    *types.Service // as this plan leaves it (spec swapped by an automatic rollback)
	st     types.UpdateStatus
	cfg    types.UpdateConfig
	active bool // updating or rolling back, not paused
	tmpl   *templates
	// failedAt are the end times of the failures counted by this plan.
	failedAt []time.Time
}

// startUpdate marks the slots of the service's batch in flight and, while
// the update is active, counts the failures of the batch's new tasks and
// applies the failure action. It returns nil when the service has no
// update that may be in flight. Call it before the slots are classified:
// an automatic rollback changes the spec they are classified against
// (use the returned update's svc).
func (r *reconciler) startUpdate(svc *types.Service, slots []*slot) *update {
	if svc.UpdateStatus == nil || !inFlight(svc.UpdateStatus.State) {
		return nil
	}
	u := &update{r: r, in: svc, svc: svc, st: *svc.UpdateStatus, tmpl: newTemplates(svc)}
	u.active = u.st.State == types.UpdateUpdating || u.st.State == types.UpdateRollbackStarted
	u.cfg = u.config()
	slotSet := make(map[int]bool, len(u.st.BatchSlots))
	for _, n := range u.st.BatchSlots {
		slotSet[n] = true
	}
	for _, s := range slots {
		s.inBatch = svc.Spec.Mode.Global && slices.Contains(u.st.BatchNodes, s.node) ||
			!svc.Spec.Mode.Global && slotSet[s.num]
	}
	if u.active {
		u.countFailures(slots)
	}
	return u
}

func (u *update) config() types.UpdateConfig {
	if rollingBack(u.st.State) {
		return effectiveConfig(u.svc.Spec.Rollback, true)
	}
	return effectiveConfig(u.svc.Spec.Update, false)
}

// countFailures finds the batch slots whose new task failed, takes them
// out of the batch and counts them; when the failures exceed the allowed
// ratio of the slots this update replaces, it applies the failure action.
func (u *update) countFailures(slots []*slot) {
	var failed []*slot
	var tasks []*types.Task
	for _, s := range slots {
		if t := u.newest(s); s.inBatch && t != nil && u.failedTask(t) {
			failed, tasks = append(failed, s), append(tasks, t)
		}
	}
	if len(failed) == 0 {
		return
	}
	total := u.st.Updated + uint64(u.outdatedSlots(slots))
	var trigger *types.Task
	for k, s := range failed {
		s.inBatch = false
		u.st.Failures++
		u.failedAt = append(u.failedAt, tasks[k].Status.Timestamp)
		if trigger == nil && float64(u.st.Failures) > u.cfg.MaxFailureRatio*float64(max(total, 1)) {
			trigger = tasks[k]
		}
	}
	if trigger == nil || u.cfg.FailureAction == ActionContinue {
		// The update goes on as if the failed slots were replaced: a
		// start-first slot's old task goes too, else the slot would keep
		// two tasks or be taken again.
		for _, s := range failed {
			u.retireOutdated(s)
		}
		return
	}
	if u.cfg.FailureAction == ActionRollback && u.svc.PreviousSpec != nil {
		u.rollback(trigger.ID, slots, failed)
		return
	}
	u.active = false
	switch {
	case rollingBack(u.st.State):
		u.st.State, u.st.Message = types.UpdateRollbackPaused, fmt.Sprintf(fmtRollbackPaused, trigger.ID)
	case u.cfg.FailureAction == ActionRollback:
		u.st.State, u.st.Message = types.UpdatePaused, fmt.Sprintf(fmtUpdatePaused, trigger.ID)+noPreviousSpec
	default:
		u.st.State, u.st.Message = types.UpdatePaused, fmt.Sprintf(fmtUpdatePaused, trigger.ID)
	}
}

// retireOutdated stops the slot's live outdated tasks.
func (u *update) retireOutdated(s *slot) {
	for _, i := range s.tasks {
		if t := u.r.cur[i]; !u.r.deleted[i] && live(t) && u.tmpl.outdated(t) {
			u.r.retire(i)
		}
	}
}

// newest returns the slot's newest task still stored, or nil.
func (u *update) newest(s *slot) *types.Task {
	for j := len(s.tasks) - 1; j >= 0; j-- {
		if i := s.tasks[j]; !u.r.deleted[i] {
			return u.r.cur[i]
		}
	}
	return nil
}

// failedTask reports whether t, the newest task of a batch slot, is a new
// task of the update that failed: it has the current template, is still
// wanted running, and ended on its own. A running task reporting
// Healthy=false is not a failure yet: that is also how a task whose first
// probe has not passed reports; the agent fails a task whose healthcheck
// fails Retries times, and that counts.
func (u *update) failedTask(t *types.Task) bool {
	if u.tmpl.outdated(t) || t.DesiredState.Rank() > types.TaskRunning.Rank() {
		return false
	}
	return endedOnOwn(t)
}

// outdatedSlots counts the slots outside the batch that the update still
// has to replace.
func (u *update) outdatedSlots(slots []*slot) int {
	n := 0
	for _, s := range slots {
		if !s.inBatch && u.updatable(s) {
			n++
		}
	}
	return n
}

// updatable reports whether the update may replace slot s: it holds a
// live task with an outdated template (a global slot: on a node where the
// service may run).
func (u *update) updatable(s *slot) bool {
	if s.gone || u.svc.Spec.Mode.Global && !u.r.static.Eligible(u.svc, s.node) {
		return false
	}
	for _, i := range s.tasks {
		if t := u.r.cur[i]; !u.r.deleted[i] && live(t) && u.tmpl.outdated(t) {
			return true
		}
	}
	return false
}

// rollback swaps the service's spec with its previous spec and starts
// rolling back, beginning with the batch in flight and the failed slots.
func (u *update) rollback(taskID string, slots, failed []*slot) {
	c := u.svc.Copy()
	spec := c.PreviousSpec.Copy()
	spec.Mode = c.Spec.Mode // a scale during the update stands
	// As in swarm, the rollback runs under the rollback settings the
	// service has now, and they stay: going back to the old image does not
	// bring back old update settings.
	spec.Update, spec.Rollback = c.Spec.Update, c.Spec.Rollback
	prev := c.Spec
	c.Spec, c.PreviousSpec = spec, &prev
	c.SpecVersion++
	u.svc, u.tmpl = c, newTemplates(c)
	for _, s := range failed {
		s.inBatch = true
	}
	var n uint64
	for _, s := range slots {
		if s.inBatch {
			n++
		}
	}
	u.st = types.UpdateStatus{State: types.UpdateRollbackStarted, StartedAt: u.r.in.Now,
		Message: fmt.Sprintf(fmtRolledBack, taskID), Updated: n}
	u.cfg, u.failedAt = u.config(), nil
}
