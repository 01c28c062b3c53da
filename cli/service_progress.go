package cli

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// This file holds the pure part of the progress display that create,
// update, scale and rollback show: what one poll of the service and its
// tasks means (assess), how it folds into the verify phase (watcher), and
// the lines docker would print for it (render).

// watchOp is the change a progress display follows.
type watchOp int

const (
	opCreate watchOp = iota
	opUpdate
	opScale
	opRollback
)

// watchSpec says what a progress display follows.
type watchSpec struct {
	Op watchOp
	// Baseline is the service's update status read before the change. Until
	// the status differs from it, it belongs to an earlier change and is
	// ignored (a scale must not fail because an old update was paused).
	Baseline *types.UpdateStatus
}

// maxProgressBars is how many tasks docker shows one line each for.
const maxProgressBars = 20

// slotProgress is one task line: an empty State means no task of the
// current spec exists yet for the slot.
type slotProgress struct {
	Label string
	State types.TaskState
	Err   string
}

// progress is what one poll says about a change.
type progress struct {
	Desired, Running int
	Slots            []slotProgress // nil when there are more than maxProgressBars
	RollingBack      bool
	RollbackMsg      string
	// Settled: every desired slot's newest task runs the current spec (and
	// is healthy), no extra slot is still wanted, and the update status, if
	// it belongs to this change, is not in progress.
	Settled bool
	// RunningSince is when the last counted task began running.
	RunningSince time.Time
	// Monitor is how long a settled service must stay settled.
	Monitor time.Duration
	// Err ends the display: the update paused, or was rolled back.
	Err error
}

// taskGroup is a slot (or, for a global service, a node) and the task shown
// for it.
type taskGroup struct {
	slot   int
	node   string
	show   *api.Task // nil: a placeholder for a slot not yet updated
	active bool      // the task shown is wanted running
}

// assess reads one poll. Only tasks of the service's current SpecVersion
// count, as docker's display only looks at up-to-date tasks; slots still
// running an older spec show as empty lines until the update reaches them.
func assess(w watchSpec, svc api.Service, tasks []api.Task) progress {
	p := progress{RollingBack: w.Op == opRollback}
	inProgress := p.assessStatus(w, svc.UpdateStatus)
	p.Monitor = svc.Spec.Update.Monitor
	if p.RollingBack && svc.Spec.Rollback.Monitor > 0 {
		p.Monitor = svc.Spec.Rollback.Monitor
	}
	desired := int(min(svc.Spec.Mode.Replicas, math.MaxInt32))
	if svc.Spec.Mode.Global {
		desired = int(min(svc.DesiredTasks, math.MaxInt32))
	}
	groups := groupTasks(svc, tasks, desired)
	running, active := 0, 0
	for _, g := range groups {
		if g.active {
			active++
		}
		if g.show != nil && countsRunning(g.show) {
			running++
			if ts := g.show.Status.Timestamp; ts.After(p.RunningSince) {
				p.RunningSince = ts
			}
		}
	}
	p.Desired, p.Running = desired, min(running, desired)
	p.Settled = !inProgress && p.Err == nil && running == desired && active == desired
	if desired <= maxProgressBars && len(groups) <= maxProgressBars {
		p.Slots = slotLines(svc.Spec.Mode.Global, groups, desired)
	}
	return p
}

// assessStatus reads the update status, returning whether a rollout is
// still in progress; a paused or reverted one sets p.Err.
func (p *progress) assessStatus(w watchSpec, st *types.UpdateStatus) bool {
	if st == nil || (w.Baseline != nil && sameStatus(*st, *w.Baseline)) {
		return false
	}
	switch st.State {
	case types.UpdateUpdating:
		return true
	case types.UpdateRollbackStarted:
		p.RollingBack, p.RollbackMsg = true, st.Message
		return true
	case types.UpdatePaused:
		p.Err = fmt.Errorf("service update paused: %s", st.Message)
	case types.UpdateRollbackPaused:
		p.Err = fmt.Errorf("service rollback paused: %s", st.Message)
	case types.UpdateRollbackCompleted:
		p.RollingBack = true
		if w.Op != opRollback {
			p.Err = fmt.Errorf("service rolled back: %s", st.Message)
		}
	}
	return false
}

