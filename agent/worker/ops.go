package worker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/spec"
	"github.com/shoal-org/shoal/store"
)

// The operations below run in goroutines of their own (see loop.spawn).
// They only call the runtime and return an opEvent: the loop, not they,
// owns the worker's state. ctx is the worker's, opCtx the operation's
// (cancelled when the task is no longer wanted, or with ctx).

// start runs t's start path: preparing → image → healthcheck → network →
// create → starting (with the network's addresses) → start. The final
// state (running, or exited already) is reported by the loop from the
// container's state, as for an adopted container.
func (l *loop) start(ctx, opCtx context.Context, t *types.Task) opEvent {
	id := t.ID
	// end observes the container (an earlier agent, or a failed create,
	// may have left one) and reports st, unless the start was cancelled.
	end := func(st *types.TaskStatus, fallback ctrState) opEvent {
		ev := l.observe(ctx, id, fallback)
		if opCtx.Err() == nil {
			ev.status = st
		}
		return ev
	}
	l.progress(ctx, id, types.TaskPreparing, msgPreparing, nil)
	// The pull runs under the worker's ctx: the runtime shares one pull
	// among all tasks of an image, and cancelling this task must not fail
	// the others. A cancelled start notices after the pull.
	var (
		creds *runtime.Credential
		err   error
	)
	if l.w.cfg.PullAuth != nil {
		if creds, err = l.w.cfg.PullAuth(opCtx, t); err != nil {
			return end(rejected(msgPreparing, fmt.Errorf("get the service's registry credentials from the leader: %w", err)), ctrState{})
		}
	}
	img, err := l.rt.EnsureImage(ctx, t.Spec.Image, creds)
	if err != nil {
		return end(rejected(msgPreparing, err), ctrState{})
	}
	if opCtx.Err() != nil {
		return end(nil, ctrState{})
	}
	check, err := effectiveHealth(t.Spec.Healthcheck, img.Healthcheck)
	if err != nil {
		return end(rejected(msgPreparing, err), ctrState{})
	}
	var tn TaskNetwork
	if l.w.cfg.Network != nil {
		if tn, err = l.w.cfg.Network(opCtx, t); err != nil {
			return end(rejected(msgPreparing, err), ctrState{})
		}
	}
	cs := containerSpec(t, tn, check)
	cs.Hostname = TaskHostname(l.w.cfg.Store.View(), t)
	if l.w.cfg.Files != nil {
		files, err := l.w.cfg.Files(opCtx, t)
		if err != nil {
			return end(rejected(msgPreparing, err), ctrState{})
		}
		cs.Mounts = append(cs.Mounts, files...)
	}
	// Create is not cancelled half-way: a create the client gave up on may
	// still complete in containerd after the worker looked, leaving a
	// container nobody tracks. It is short (the image is pulled already);
	// a cancelled start is noticed right after it.
	if err := l.rt.Create(context.WithoutCancel(opCtx), cs); err != nil {
		return end(rejected(msgPreparing, err), ctrState{})
	}
	l.progress(ctx, id, types.TaskStarting, msgStarting, tn.Addresses)
	if err := l.rt.Start(opCtx, id); err != nil {
		return end(&types.TaskStatus{State: types.TaskFailed, Timestamp: now(), Message: msgStarting,
			Err: err.Error(), ContainerID: id}, ctrState{Running: true})
	}
	ev := l.observe(ctx, id, ctrState{Running: true})
	ev.check, ev.checkKnown = check, true
	return ev
}

// stop waits StopDrain, then stops container id with t's signal and grace
// period (the container's own, set at create, when t is nil).
func (l *loop) stop(opCtx context.Context, id string, t *types.Task) opEvent {
	if d := l.w.cfg.StopDrain; d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-opCtx.Done():
			return opEvent{ctr: ctrState{Running: true}}
		case <-timer.C:
		}
	}
	var (
		signal string
		grace  time.Duration
	)
	if t != nil {
		signal, grace = t.Spec.StopSignal, t.Spec.StopGracePeriod
	}
	err := l.rt.Stop(opCtx, id, signal, grace)
	ev := l.observe(opCtx, id, ctrState{Running: true})
	if err != nil {
		l.log.Warn("stop task container", "task", id, "err", err)
		ev.failed = true
	}
	return ev
}

