package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// probeEvent is what a probe goroutine tells the loop: its container
// turned healthy, or unhealthy (and the probe has ended).
type probeEvent struct {
	id      string
	gen     uint64 // of the probe, so that the loop ignores a cancelled one
	healthy bool
	detail  string // unhealthy: what the last probe said
}

// taskHealth is the loop's record of one container's healthcheck. It is
// owned by the loop goroutine.
type taskHealth struct {
	cfg       types.HealthConfig // effective, defaults applied
	gen       uint64             // of the running probe
	cancel    context.CancelFunc // of the running probe; nil when none runs
	healthy   bool               // the container has passed and not failed since
	unhealthy bool               // failed Retries times in a row: stop and fail it
}

func (h *taskHealth) stopProbe() {
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
}

// healthMarks is what plan needs to know of the healthchecks.
func (l *loop) healthMarks() map[string]healthMark {
	if len(l.health) == 0 {
		return nil
	}
	m := make(map[string]healthMark, len(l.health))
	for id, h := range l.health {
		m[id] = hmChecked
		if h.unhealthy {
			m[id] = hmUnhealthy
		}
	}
	return m
}

// syncProbes runs a probe for every container that is running its task
// (desired and observed running, no operation in flight, not unhealthy)
// and has a healthcheck, cancels the other probes, and forgets the
// healthchecks of containers that are gone.
func (l *loop) syncProbes(ctx context.Context, tasks map[string]*types.Task) {
	for id, h := range l.health {
		c, has := l.ctrs[id]
		_, busy := l.ops[id]
		if !has && !busy {
			h.stopProbe()
			delete(l.health, id)
			continue
		}
		t := tasks[id]
		want := has && c.Running && !busy && !h.unhealthy && t != nil &&
			t.DesiredState == types.TaskRunning && observedState(t, l.reported) == types.TaskRunning
		switch {
		case want && h.cancel == nil:
			l.startProbe(ctx, id, h, t)
		case !want:
			h.stopProbe()
		}
	}
}

// startProbe starts h's probe goroutine. A container the store already
// shows healthy (adopted after an agent restart) stays healthy until it
// fails Retries times; the start period begins now.
func (l *loop) startProbe(ctx context.Context, id string, h *taskHealth, t *types.Task) {
	if t.Status.State == types.TaskRunning && t.Status.Healthy != nil && *t.Status.Healthy {
		h.healthy = true
	}
	pctx, cancel := context.WithCancel(ctx)
	l.probeGen++
	h.gen, h.cancel = l.probeGen, cancel
	gen, tr := h.gen, healthTracker{cfg: h.cfg, since: time.Now(), healthy: h.healthy}
	l.log.Debug("healthcheck begins", "task", id, "test", h.cfg.Test, "interval", h.cfg.Interval, "healthy", h.healthy)
	l.wg.Go(func() {
		defer cancel()
		l.probe(pctx, id, gen, tr)
	})
}

// probe runs tr's test in container id every Interval (after each probe
// ends, as docker does) until ctx ends or the container turns unhealthy,
// and tells the loop when its health changes. It runs in a goroutine of
// its own and touches no loop state.
func (l *loop) probe(ctx context.Context, id string, gen uint64, tr healthTracker) {
	cmd, err := probeCommand(tr.cfg.Test)
	if err != nil { // effectiveHealth validated the test
		l.log.Error("healthcheck", "task", id, "err", err)
		return
	}
	timer := time.NewTimer(tr.cfg.Interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		code, out, err := l.rt.Exec(ctx, id, cmd, tr.cfg.Timeout)
		if ctx.Err() != nil {
			return
		}
		ok, detail := err == nil && code == 0, probeDetail(code, out, err)
		if !ok {
			l.log.Debug("healthcheck failed", "task", id, "result", detail)
		}
		switch tr.observe(ok, time.Now()) {
		case healthBecameHealthy:
			l.sendProbe(ctx, probeEvent{id: id, gen: gen, healthy: true})
		case healthBecameUnhealthy:
			l.sendProbe(ctx, probeEvent{id: id, gen: gen, detail: detail})
			return
		}
		timer.Reset(tr.cfg.Interval)
	}
}

// probeDetail describes one probe's result for the log.
func probeDetail(code int, out string, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("exit %d: %s", code, out)
}

func (l *loop) sendProbe(ctx context.Context, ev probeEvent) {
	select {
	case l.probeEvents <- ev:
	case <-ctx.Done():
	}
}

// handleProbe applies a probe's news: healthy is reported at once; an
// unhealthy container is reported so (the load balancers drop it), and
// plan then stops it and fails its task.
func (l *loop) handleProbe(ev probeEvent) {
	h := l.health[ev.id]
	if h == nil || h.cancel == nil || h.gen != ev.gen {
		return // a probe cancelled meanwhile
	}
	if ev.healthy {
		h.healthy = true
		l.emitHealth(ev.id, true)
		return
	}
	h.stopProbe()
	h.unhealthy = true
	l.log.Warn("task container unhealthy; stopping it", "task", ev.id, "failures", h.cfg.Retries, "last", ev.detail)
	if h.healthy {
		h.healthy = false
		l.emitHealth(ev.id, false)
	}
}

// emitHealth reports task id still running, with its new health, if it
// is assigned here and its observed state is running.
func (l *loop) emitHealth(id string, healthy bool) {
	t := l.w.cfg.Store.View().Task(id)
	if t == nil || t.NodeID != l.w.cfg.NodeID || observedState(t, l.reported) != types.TaskRunning {
		return
	}
	st := types.TaskStatus{State: types.TaskRunning, Message: msgStarted, ContainerID: id}
	if t.Status.State == types.TaskRunning {
		st = t.Status
	}
	st.Timestamp, st.Healthy = now(), &healthy
	l.log.Debug("task health", "task", id, "healthy", healthy)
	l.enqueue(id, st)
}
