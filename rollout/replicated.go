package rollout

import (
	"cmp"
	"slices"

	"github.com/shoal-org/shoal/api/types"
)

// work is what is left to place for one service once every stop of the
// plan is known.
type work struct {
	svc   *types.Service
	retry []int    // live tasks not yet on a node (indexes into cur)
	fill  []int    // replicated: slot numbers that get a new task
	nodes []string // global: nodes that get a new task
}

// replicated decides a replicated service's slots: stops what may not
// stay, scales to Replicas, and lists what to place.
func (r *reconciler) replicated(svc *types.Service, idxs []int) *work {
	slots, strays := r.groupSlots(idxs, false)
	for _, i := range strays {
		r.retire(i)
	}
	u := r.startUpdate(svc, slots)
	tmpl := newTemplates(svc)
	if u != nil {
		svc, tmpl = u.svc, u.tmpl
	}
	var occupied, dead []*slot
	for _, s := range slots {
		if s.inBatch {
			u.classify(s, true)
		} else {
			r.classify(svc, s, true)
		}
		if s.occupied() {
			occupied = append(occupied, s)
		} else {
			dead = append(dead, s)
		}
	}
	want := int(svc.Spec.Mode.Replicas)
	if len(occupied) > want {
		var removed []*slot
		occupied, removed = r.scaleDown(occupied, len(occupied)-want)
		for _, s := range removed {
			r.reap(s)
		}
	}
	w := &work{svc: svc}
	// Refill dead slots, those emptied by this plan first, then new numbers.
	slices.SortStableFunc(dead, func(a, b *slot) int {
		if a.replace != b.replace {
			if a.replace {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.num, b.num)
	})
	need := want - len(occupied)
	for _, s := range dead {
		if len(w.fill) < need {
			w.fill = append(w.fill, s.num)
			r.prune(svc, s)
		} else {
			r.reap(s)
		}
	}
	used := make(map[int]bool, len(slots))
	for _, s := range slots {
		used[s.num] = true
	}
	for num := 1; len(w.fill) < need; num++ {
		if !used[num] {
			w.fill = append(w.fill, num)
		}
	}
	for _, s := range occupied {
		if s.create {
			w.fill = append(w.fill, s.num)
		}
	}
	u.step(slots, func(s *slot) { w.fill = append(w.fill, s.num) })
	slices.Sort(w.fill)
	for _, s := range occupied {
		w.retry = append(w.retry, r.unassignedLive(s)...)
		r.wakeAt(s.wake)
		r.prune(svc, s)
	}
	r.relabel(tmpl, slots)
	u.finish(slots)
	return w
}

// scaleDown picks n occupied slots to remove: first those without a live
// task, then those not yet assigned, then not yet running; among equals
// the task that is the most copies deep on its node, then the highest
// slot number. It returns the slots kept and those removed.
func (r *reconciler) scaleDown(occupied []*slot, n int) (kept, removed []*slot) {
	type cand struct {
		s     *slot
		rank  int // 0 no live task, 1 unassigned, 2 not yet running, 3 running
		depth int // this slot's task is the depth-th of the service on its node
	}
	perNode := make(map[string]int)
	cands := make([]cand, len(occupied))
	for k, s := range occupied { // ascending slot numbers
		c := cand{s: s}
		for _, i := range s.tasks {
			t := r.cur[i]
			if r.deleted[i] || !live(t) {
				continue
			}
			c.rank = max(c.rank, 1)
			if assigned(t) {
				c.rank = max(c.rank, 2)
				if t.Status.State == types.TaskRunning {
					c.rank = 3
				}
				if c.depth == 0 {
					perNode[t.NodeID]++
					c.depth = perNode[t.NodeID]
				}
			}
		}
		cands[k] = c
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(b.depth, a.depth), cmp.Compare(b.s.num, a.s.num))
	})
	for k, c := range cands {
		if k < n {
			removed = append(removed, c.s)
		} else {
			kept = append(kept, c.s)
		}
	}
	slices.SortFunc(kept, func(a, b *slot) int { return cmp.Compare(a.num, b.num) })
	return kept, removed
}
