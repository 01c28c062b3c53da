package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/scheduler"
)

// MaxCreatesPerPlan bounds the tasks one plan creates. The leader commits
// a plan as one raft command; a command of thousands of tasks takes long
// enough to encode, replicate and apply that it starves raft's
// heartbeats. A larger scale-up is created over several plans: Reconcile
// sets WakeAt to Now when it held tasks back, and the next round (after
// the commit, which lets heartbeats through) creates the next batch.
const MaxCreatesPerPlan = 500

// DefaultHistoryLimit is the number of finished tasks kept per slot when
// Input.HistoryLimit is not positive (swarm's default).
const DefaultHistoryLimit = 5

// Status messages Reconcile writes.
const (
	MsgAssigned = "scheduler assigned task to node"
	MsgPending  = "pending task scheduling"
	MsgOrphaned = "task orphaned: its node is gone"
)

// Input is the snapshot Reconcile works on.
type Input struct {
	Now      time.Time
	Nodes    []*types.Node
	Services []*types.Service
	Tasks    []*types.Task
	// HistoryLimit is the number of finished tasks kept per slot;
	// zero or less means DefaultHistoryLimit.
	HistoryLimit int
}

// Plan is what Reconcile wants written. Its tasks are new values: Create
// holds tasks without Meta, Update holds shallow copies of input tasks
// (sharing Spec slices and maps with them) with changed fields.
type Plan struct {
	// Create are new tasks, assigned (NodeID set, DesiredState running,
	// Status.State assigned) or, when no node fits, pending with Status.Err.
	Create []*types.Task
	// Update are changed copies of existing tasks, sorted by ID.
	Update []*types.Task
	// Delete are IDs of tasks to delete, sorted.
	Delete []string
	// Services are changed copies of input services, sorted by ID: the
	// rolling updater's progress (UpdateStatus) and, for an automatic
	// rollback, the swapped Spec, PreviousSpec and SpecVersion. Each must
	// be written with IfVersion set to its Version (the version it was
	// read at), in the same raft command as the task changes, so that an
	// update's progress and the task changes it describes commit together
	// or not at all.
	Services []*types.Service
	// WakeAt is the earliest time a delayed action (a restart backoff, a
	// restart window ending, an update's monitor period or delay ending)
	// becomes due; zero means none.
	WakeAt time.Time
}

// Empty reports whether the plan changes nothing (WakeAt aside).
func (p Plan) Empty() bool {
	return len(p.Create) == 0 && len(p.Update) == 0 && len(p.Delete) == 0 && len(p.Services) == 0
}

// Reconcile computes the plan that brings tasks in line with services and
// nodes, as described in the package documentation. It is pure and
// deterministic: the same input and the same sequence of IDs from newID
// give the same plan. It does not modify its input. newID is called once
// per created task.
func Reconcile(in Input, newID func() string) Plan {
	if in.HistoryLimit <= 0 {
		in.HistoryLimit = DefaultHistoryLimit
	}
	r := newReconciler(in, newID)
	r.orphanLost()
	r.dropUnwanted()
	byService := r.groupByService()
	for _, id := range sortedKeys(byService) {
		if _, ok := r.services[id]; !ok {
			r.removeAll(byService[id])
		}
	}
	var works []*work
	for _, svc := range r.sortedServices() {
		if svc.Spec.Mode.Global {
			works = append(works, r.global(svc, byService[svc.ID]))
		} else {
			works = append(works, r.replicated(svc, byService[svc.ID]))
		}
	}
	if r.bound(works, MaxCreatesPerPlan) {
		r.wakeAt(in.Now)
	}
	sched := scheduler.New(in.Nodes, r.activeTasks())
	for _, w := range works {
		r.place(sched, w)
	}
	return r.plan()
}

// bound trims the tasks works would create to at most limit in all, in
// the services' order, and reports whether it held any back.
func (r *reconciler) bound(works []*work, limit int) bool {
	left, trimmed := limit, false
	for _, w := range works {
		if n := len(w.fill); n > left {
			w.fill, trimmed = w.fill[:left], true
		}
		left -= len(w.fill)
		if n := len(w.nodes); n > left {
			w.nodes, trimmed = w.nodes[:left], true
		}
		left -= len(w.nodes)
	}
	return trimmed
}

// reconciler is the working state of one Reconcile call.
type reconciler struct {
	in          Input
	newID       func() string
	nodes       map[string]*types.Node
	sortedNodes []*types.Node // by ID
	services    map[string]*types.Service
	static      *scheduler.Scheduler // filters only: Keeps and Eligible
	cur         []*types.Task        // input tasks, replaced by copies when edited
	edited      []bool
	deleted     []bool
	stopped     []bool // stopped or orphaned by this plan: its slot is replaced first
	created     []*types.Task
	changed     []*types.Service // services whose update status or spec changed
	wake        time.Time
}