// remove deletes container id; its log file stays.
func (l *loop) remove(opCtx context.Context, id string) opEvent {
	if err := l.rt.Remove(opCtx, id); err != nil {
		l.log.Warn("remove task container", "task", id, "err", err)
		ev := l.observe(opCtx, id, ctrState{})
		ev.failed = true
		return ev
	}
	return opEvent{gone: true}
}

// observe asks the runtime for container id's state; if it cannot tell,
// the event carries fallback and is marked failed, so that the loop plans
// again after a while.
func (l *loop) observe(ctx context.Context, id string, fallback ctrState) opEvent {
	st, err := l.rt.Status(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("task container status", "task", id, "err", err)
		}
		return opEvent{ctr: fallback, failed: true}
	}
	if !st.Exists {
		return opEvent{gone: true}
	}
	return opEvent{ctr: ctrState{Running: st.Running, Exited: !st.ExitedAt.IsZero(), ExitCode: st.ExitCode}}
}

// progress reports an intermediate state of task id through the loop,
// with the task's addresses if addrs is set.
func (l *loop) progress(ctx context.Context, id string, state types.TaskState, msg string, addrs map[string]string) {
	l.send(ctx, opEvent{id: id, status: &types.TaskStatus{State: state, Timestamp: now(), Message: msg}, addrs: addrs})
}

func rejected(msg string, err error) *types.TaskStatus {
	return &types.TaskStatus{State: types.TaskRejected, Timestamp: now(), Message: msg, Err: err.Error()}
}

func now() time.Time { return time.Now().UTC() }

// containerSpec is the container that runs t in network tn: its ID is the
// task ID, its labels name the task, service and slot and hold its
// healthcheck check (over the task's own labels), and its environment is
// the task's plus SHOAL_TASK_ID and SHOAL_SERVICE.
func containerSpec(t *types.Task, tn TaskNetwork, check *types.HealthConfig) runtime.Spec {
	labels := make(map[string]string, len(t.Spec.Labels)+5)
	maps.Copy(labels, t.Spec.Labels)
	delete(labels, LabelHealthcheck)
	labels[LabelTaskID] = t.ID
	labels[LabelServiceID] = t.ServiceID
	labels[LabelServiceName] = t.ServiceName
	labels[LabelSlot] = strconv.Itoa(t.Slot)
	if check != nil {
		labels[LabelHealthcheck] = healthLabel(check)
	}
	env := slices.Concat(t.Spec.Env, []string{EnvTaskID + "=" + t.ID, EnvService + "=" + t.ServiceName})
	return runtime.Spec{
		ID:         t.ID,
		Image:      t.Spec.Image,
		Command:    slices.Clone(t.Spec.Command),
		Args:       slices.Clone(t.Spec.Args),
		Env:        env,
		Dir:        t.Spec.Dir,
		User:       t.Spec.User,
		Mounts:     slices.Clone(t.Spec.Mounts),
		Limits:     t.Spec.Limits,
		NetNSPath:  tn.NetNSPath,
		ResolvConf: tn.ResolvConf,
		Hosts:      tn.Hosts,
		Labels:     labels,
		StopSignal: t.Spec.StopSignal,
		StopGrace:  t.Spec.StopGracePeriod,
	}
}

// TaskHostname is task t's hostname: its spec's template expanded for the
// task on its node (docker's {{.Service.Name}}, {{.Task.Slot}},
// {{.Node.Hostname}}…), or the first 12 characters of its ID. The front
// door checked the template; one that fails here anyway (a label it names
// removed since) gives the default.
func TaskHostname(v *store.View, t *types.Task) string {
	short := t.ID
	if len(short) > 12 {
		short = short[:12]
	}
	if t.Spec.Hostname == "" {
		return short
	}
	var labels map[string]string
	if svc := v.Service(t.ServiceID); svc != nil {
		labels = svc.Spec.Labels
	}
	node := types.Node{ID: t.NodeID}
	if n := v.Node(t.NodeID); n != nil {
		node = *n
	}
	name, err := spec.ExpandHostname(t.Spec.Hostname, spec.NewTaskContext(t, labels, node))
	if err != nil {
		return short
	}
	return name
}
