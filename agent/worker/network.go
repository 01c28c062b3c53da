package worker

import (
	"context"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// Release timings: a Release call is bounded, and a failed one is retried
// after opRetry, doubling up to releaseRetryMax.
const (
	releaseTimeout  = 30 * time.Second
	releaseRetryMax = 30 * time.Second
)

// netHold is a task whose network may still be held (Config.Release is
// set and the task had, or may have had, a network).
type netHold struct {
	releasing bool      // a Release call runs
	failures  int       // Release calls failed in a row
	retryAt   time.Time // no call before this, after a failure
}

// releaseResult is a Release call's end, sent to the loop.
type releaseResult struct {
	id  string
	err error
}

// hold records that task id may hold a network, if the worker releases
// networks at all.
func (l *loop) hold(id string) {
	if l.w.cfg.Release == nil {
		return
	}
	if _, ok := l.nets[id]; !ok {
		l.nets[id] = &netHold{}
	}
}

// releaseNets calls Release, each in a goroutine of its own, for every
// held network that nothing needs any more (see needsNetwork) and whose
// retry time has come.
func (l *loop) releaseNets(ctx context.Context, tasks map[string]*types.Task, now time.Time) {
	for id, h := range l.nets {
		if h.releasing || now.Before(h.retryAt) || l.needsNetwork(id, tasks[id]) {
			continue
		}
		h.releasing = true
		l.log.Debug("release task network", "task", id)
		l.wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, releaseTimeout)
			err := l.w.cfg.Release(rctx, id)
			cancel()
			select {
			case l.released <- releaseResult{id: id, err: err}:
			case <-ctx.Done():
			}
		})
	}
}

// needsNetwork reports whether task id's network is still needed: its
// container exists, an operation runs for it, or t (the task, if assigned
// here) wants running and may still be started (assigned up to running).
func (l *loop) needsNetwork(id string, t *types.Task) bool {
	if _, ok := l.ctrs[id]; ok {
		return true
	}
	if _, ok := l.ops[id]; ok {
		return true
	}
	if t == nil || t.DesiredState != types.TaskRunning {
		return false
	}
	r := observedState(t, l.reported).Rank()
	return r >= types.TaskAssigned.Rank() && r <= types.TaskRunning.Rank()
}

// handleRelease applies a Release call's result: the network is
// forgotten, or the call retried after a backoff.
func (l *loop) handleRelease(r releaseResult) {
	h := l.nets[r.id]
	if h == nil {
		return
	}
	h.releasing = false
	if r.err == nil {
		delete(l.nets, r.id)
		return
	}
	h.failures++
	d := l.w.opRetry
	for i := 1; i < h.failures && d < releaseRetryMax; i++ {
		d *= 2
	}
	d = min(d, releaseRetryMax)
	h.retryAt = time.Now().Add(d)
	l.log.Warn("release task network failed; retrying", "task", r.id, "retry_in", d, "err", r.err)
}

// nextReleaseRetry is the earliest time after now that a failed Release
// is due again, zero if none waits.
func (l *loop) nextReleaseRetry(now time.Time) time.Time {
	var at time.Time
	for _, h := range l.nets {
		if !h.releasing && h.retryAt.After(now) && (at.IsZero() || h.retryAt.Before(at)) {
			at = h.retryAt
		}
	}
	return at
}
