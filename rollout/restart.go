package rollout

import (
	"slices"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// Restart policy defaults and limits; see the package documentation.
const (
	// DefaultRestartDelay is used when RestartPolicy.Delay is zero.
	DefaultRestartDelay = 5 * time.Second
	// MaxRestartDelay caps the growing delay (unless Delay itself is longer).
	MaxRestartDelay = 5 * time.Minute
	// BackoffReset is how long a task must have run for its failure to
	// start a new backoff sequence when the policy has no Window.
	BackoffReset = 10 * time.Minute
)

// Restart conditions.
const (
	ConditionAny       = "any"
	ConditionOnFailure = "on-failure"
	ConditionNone      = "none"
)

type verdict int

const (
	restartNotApplicable verdict = iota // the newest task did not end on its own
	restartNo                           // the policy's condition says no
	restartExhausted                    // MaxAttempts reached within the window
	restartWait                         // restart after a delay
	restartNow                          // restart now
)

// endedOnOwn reports whether t stopped without being asked to: failed,
// completed or rejected. (An agent reports shutdown only for a task it was
// told to stop; were one to end up shut down while wanted running, its
// slot is simply refilled, without backoff.)
func endedOnOwn(t *types.Task) bool {
	switch t.Status.State {
	case types.TaskFailed, types.TaskComplete, types.TaskRejected:
		return true
	}
	return false
}

func succeeded(t *types.Task) bool {
	return t.Status.State == types.TaskComplete && t.Status.ExitCode == 0
}

// endTime is when a terminal task ended.
func endTime(t *types.Task) time.Time { return t.Status.Timestamp }

// restartVerdict applies policy p to a slot whose tasks (oldest first)
// hold no live task. The time returned is when the verdict may change
// (restartWait: when the restart is due; restartExhausted with a Window:
// when attempts leave it), or zero.
func restartVerdict(p types.RestartPolicy, version uint64, tasks []*types.Task, now time.Time) (verdict, time.Time) {
	last := tasks[len(tasks)-1]
	if !endedOnOwn(last) {
		return restartNotApplicable, time.Time{}
	}
	switch p.Condition {
	case ConditionNone:
		return restartNo, time.Time{}
	case ConditionOnFailure:
		if succeeded(last) {
			return restartNo, time.Time{}
		}
	}
	if ends := attempts(p, version, tasks, now); p.MaxAttempts > 0 && uint64(len(ends)) > p.MaxAttempts {
		var at time.Time
		if p.Window > 0 {
			// Restarts resume when all but MaxAttempts have left the window.
			at = ends[len(ends)-int(p.MaxAttempts)-1].Add(p.Window)
		}
		return restartExhausted, at
	}
	due := endTime(last).Add(backoff(p, tasks))
	if now.Before(due) {
		return restartWait, due
	}
	return restartNow, time.Time{}
}

// attempts returns the end times, oldest first, of the tasks that count
// against MaxAttempts: those of the current spec version that ended on
// their own within the window (ever, without a window).
func attempts(p types.RestartPolicy, version uint64, tasks []*types.Task, now time.Time) []time.Time {
	if p.MaxAttempts == 0 {
		return nil
	}
	var ends []time.Time
	for _, t := range tasks {
		if countsAsAttempt(p, version, t, now) {
			ends = append(ends, endTime(t))
		}
	}
	slices.SortFunc(ends, time.Time.Compare)
	return ends
}

func countsAsAttempt(p types.RestartPolicy, version uint64, t *types.Task, now time.Time) bool {
	return endedOnOwn(t) && t.SpecVersion == version &&
		(p.Window <= 0 || endTime(t).After(now.Add(-p.Window)))
}

// backoff is the delay before restarting the newest of tasks: the base
// delay doubled for each earlier task of its streak (streak).
func backoff(p types.RestartPolicy, tasks []*types.Task) time.Duration {
	base, limit := delays(p)
	d := base
	for k := 1; k < streak(p, tasks, len(tasks)) && d < limit; k++ {
		d *= 2
	}
	return min(d, limit)
}

// delays returns the policy's base delay and the cap of the backoff.
func delays(p types.RestartPolicy) (base, limit time.Duration) {
	base = p.Delay
	if base <= 0 {
		base = DefaultRestartDelay
	}
	return base, max(MaxRestartDelay, base)
}

// backoffDepth is the longest streak that still changes the delay: the
// history a slot keeps so that the backoff can reach its cap.
func backoffDepth(p types.RestartPolicy) int {
	base, limit := delays(p)
	k := 1
	for d := base; d < limit; d *= 2 {
		k++
	}
	return k
}

// streak counts, up to most, the consecutive tasks from the newest
// (oldest first in tasks) that ended on their own; a task that had run for
// the reset period (the policy's Window, else BackoffReset) is the first
// of its streak.
func streak(p types.RestartPolicy, tasks []*types.Task, most int) int {
	reset := BackoffReset
	if p.Window > 0 {
		reset = p.Window
	}
	n := 0
	for j := len(tasks) - 1; j >= 0 && n < most; j-- {
		t := tasks[j]
		if !endedOnOwn(t) {
			break
		}
		n++
		if t.CreatedAt.IsZero() || endTime(t).Sub(t.CreatedAt) >= reset {
			break
		}
	}
	return n
}
