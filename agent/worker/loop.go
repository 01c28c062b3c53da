package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api/types"
)

// opEvent is what an operation's goroutine tells the loop: a status to
// report along the way, and (done) the operation's end with the state of
// the container afterwards.
type opEvent struct {
	id     string
	status *types.TaskStatus // to report, if set
	done   bool
	gone   bool     // done: the container does not exist
	ctr    ctrState // done and !gone: the container's state
	failed bool     // done: the operation failed; re-plan after opRetry
	// addrs (with a status) are the task's addresses from Config.Network,
	// to report with its next status.
	addrs map[string]string
	// check (done, start operations with checkKnown) is the container's
	// effective healthcheck, nil for none.
	check      *types.HealthConfig
	checkKnown bool
}

// listTimeout bounds the List call, which the loop itself makes.
const listTimeout = 30 * time.Second

// inflight is an operation running in its own goroutine.
type inflight struct {
	kind   opKind
	cancel context.CancelFunc
}

// loop is the worker's reconcile loop. All its fields are owned by the
// goroutine running run, except wg and what the operation, probe and
// release goroutines receive as arguments; those goroutines talk back only
// through the channels events, probeEvents and released.
type loop struct {
	w   *Worker
	rt  Runtime
	rep *reporter
	log *slog.Logger

	events      chan opEvent
	probeEvents chan probeEvent
	released    chan releaseResult
	wg          sync.WaitGroup // operation, probe and release goroutines

	ctrs     map[string]ctrState
	ops      map[string]inflight
	held     map[string][]runtime.Exit // exits seen while an op ran, applied after it
	reported map[string]types.TaskState
	addrs    map[string]map[string]string // addresses not yet handed to the reporter
	health   map[string]*taskHealth       // containers with a healthcheck
	probeGen uint64
	nets     map[string]*netHold // tasks that may hold a network

	exits       <-chan runtime.Exit // nil while not in sync with the runtime
	stopExits   context.CancelFunc
	syncBackoff time.Duration
}

func newLoop(w *Worker, rep *reporter) *loop {
	return &loop{
		w: w, rt: w.cfg.Runtime, rep: rep, log: w.log,
		events:      make(chan opEvent),
		probeEvents: make(chan probeEvent),
		released:    make(chan releaseResult),
		ctrs:        make(map[string]ctrState),
		ops:         make(map[string]inflight),
		held:        make(map[string][]runtime.Exit),
		reported:    make(map[string]types.TaskState),
		addrs:       make(map[string]map[string]string),
		health:      make(map[string]*taskHealth),
		nets:        make(map[string]*netHold),
	}
}

// run is the loop itself; it returns when ctx ends, after every operation
// goroutine has returned.
func (l *loop) run(ctx context.Context, changes <-chan uint64) {
	defer l.shutdown()
	if l.w.cfg.Leftovers != nil {
		for _, id := range l.w.cfg.Leftovers() {
			l.hold(id)
		}
	}
	resync := time.After(0)
	var retry <-chan time.Time
	relTimer := time.NewTimer(time.Hour)
	relTimer.Stop()
	defer relTimer.Stop()
	var relAt time.Time // when relTimer fires; zero when stopped
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case e, ok := <-l.exits:
			if !ok {
				if ctx.Err() != nil {
					return
				}
				l.log.Warn("lost the runtime's exit events; listing containers again")
				l.unsync()
				resync = time.After(l.nextSyncBackoff())
				continue
			}
			l.applyExit(e)
		case ev := <-l.events:
			if l.handle(ev) && retry == nil {
				retry = time.After(l.w.opRetry)
			}
		case <-resync:
			resync = nil
			if err := l.sync(ctx); err != nil {
				d := l.nextSyncBackoff()
				l.log.Warn("cannot list the runtime's containers; retrying", "retry_in", d, "err", err)
				resync = time.After(d)
				continue
			}
		case <-retry:
			retry = nil
		case pe := <-l.probeEvents:
			l.handleProbe(pe)
		case r := <-l.released:
			l.handleRelease(r)
		case <-relTimer.C:
			relAt = time.Time{}
		}
		if l.exits == nil {
			continue
		}
		l.reconcile(ctx)
		if at := l.nextReleaseRetry(time.Now()); !at.IsZero() && (relAt.IsZero() || at.Before(relAt)) {
			relTimer.Reset(time.Until(at))
			relAt = at
		}
	}
}