func sameStatus(a, b types.UpdateStatus) bool {
	return a.State == b.State && a.Message == b.Message && a.StartedAt.Equal(b.StartedAt) && a.CompletedAt.Equal(b.CompletedAt)
}

// countsRunning: the task runs (and is healthy, if it has a healthcheck).
func countsRunning(t *api.Task) bool {
	return t.DesiredState == types.TaskRunning && t.Status.State == types.TaskRunning &&
		(t.Status.Healthy == nil || *t.Status.Healthy)
}

// newerTask orders a slot's tasks newest first.
func newerTask(a, b api.Task) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Version, a.Version); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// groupTasks picks, per slot (per node for a global service), the newest
// up-to-date task wanted running; failing that, the newest up-to-date task
// if it ended on its own (a restart is due), so its error shows. Slots with
// no up-to-date task get placeholders: up to desired for a replicated
// service, and each node still running an older task for a global one.
func groupTasks(svc api.Service, tasks []api.Task, desired int) []taskGroup {
	key := func(t api.Task) string {
		if svc.Spec.Mode.Global {
			return t.NodeID
		}
		return strconv.Itoa(t.Slot)
	}
	current := map[string][]api.Task{}
	olderWanted := map[string]api.Task{}
	for _, t := range tasks {
		if t.SpecVersion == svc.SpecVersion {
			current[key(t)] = append(current[key(t)], t)
		} else if t.DesiredState == types.TaskRunning {
			olderWanted[key(t)] = t
		}
	}
	var groups []taskGroup
	for _, ts := range current {
		slices.SortFunc(ts, newerTask)
		g := taskGroup{slot: ts[0].Slot, node: ts[0].NodeID}
		if i := slices.IndexFunc(ts, func(t api.Task) bool { return t.DesiredState == types.TaskRunning }); i >= 0 {
			g.show, g.active = &ts[i], true
		} else if s := ts[0].Status.State; s == types.TaskFailed || s == types.TaskRejected || s == types.TaskComplete {
			g.show = &ts[0]
		} else {
			continue
		}
		groups = append(groups, g)
	}
	if svc.Spec.Mode.Global {
		for node, t := range olderWanted {
			if _, ok := current[node]; !ok {
				groups = append(groups, taskGroup{slot: t.Slot, node: node})
			}
		}
	} else {
		for len(groups) < desired {
			groups = append(groups, taskGroup{slot: math.MaxInt})
		}
	}
	slices.SortStableFunc(groups, func(a, b taskGroup) int {
		return cmp.Or(cmp.Compare(a.slot, b.slot), strings.Compare(a.node, b.node))
	})
	return groups
}

// slotLines labels groups as docker does: "i/N" for replicated services
// (numbered in slot order, so that lines stay 1..N while a scale-down
// leaves gaps in the slot numbers), the short node ID for global ones.
func slotLines(global bool, groups []taskGroup, desired int) []slotProgress {
	out := make([]slotProgress, 0, len(groups))
	for i, g := range groups {
		label := fmt.Sprintf("%d/%d", i+1, desired)
		if global {
			label = truncID(g.node)
		}
		line := slotProgress{Label: label}
		if g.show != nil {
			line.State, line.Err = shownState(g.show), g.show.Status.Err
		}
		out = append(out, line)
	}
	return out
}

// shownState is "starting" for a running task not yet healthy, as docker's
// tasks stay starting until their healthcheck passes.
func shownState(t *api.Task) types.TaskState {
	if t.Status.State == types.TaskRunning && t.Status.Healthy != nil && !*t.Status.Healthy {
		return types.TaskStarting
	}
	return t.Status.State
}

// verifyPhase is the last line of the display.
type verifyPhase int

const (
	verifyNone    verifyPhase = iota
	verifyWaiting             // settled, waiting for the monitor period
	verifyFailed              // was settled, is no longer
	verifyDone                // converged
)

