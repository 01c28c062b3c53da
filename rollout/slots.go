package rollout

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// assigned reports whether t has been given to a node's agent.
func assigned(t *types.Task) bool { return t.Status.State.Rank() >= types.TaskAssigned.Rank() }

// live reports whether t is wanted running and has not ended.
func live(t *types.Task) bool {
	return t.DesiredState.Rank() <= types.TaskRunning.Rank() && !t.Status.State.Terminal()
}

// finished reports whether t is history: ended and no longer wanted.
func finished(t *types.Task) bool {
	return t.Status.State.Terminal() && t.DesiredState.Rank() > types.TaskRunning.Rank()
}

// slot is the tasks of one replicated slot number or one global node.
type slot struct {
	num   int    // replicated slot number; 0 for global
	node  string // global slot's node
	tasks []int  // indexes into reconciler.cur, oldest first
	// Filled in by classify.
	kind    slotKind
	replace bool      // emptied by this plan: refill it before older dead slots
	wake    time.Time // when a waiting or exhausted slot may change
	// Rolling update state (update.go).
	inBatch bool // in the update's batch in flight
	create  bool // live, but gets a new task too (start-first replacement)
	gone    bool // reaped, or on a node the service may not use: no update
}

type slotKind int

const (
	slotDead     slotKind = iota // no task wanted: refill if needed
	slotLive                     // has a live task
	slotWaiting                  // its last task ended; restart delayed
	slotFinished                 // its last task ended; no restart (policy or attempts)
	slotStopping                 // in the update's batch: waits for its old task to stop
)

// occupied reports whether the slot counts towards the service's tasks.
func (s *slot) occupied() bool { return s.kind != slotDead }

// groupSlots groups a service's tasks into slots, keyed by slot number
// (global: by node), each sorted oldest first; tasks that do not fit the
// service's mode (replicated tasks without a slot number, global tasks
// without a node) are returned as strays.
func (r *reconciler) groupSlots(idxs []int, global bool) (slots []*slot, strays []int) {
	byKey := make(map[string]*slot)
	byNum := make(map[int]*slot)
	slab := make([]slot, 0, len(idxs)) // never grows: at most one slot per task
	newSlot := func(num int, node string) *slot {
		slab = append(slab, slot{num: num, node: node})
		s := &slab[len(slab)-1]
		slots = append(slots, s)
		return s
	}
	for _, i := range idxs {
		t := r.cur[i]
		var s *slot
		switch {
		case global && t.Slot == 0 && t.NodeID != "":
			if s = byKey[t.NodeID]; s == nil {
				s = newSlot(0, t.NodeID)
				byKey[t.NodeID] = s
			}
		case !global && t.Slot > 0:
			if s = byNum[t.Slot]; s == nil {
				s = newSlot(t.Slot, "")
				byNum[t.Slot] = s
			}
		default:
			strays = append(strays, i)
			continue
		}
		s.tasks = append(s.tasks, i)
	}
	slices.SortFunc(slots, func(a, b *slot) int {
		return cmp.Or(cmp.Compare(a.num, b.num), strings.Compare(a.node, b.node))
	})
	for _, s := range slots {
		slices.SortFunc(s.tasks, func(a, b int) int {
			ta, tb := r.cur[a], r.cur[b]
			return cmp.Or(ta.CreatedAt.Compare(tb.CreatedAt), strings.Compare(ta.ID, tb.ID))
		})
	}
	return slots, strays
}

// classify stops the slot's live tasks that may not stay on their node,
// then decides the slot's kind from its tasks and the restart policy.
// mayRestart says whether a new task may start for this slot at all (a
// global slot on a node that is not eligible may not).
func (r *reconciler) classify(svc *types.Service, s *slot, mayRestart bool) {
	if r.keepCheck(s) {
		s.kind = slotLive
		return
	}
	r.classifyEnded(svc, s, mayRestart)
}

// keepCheck stops the slot's live tasks that may not stay on their node
// and reports whether a live task remains.
func (r *reconciler) keepCheck(s *slot) (hasLive bool) {
	for _, i := range s.tasks {
		t := r.cur[i]
		if r.deleted[i] || !live(t) {
			continue
		}
		if assigned(t) && !r.static.Keeps(t) {
			r.shutdown(i)
			r.stopped[i] = true
			continue
		}
		hasLive = true
	}
	for _, i := range s.tasks {
		s.replace = s.replace || r.stopped[i]
	}
	return hasLive
}

// classifyEnded decides the kind of a slot without a live task from its
// newest task and the restart policy.
func (r *reconciler) classifyEnded(svc *types.Service, s *slot, mayRestart bool) {
	var tasks []*types.Task
	newest := -1
	for _, i := range s.tasks {
		if !r.deleted[i] {
			tasks, newest = append(tasks, r.cur[i]), i
		}
	}
	if len(tasks) == 0 {
		s.kind = slotDead
		return
	}
	v, at := restartVerdict(svc.Spec.Task.RestartPolicy, svc.SpecVersion, tasks, r.in.Now)
	if v == restartWait && !mayRestart {
		v = restartNow // there is nothing to wait for: end the task's turn now
	}
	switch v {
	case restartNotApplicable:
		s.kind = slotDead
	case restartNo, restartExhausted:
		r.shutdown(newest)
		s.kind, s.wake = slotFinished, at
	case restartWait:
		s.kind, s.wake = slotWaiting, at
	case restartNow:
		r.shutdown(newest)
		s.kind, s.replace = slotDead, true
	}
}

// reap empties a slot that is not needed: stops its running tasks and
// deletes the others.
func (r *reconciler) reap(s *slot) {
	s.gone, s.inBatch = true, false
	for _, i := range s.tasks {
		if !r.deleted[i] {
			r.retire(i)
		}
	}
}

// stopping reports whether the slot holds a task that was told to stop
// and has not yet stopped (on a node that may still run it).
func (r *reconciler) stopping(s *slot) bool {
	for _, i := range s.tasks {
		if t := r.cur[i]; !r.deleted[i] && assigned(t) && !t.Status.State.Terminal() &&
			t.DesiredState.Rank() > types.TaskRunning.Rank() {
			return true
		}
	}
	return false
}

// unassignedLive returns the slot's live tasks not yet on a node.
func (r *reconciler) unassignedLive(s *slot) []int {
	var out []int
	for _, i := range s.tasks {
		if t := r.cur[i]; !r.deleted[i] && live(t) && !assigned(t) {
			out = append(out, i)
		}
	}
	return out
}