func (l *loop) nextSyncBackoff() time.Duration {
	l.syncBackoff = nextBackoff(l.syncBackoff, l.w.resyncMin, l.w.resyncMax)
	return l.syncBackoff
}

// sync subscribes to exits and then lists the containers, so that no exit
// falls between the two, and takes the list as the truth for every
// container without an operation in flight.
func (l *loop) sync(ctx context.Context) error {
	ectx, cancel := context.WithCancel(ctx)
	exits, err := l.rt.Exits(ectx)
	if err != nil {
		cancel()
		return err
	}
	lctx, lcancel := context.WithTimeout(ctx, listTimeout)
	list, err := l.rt.List(lctx)
	lcancel()
	if err != nil {
		cancel()
		return err
	}
	fresh := make(map[string]ctrState, len(list))
	for _, c := range list {
		if c.Labels[LabelTaskID] == "" {
			continue // not a task container
		}
		fresh[c.ID] = ctrState{Running: c.Status.Running, Exited: !c.Status.ExitedAt.IsZero(), ExitCode: c.Status.ExitCode}
		l.hold(c.ID)
		l.adoptHealth(c.ID, c.Labels[LabelHealthcheck])
	}
	for id := range l.ctrs {
		if _, busy := l.ops[id]; !busy {
			delete(l.ctrs, id)
		}
	}
	for id, c := range fresh {
		if _, busy := l.ops[id]; !busy {
			l.ctrs[id] = c
		}
	}
	l.exits, l.stopExits, l.syncBackoff = exits, cancel, 0
	l.log.Debug("in sync with the runtime", "containers", len(fresh))
	return nil
}

// adoptHealth takes the healthcheck of a container found by List from its
// label, unless the worker knows it already.
func (l *loop) adoptHealth(id, label string) {
	if _, known := l.health[id]; known {
		return
	}
	if _, busy := l.ops[id]; busy {
		return
	}
	h, err := parseHealthLabel(label)
	if err != nil {
		l.log.Warn("task container's healthcheck unreadable; not probing it", "task", id, "err", err)
		return
	}
	if h != nil {
		l.health[id] = &taskHealth{cfg: *h}
	}
}

func (l *loop) unsync() {
	if l.stopExits != nil {
		l.stopExits()
	}
	l.exits, l.stopExits = nil, nil
}

// shutdown cancels the operations in flight and waits for their
// goroutines; their events are no longer read (they give up on ctx).
func (l *loop) shutdown() {
	for _, op := range l.ops {
		op.cancel()
	}
	l.unsync()
	l.wg.Wait()
}

// applyExit records a container's exit. While an operation runs for the
// container, the exit is held and applied after the operation's own view
// of the container, which may predate it.
func (l *loop) applyExit(e runtime.Exit) {
	if _, busy := l.ops[e.ID]; busy {
		l.held[e.ID] = append(l.held[e.ID], e)
		return
	}
	c, ok := l.ctrs[e.ID]
	if !ok {
		return // not a task container, or removed already
	}
	c.Running, c.Exited, c.ExitCode = false, true, e.Code
	l.ctrs[e.ID] = c
}

// handle applies an operation's event and reports whether the operation
// failed (so that the loop plans again after a while).
func (l *loop) handle(ev opEvent) bool {
	if ev.addrs != nil {
		l.addrs[ev.id] = ev.addrs
	}
	if ev.status != nil {
		l.emit(ev.id, *ev.status)
	}
	if !ev.done {
		return false
	}
	if ev.checkKnown && !ev.gone {
		if h := l.health[ev.id]; h != nil {
			h.stopProbe() // none runs while an operation does; be sure
			delete(l.health, ev.id)
		}
		if ev.check != nil {
			l.health[ev.id] = &taskHealth{cfg: *ev.check}
		}
	}
	delete(l.ops, ev.id)
	if ev.gone {
		delete(l.ctrs, ev.id)
	} else {
		l.ctrs[ev.id] = ev.ctr
	}
	for _, e := range l.held[ev.id] {
		l.applyExit(e)
	}
	delete(l.held, ev.id)
	return ev.failed
}

