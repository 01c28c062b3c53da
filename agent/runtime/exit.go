package runtime

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
)

// Labels that keep a container's last exit once its task is deleted.
const (
	labelExitCode = labelPrefix + "exit-code"
	labelExitedAt = labelPrefix + "exited-at"
)

// reap finishes container c's stopped task and returns the container's
// status from then on: it records the exit in the container's labels, then
// deletes the task.
//
// Deleting is what makes the log complete. containerd's runc shim
// publishes a task's exit as soon as the process is gone, while its own
// copy of the process's stdout and stderr into the log file may still be
// draining the pipes; its Delete waits for that copy to end (up to 2 s, for
// a pipe that a leftover process keeps open) and closes the file. So every
// path that reports an exit (Status, List, Stop, Exits) reaps first, and no
// exit is reported before the task's last line is in its log: docker and
// containerd's CRI plugin likewise wait for a task's streams before they
// mark it exited.
//
// The caller holds r.locks.lock(c.ID()).
func (r *Runtime) reap(ctx context.Context, c containerd.Container, task containerd.Task, st containerd.Status) (Status, error) {
	s := Status{Exists: true, ExitCode: int(st.ExitStatus), ExitedAt: st.ExitTime}
	if s.ExitedAt.IsZero() {
		s.ExitedAt = time.Now() // not expected of a stopped task; an exit must read as one
	}
	if _, err := c.SetLabels(ctx, map[string]string{
		labelExitCode: strconv.Itoa(s.ExitCode),
		labelExitedAt: s.ExitedAt.UTC().Format(time.RFC3339Nano),
	}); err != nil {
		return s, fmt.Errorf("record exit of container %s: %w", c.ID(), err)
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return s, fmt.Errorf("delete exited task of container %s: %w", c.ID(), err)
	}
	r.log.Debug("reaped exited container", "id", c.ID(), "code", s.ExitCode)
	return s, nil
}

// lastExit is the status of container c, which has no task: exited with
// the exit its labels keep, or never started. A container removed
// meanwhile is Status{Exists: false}.
func lastExit(ctx context.Context, c containerd.Container) (Status, error) {
	labels, err := c.Labels(ctx)
	if errdefs.IsNotFound(err) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("status of container %s: %w", c.ID(), err)
	}
	s := Status{Exists: true}
	at, err := time.Parse(time.RFC3339Nano, labels[labelExitedAt])
	if err != nil {
		return s, nil // never exited, or cleared by Start
	}
	code, err := strconv.Atoi(labels[labelExitCode])
	if err != nil {
		return s, fmt.Errorf("status of container %s: exit code label %q: %w", c.ID(), labels[labelExitCode], err)
	}
	s.ExitCode, s.ExitedAt = code, at
	return s, nil
}

// clearExit forgets container c's last exit, before a new task starts.
func clearExit(ctx context.Context, c containerd.Container) error {
	_, err := c.SetLabels(ctx, map[string]string{labelExitCode: "", labelExitedAt: ""})
	return err
}

// idLocks serialises the runtime's own steps on one container's task
// (reaping, deleting an old task before a start, removing), so that no
// caller sees a task half-reaped: its exit recorded but its log still
// being written.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

type idLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks id and returns its unlock.
func (l *idLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*idLock)
	}
	k := l.m[id]
	if k == nil {
		k = &idLock{}
		l.m[id] = k
	}
	k.refs++
	l.mu.Unlock()
	k.mu.Lock()
	return func() {
		k.mu.Unlock()
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}
