package rollout

import (
	"slices"

	"github.com/shoal-org/shoal/api/types"
)

// global decides a global service's per-node slots: one task on every
// eligible node (ready, active, meeting the constraints); tasks on nodes
// that may not keep them are stopped; paused and unknown nodes keep theirs.
func (r *reconciler) global(svc *types.Service, idxs []int) *work {
	slots, strays := r.groupSlots(idxs, true)
	for _, i := range strays {
		r.retire(i)
	}
	u := r.startUpdate(svc, slots)
	tmpl := newTemplates(svc)
	if u != nil {
		svc, tmpl = u.svc, u.tmpl
	}
	w := &work{svc: svc}
	bySlot := make(map[string]*slot, len(slots))
	for _, s := range slots {
		bySlot[s.node] = s
	}
	for _, n := range r.sortedNodes {
		if _, ok := bySlot[n.ID]; !ok && r.static.Eligible(svc, n.ID) {
			w.nodes = append(w.nodes, n.ID)
		}
	}
	for _, s := range slots {
		r.globalSlot(svc, s, w, u)
	}
	u.step(slots, func(s *slot) { w.nodes = append(w.nodes, s.node) })
	slices.Sort(w.nodes)
	r.relabel(tmpl, slots)
	u.finish(slots)
	return w
}

// globalSlot handles the existing tasks of one node. An update leaves the
// slots of nodes the service may not use alone.
func (r *reconciler) globalSlot(svc *types.Service, s *slot, w *work, u *update) {
	eligible := r.static.Eligible(svc, s.node)
	if !eligible {
		s.gone, s.inBatch = true, false
	}
	// A task not yet on its node only waits there while the node is eligible.
	for _, i := range r.unassignedLive(s) {
		if eligible {
			w.retry = append(w.retry, i)
		} else {
			r.del(i)
		}
	}
	if s.inBatch {
		u.classify(s, eligible)
	} else {
		r.classify(svc, s, eligible)
	}
	if s.create {
		w.nodes = append(w.nodes, s.node)
	}
	switch {
	case s.kind == slotDead && eligible:
		w.nodes = append(w.nodes, s.node)
		r.prune(svc, s)
	case s.kind != slotLive && !eligible && !r.keepsHistory(s):
		r.reap(s)
	default:
		r.wakeAt(s.wake)
		r.prune(svc, s)
	}
}

// keepsHistory reports whether a global slot without a wanted task keeps
// its history: yes while the node is in the cluster, not drained and still
// meets the task's constraints (it may become eligible again).
func (r *reconciler) keepsHistory(s *slot) bool {
	for j := len(s.tasks) - 1; j >= 0; j-- {
		if i := s.tasks[j]; !r.deleted[i] {
			return r.static.Keeps(r.cur[i])
		}
	}
	return false
}