func newReconciler(in Input, newID func() string) *reconciler {
	r := &reconciler{
		in:       in,
		newID:    newID,
		nodes:    make(map[string]*types.Node, len(in.Nodes)),
		services: make(map[string]*types.Service, len(in.Services)),
		static:   scheduler.New(in.Nodes, nil),
		cur:      slices.Clone(in.Tasks),
		edited:   make([]bool, len(in.Tasks)),
		deleted:  make([]bool, len(in.Tasks)),
		stopped:  make([]bool, len(in.Tasks)),
	}
	for _, n := range in.Nodes {
		r.nodes[n.ID] = n
	}
	r.sortedNodes = slices.Clone(in.Nodes)
	slices.SortFunc(r.sortedNodes, func(a, b *types.Node) int { return strings.Compare(a.ID, b.ID) })
	for _, s := range in.Services {
		r.services[s.ID] = s
	}
	return r
}

// edit returns task i's working copy, copying the input task first.
func (r *reconciler) edit(i int) *types.Task {
	if !r.edited[i] {
		c := *r.cur[i]
		r.cur[i] = &c
		r.edited[i] = true
	}
	return r.cur[i]
}

// shutdown raises task i's desired state to shutdown.
func (r *reconciler) shutdown(i int) {
	if r.cur[i].DesiredState.Rank() < types.TaskShutdown.Rank() {
		r.edit(i).DesiredState = types.TaskShutdown
	}
}

func (r *reconciler) del(i int) { r.deleted[i] = true }

// wakeAt records a time a delayed action becomes due.
func (r *reconciler) wakeAt(t time.Time) {
	if !t.IsZero() && (r.wake.IsZero() || t.Before(r.wake)) {
		r.wake = t
	}
}

// orphanLost marks the assigned, non-terminal tasks of nodes that are down
// or gone as orphaned, with desired state shutdown.
func (r *reconciler) orphanLost() {
	for i, t := range r.cur {
		if !assigned(t) || t.Status.State.Terminal() {
			continue
		}
		n, ok := r.nodes[t.NodeID]
		var why string
		switch {
		case !ok:
			why = fmt.Sprintf("node %s is no longer in the cluster", t.NodeID)
		case n.Status == types.NodeDown:
			why = fmt.Sprintf("node %s is down", n.Hostname)
		default:
			continue
		}
		e := r.edit(i)
		e.Status = types.TaskStatus{State: types.TaskOrphaned, Timestamp: r.in.Now, Message: MsgOrphaned,
			Err: why, ContainerID: t.Status.ContainerID, ExitCode: t.Status.ExitCode}
		r.shutdown(i)
		r.stopped[i] = true
	}
}

// dropUnwanted deletes tasks that were never assigned and are no longer
// wanted: no agent will ever report them terminal.
func (r *reconciler) dropUnwanted() {
	for i, t := range r.cur {
		if !assigned(t) && !t.Status.State.Terminal() && t.DesiredState.Rank() > types.TaskRunning.Rank() {
			r.del(i)
		}
	}
}

// removeAll retires the tasks of a deleted service.
func (r *reconciler) removeAll(idxs []int) {
	for _, i := range idxs {
		r.retire(i)
	}
}

// retire stops a task that is not wanted any more, or deletes it when no
// agent runs it (terminal or never assigned).
func (r *reconciler) retire(i int) {
	t := r.cur[i]
	if t.Status.State.Terminal() || !assigned(t) {
		r.del(i)
		return
	}
	r.shutdown(i)
}

func (r *reconciler) groupByService() map[string][]int {
	out := make(map[string][]int, len(r.in.Services))
	for i, t := range r.cur {
		if !r.deleted[i] {
			out[t.ServiceID] = append(out[t.ServiceID], i)
		}
	}
	return out
}

func (r *reconciler) sortedServices() []*types.Service {
	out := slices.Clone(r.in.Services)
	slices.SortFunc(out, func(a, b *types.Service) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// activeTasks are the tasks the scheduler should count once this plan's
// stops are applied.
func (r *reconciler) activeTasks() []*types.Task {
	out := make([]*types.Task, 0, len(r.cur))
	for i, t := range r.cur {
		if !r.deleted[i] {
			out = append(out, t)
		}
	}
	return out
}

// plan assembles the result.
func (r *reconciler) plan() Plan {
	p := Plan{Create: r.created, Services: r.changed, WakeAt: r.wake}
	slices.SortFunc(p.Services, func(a, b *types.Service) int { return strings.Compare(a.ID, b.ID) })
	for i, t := range r.cur[:len(r.in.Tasks)] {
		switch {
		case r.deleted[i]:
			p.Delete = append(p.Delete, t.ID)
		case r.edited[i]:
			p.Update = append(p.Update, t)
		}
	}
	slices.SortFunc(p.Update, func(a, b *types.Task) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(p.Delete)
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
