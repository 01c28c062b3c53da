package leader

import (
	"context"
	"errors"
	"time"

	"github.com/shoal-org/shoal/internal/idgen"
	"github.com/shoal-org/shoal/rollout"
	"github.com/shoal-org/shoal/store"
)

// orchestrate is the leader's reconcile loop: whenever nodes, services or
// tasks change (or a delayed restart falls due) it asks rollout.Reconcile
// for a plan over a snapshot of the replica and commits the plan as one
// raft command. It owns no state: a lost race (version conflict) is simply
// recomputed from the next snapshot.
func (l *loops) orchestrate(ctx context.Context) {
	changes, cancel := l.Store.Subscribe(store.TableNodes, store.TableServices, store.TableTasks)
	defer cancel()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-timer.C:
		}
		wake, err := l.reconcileOnce(ctx)
		if err != nil && ctx.Err() == nil && !errors.Is(err, store.ErrConflict) {
			l.Log.Warn("reconcile", "err", err)
			wake = time.Now().Add(time.Second)
		}
		resetTimer(timer, wake)
	}
}

func (l *loops) reconcileOnce(ctx context.Context) (time.Time, error) {
	view := l.Store.View()
	in := rollout.Input{Now: time.Now().UTC(), Nodes: view.Nodes(), Services: view.Services(), Tasks: view.Tasks()}
	if c := view.Cluster(); c != nil {
		in.HistoryLimit = c.TaskHistory
	}
	plan := rollout.Reconcile(in, idgen.New)
	if plan.Empty() {
		return plan.WakeAt, nil
	}
	_, err := l.Apply(ctx, store.Command{Ops: planOps(plan)})
	return plan.WakeAt, err
}

// planOps turns a plan into one atomic command. Updates carry the version
// they were computed from, so a task the agents changed meanwhile makes
// the whole plan fail and be recomputed, never overwritten.
func planOps(p rollout.Plan) []store.Op {
	ops := make([]store.Op, 0, len(p.Services)+len(p.Create)+len(p.Update)+len(p.Delete))
	for _, s := range p.Services {
		ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableServices, Service: s, IfVersion: s.Version})
	}
	for _, t := range p.Create {
		ops = append(ops, store.Op{Kind: store.OpCreate, Table: store.TableTasks, Task: t})
	}
	for _, t := range p.Update {
		ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableTasks, Task: t, IfVersion: t.Version})
	}
	for _, id := range p.Delete {
		ops = append(ops, store.Op{Kind: store.OpDelete, Table: store.TableTasks, ID: id})
	}
	return ops
}

// resetTimer arms t for at, or stops it when at is zero.
func resetTimer(t *time.Timer, at time.Time) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	if !at.IsZero() {
		t.Reset(time.Until(at))
	}
}