// emit reports st for task id if the task is still assigned here and st
// moves its observed state forward.
func (l *loop) emit(id string, st types.TaskStatus) {
	t := l.w.cfg.Store.View().Task(id)
	if t == nil || t.NodeID != l.w.cfg.NodeID {
		return
	}
	if st.State.Rank() <= observedState(t, l.reported).Rank() {
		return
	}
	l.reported[id] = st.State
	l.log.Debug("task status", "task", id, "state", st.State, "err", st.Err)
	l.enqueue(id, st)
}

// enqueue hands st to the reporter, with the task's addresses if they
// have not been handed over yet.
func (l *loop) enqueue(id string, st types.TaskStatus) {
	u := types.TaskUpdate{TaskID: id, Status: st}
	if a, ok := l.addrs[id]; ok {
		u.Addresses = a
		delete(l.addrs, id)
	}
	l.rep.enqueue(u)
}

// reconcile plans over a fresh view of the store and carries the plan out.
func (l *loop) reconcile(ctx context.Context) {
	tasks := l.w.cfg.Store.View().TasksByNode(l.w.cfg.NodeID)
	kinds := make(map[string]opKind, len(l.ops))
	for id, op := range l.ops {
		kinds[id] = op.kind
	}
	now := time.Now().UTC()
	acts := plan(snapshot{Now: now, Tasks: tasks, Containers: l.ctrs, InFlight: kinds, Reported: l.reported,
		Health: l.healthMarks()})
	for _, a := range acts {
		l.do(ctx, a)
	}
	byID := make(map[string]*types.Task, len(tasks))
	for _, t := range tasks {
		byID[t.ID] = t
	}
	l.syncProbes(ctx, byID)
	l.releaseNets(ctx, byID, now)
	l.forget(byID)
}

func (l *loop) do(ctx context.Context, a action) {
	switch a.Kind {
	case actReport:
		l.emit(a.ID, a.Status)
	case actCancel:
		if op, ok := l.ops[a.ID]; ok {
			op.cancel()
		}
	case actStart:
		if h := l.nets[a.ID]; h != nil && h.releasing {
			return // planned again when the release ends
		}
		l.hold(a.ID)
		l.spawn(ctx, a.ID, opStart, func(opCtx context.Context) opEvent { return l.start(ctx, opCtx, a.Task) })
	case actStop:
		l.spawn(ctx, a.ID, opStop, func(opCtx context.Context) opEvent { return l.stop(opCtx, a.ID, a.Task) })
	case actRemove:
		l.spawn(ctx, a.ID, opRemove, func(opCtx context.Context) opEvent { return l.remove(opCtx, a.ID) })
	}
}

// spawn runs op for task id in a goroutine of its own and delivers its
// final event to the loop.
func (l *loop) spawn(ctx context.Context, id string, kind opKind, op func(context.Context) opEvent) {
	opCtx, cancel := context.WithCancel(ctx)
	l.ops[id] = inflight{kind: kind, cancel: cancel}
	l.log.Debug("operation begins", "task", id, "op", kind)
	l.wg.Go(func() {
		defer cancel()
		ev := op(opCtx)
		ev.id, ev.done = id, true
		l.send(ctx, ev)
	})
}

// send delivers ev to the loop, or gives up when the worker stops.
func (l *loop) send(ctx context.Context, ev opEvent) {
	select {
	case l.events <- ev:
	case <-ctx.Done():
	}
}

// forget drops what the worker reported for tasks no longer assigned here
// once nothing of them is left on the node.
func (l *loop) forget(here map[string]*types.Task) {
	gone := func(id string) bool {
		_, hasCtr := l.ctrs[id]
		_, busy := l.ops[id]
		return here[id] == nil && !hasCtr && !busy
	}
	for id := range l.reported {
		if gone(id) {
			delete(l.reported, id)
		}
	}
	for id := range l.addrs {
		if gone(id) {
			delete(l.addrs, id)
		}
	}
}
