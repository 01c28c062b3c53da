package rollout

import (
	"slices"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/scheduler"
)

// place assigns nodes to a service's waiting tasks and creates its new
// ones, pending with the scheduler's explanation where nothing fits.
func (r *reconciler) place(sched *scheduler.Scheduler, w *work) {
	// An update may have deleted a waiting task after it was listed.
	w.retry = slices.DeleteFunc(w.retry, func(i int) bool { return r.deleted[i] })
	if w.svc.Spec.Mode.Global {
		for _, i := range w.retry {
			r.settle(i, r.cur[i].NodeID, sched.PlaceOn(w.svc, r.cur[i].NodeID))
		}
		for _, node := range w.nodes {
			r.settle(r.create(w.svc, 0, node), node, sched.PlaceOn(w.svc, node))
		}
		return
	}
	n := len(w.retry) + len(w.fill)
	if n == 0 {
		return
	}
	nodes, err := sched.Place(w.svc, n)
	next := func() string {
		if len(nodes) == 0 {
			return ""
		}
		id := nodes[0]
		nodes = nodes[1:]
		return id
	}
	for _, i := range w.retry {
		node := next()
		r.settle(i, node, errIf(node == "", err))
	}
	for _, num := range w.fill {
		node := next()
		r.settle(r.create(w.svc, num, ""), node, errIf(node == "", err))
	}
}

func errIf(cond bool, err error) error {
	if !cond {
		return nil
	}
	if err == nil {
		err = scheduler.ErrNoSuitableNode
	}
	return err
}

// create adds a new task for the service's current spec and returns its
// index into cur.
func (r *reconciler) create(svc *types.Service, num int, node string) int {
	t := &types.Task{
		ID:           r.newID(),
		ServiceID:    svc.ID,
		ServiceName:  svc.Spec.Name,
		Slot:         num,
		NodeID:       node,
		SpecVersion:  svc.SpecVersion,
		Spec:         svc.Spec.Task,
		DesiredState: types.TaskRunning,
		Status:       types.TaskStatus{State: types.TaskNew, Timestamp: r.in.Now},
	}
	r.created = append(r.created, t)
	r.cur = append(r.cur, t)
	r.edited = append(r.edited, true) // edit changes it in place
	r.deleted = append(r.deleted, false)
	r.stopped = append(r.stopped, false)
	return len(r.cur) - 1
}

// settle records the outcome of placing task i: assigned to node, or
// pending with err's explanation (a global task stays on its node, a
// replicated one on none). An unchanged pending task is not rewritten, so
// an unplaceable task does not make every plan non-empty.
func (r *reconciler) settle(i int, node string, err error) {
	if err == nil {
		e := r.edit(i)
		e.NodeID = node
		e.Status = types.TaskStatus{State: types.TaskAssigned, Timestamp: r.in.Now, Message: MsgAssigned}
		return
	}
	t, msg := r.cur[i], err.Error()
	if t.Status.State == types.TaskPending && t.Status.Err == msg && t.NodeID == node {
		return
	}
	e := r.edit(i)
	e.NodeID = node
	e.Status = types.TaskStatus{State: types.TaskPending, Timestamp: r.in.Now, Message: MsgPending, Err: msg}
}
