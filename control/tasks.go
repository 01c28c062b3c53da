package control

import (
	"context"
	"sort"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
)

// Tasks lists the tasks of the service named (all when service is ""),
// sorted by ID, with their node's hostname.
func (o *Ops) Tasks(ctx context.Context, service string) ([]api.Task, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, err
	}
	cl.Sync(ctx)
	v := cl.Store.View()
	var tasks []*types.Task
	if ref := service; ref != "" {
		s, err := v.FindService(ref)
		if err != nil {
			return nil, err
		}
		tasks = v.TasksByService(s.ID)
	} else {
		tasks = v.Tasks()
	}
	out := make([]api.Task, 0, len(tasks))
	for _, t := range tasks {
		at := api.Task{Task: *t}
		if n := v.Node(t.NodeID); n != nil {
			at.NodeHostname = n.Hostname
		}
		out = append(out, at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Task is one task by ID or ID prefix, with its node's hostname.
func (o *Ops) Task(ctx context.Context, ref string) (api.Task, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.Task{}, err
	}
	cl.Sync(ctx)
	v := cl.Store.View()
	t, err := v.FindTask(ref)
	if err != nil {
		return api.Task{}, err
	}
	at := api.Task{Task: *t}
	if n := v.Node(t.NodeID); n != nil {
		at.NodeHostname = n.Hostname
	}
	return at, nil
}

// ReportTaskStatus records the states a node's worker observed (on the
// leader).
func (o *Ops) ReportTaskStatus(ctx context.Context, ups []types.TaskUpdate) error {
	cl, err := o.cluster()
	if err != nil {
		return err
	}
	return cl.ApplyTaskUpdates(ctx, ups)
}

// ApplyTaskUpdates records observed states through raft (on the leader);
// a state never moves backwards and updates of tasks that are gone are
// dropped.
func (cl *Cluster) ApplyTaskUpdates(ctx context.Context, ups []types.TaskUpdate) error {
	view := cl.Store.View()
	var ops []store.Op
	for _, u := range ups {
		t := view.Task(u.TaskID)
		if t == nil || u.Status.State.Rank() < t.Status.State.Rank() {
			continue
		}
		cp := t.Copy()
		cp.Status = u.Status
		if u.Addresses != nil {
			cp.Addresses = u.Addresses
		}
		ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableTasks, Task: cp, IfVersion: t.Version})
	}
	if len(ops) == 0 {
		return nil
	}
	_, err := cl.Apply(ctx, store.Command{Ops: ops})
	return err
}
