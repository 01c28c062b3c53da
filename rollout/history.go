package rollout

import (
	"github.com/shoal-org/shoal/api/types"
)

// prune deletes a slot's finished tasks beyond the history limit, newest
// kept first, except those the restart policy still needs: the attempts
// MaxAttempts counts and the streak the backoff counts.
func (r *reconciler) prune(svc *types.Service, s *slot) {
	p := svc.Spec.Task.RestartPolicy
	var idx []int
	var tasks []*types.Task
	for _, i := range s.tasks {
		if !r.deleted[i] {
			idx = append(idx, i)
			tasks = append(tasks, r.cur[i])
		}
	}
	// The streak that the slot's next failure will extend starts below
	// its live task, if it has one.
	head := len(tasks)
	for head > 0 && !tasks[head-1].Status.State.Terminal() {
		head--
	}
	inStreak := head - streak(p, tasks[:head], backoffDepth(p))
	kept, counted := 0, uint64(0)
	for j := len(tasks) - 1; j >= 0; j-- {
		t := tasks[j]
		if !finished(t) {
			continue
		}
		// MaxAttempts is exceeded at MaxAttempts+1 counted tasks: keep those.
		needed := p.MaxAttempts > 0 && counted <= p.MaxAttempts && countsAsAttempt(p, svc.SpecVersion, t, r.in.Now)
		if needed {
			counted++
		}
		if kept < r.in.HistoryLimit || needed || j >= inStreak {
			kept++
			continue
		}
		r.del(idx[j])
	}
}