// frame is one screenful of progress.
type frame struct {
	P      progress
	Verify verifyPhase
	Wait   time.Duration // time left while verifyWaiting
}

// watcher folds successive polls into frames. It owns no goroutine; its
// caller polls and renders. Not safe for concurrent use.
type watcher struct {
	spec      watchSpec
	settledAt time.Time // client clock, first poll of the current settled run
	settled   bool
}

// observe folds one poll taken at now (the client's clock) into a frame.
// The service converges once it has stayed settled for the monitor period,
// measured from whichever is earlier: the first poll that found it settled,
// or the moment its last task began running (agent clock). err ends the
// display with the reason (update paused, rolled back).
func (w *watcher) observe(svc api.Service, tasks []api.Task, now time.Time) (f frame, done bool, err error) {
	f.P = assess(w.spec, svc, tasks)
	if f.P.Err != nil {
		return f, false, f.P.Err
	}
	if !f.P.Settled {
		if w.settled {
			f.Verify = verifyFailed
		}
		w.settled = false
		return f, false, nil
	}
	if !w.settled {
		w.settled, w.settledAt = true, now
	}
	stable := now.Sub(w.settledAt)
	if !f.P.RunningSince.IsZero() {
		stable = max(stable, now.Sub(f.P.RunningSince))
	}
	if stable >= f.P.Monitor {
		f.Verify = verifyDone
		return f, true, nil
	}
	f.Verify, f.Wait = verifyWaiting, f.P.Monitor-stable
	return f, false, nil
}

// progressLine is one line of the display, "ID: text"; the ID identifies
// the line between frames.
type progressLine struct{ ID, Text string }

func (l progressLine) String() string { return l.ID + ": " + l.Text }

// stateSteps are docker's progress fractions (out of 9) per task state.
var stateSteps = map[types.TaskState]int{
	types.TaskNew: 1, types.TaskPending: 3, types.TaskAssigned: 4,
	types.TaskPreparing: 6, types.TaskStarting: 8, types.TaskRunning: 9,
}

// progressBar draws docker's 50-character bar for a state.
func progressBar(s types.TaskState) string {
	n := stateSteps[s] * 100 / 9 / 2
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", 50-n) + "]"
}

// truncError keeps a task error on one line of at most 75 characters.
func truncError(msg string) string {
	msg = strings.ReplaceAll(msg, "\n", " ")
	if r := []rune(msg); len(r) > 75 {
		msg = string(r[:74]) + "…"
	}
	return msg
}

// render turns a frame into lines. With countdown (a terminal, redrawn in
// place) the verify line counts the seconds down; otherwise it states the
// monitor period once, so that logs get one line, not one per second.
func render(f frame, countdown bool) []progressLine {
	var lines []progressLine
	p := f.P
	if p.RollbackMsg != "" {
		lines = append(lines, progressLine{"rollback", p.RollbackMsg})
	}
	what := ""
	if p.RollingBack {
		what = "rolling back update: "
	}
	lines = append(lines, progressLine{"overall progress", fmt.Sprintf("%s%d out of %d tasks", what, p.Running, p.Desired)})
	for _, s := range p.Slots {
		text := ""
		switch {
		case s.Err != "":
			text = truncError(s.Err)
		case s.State == "":
		case stateSteps[s.State] > 0:
			text = fmt.Sprintf("%-9s %s", s.State, progressBar(s.State))
		default:
			text = string(s.State)
		}
		lines = append(lines, progressLine{s.Label, text})
	}
	switch f.Verify {
	case verifyWaiting:
		wait := p.Monitor
		if countdown {
			wait = f.Wait
		}
		secs := int(math.Ceil(wait.Seconds()))
		lines = append(lines, progressLine{"verify", fmt.Sprintf("Waiting %d seconds to verify that tasks are stable...", max(secs, 1))})
	case verifyFailed:
		lines = append(lines, progressLine{"verify", "Detected task failure"})
	case verifyDone:
		lines = append(lines, progressLine{"verify", "Service converged"})
	}
	return lines
}

// truncID shortens an ID to docker's 12 characters.
func truncID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
