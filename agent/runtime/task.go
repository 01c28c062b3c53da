package runtime

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
)

// Status is what containerd knows about a container's task.
type Status struct {
	// Exists is false when there is no container with that ID.
	Exists bool
	// Running is true while the task's process lives (also when paused).
	Running bool
	Pid     uint32
	// ExitCode and ExitedAt are set once the task has exited and its
	// output is all in its log; a process killed by a signal exits with
	// 128+signal. They are kept (in the container's labels) until Start
	// or Remove.
	ExitCode int
	ExitedAt time.Time
}

// Container is one container of the namespace, as List returns it.
type Container struct {
	ID string
	// Image is the image reference the container was created with.
	Image  string
	Labels map[string]string
	Status Status
}

// Start starts container id's task, its stdout and stderr appended to
// LogPath(id) by the log driver (see the package doc for the lack of
// per-line timestamps). Starting a running container is a no-op; a task left from an
// earlier run is deleted first, and with it the container's last exit. The
// task outlives the agent.
func (r *Runtime) Start(ctx context.Context, id string) error {
	ctx = r.nsCtx(ctx)
	c, err := r.loadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if running, err := r.clearOldTask(ctx, c); err != nil || running {
		return err
	}
	task, err := c.NewTask(ctx, r.logIO(id))
	if err != nil {
		return fmt.Errorf("start container %s: create task: %w", id, err)
	}
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill); derr != nil {
			r.log.Warn("delete task after failed start", "id", id, "err", derr)
		}
		return fmt.Errorf("start container %s: %w", id, err)
	}
	r.log.Debug("started container", "id", id, "pid", task.Pid())
	return nil
}

// clearOldTask deletes container c's task unless it runs (then it reports
// running) and forgets the container's last exit.
func (r *Runtime) clearOldTask(ctx context.Context, c containerd.Container) (running bool, err error) {
	defer r.locks.lock(c.ID())()
	if old, err := c.Task(ctx, nil); err == nil {
		st, err := old.Status(ctx)
		if err != nil {
			return false, fmt.Errorf("start container %s: task status: %w", c.ID(), err)
		}
		if st.Status == containerd.Running || st.Status == containerd.Paused || st.Status == containerd.Pausing {
			return true, nil
		}
		if _, err := old.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return false, fmt.Errorf("start container %s: delete old task: %w", c.ID(), err)
		}
	} else if !errdefs.IsNotFound(err) {
		return false, fmt.Errorf("start container %s: load task: %w", c.ID(), err)
	}
	if err := clearExit(ctx, c); err != nil {
		return false, fmt.Errorf("start container %s: forget its last exit: %w", c.ID(), err)
	}
	return false, nil
}

func (r *Runtime) loadContainer(ctx context.Context, id string) (containerd.Container, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("container %q: %w", id, ErrNotFound)
	}
	return c, err
}

// Stop sends signal (default: the container's StopSignal, else SIGTERM) to
// container id's task and, if it has not exited after grace (default: the
// container's StopGrace, else DefaultStopGrace), SIGKILL to all its
// processes. It returns once the task has exited and all its output is in
// its log (see reap), or with ctx's error; Status then reports the exit.
// Stopping a container that does not exist or does not run is a no-op.
func (r *Runtime) Stop(ctx context.Context, id string, signal string, grace time.Duration) error {
	ctx = r.nsCtx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	signal, grace = stopDefaults(labels, signal, grace)
	sig, err := containerd.ParseSignal(signal)
	if err != nil {
		return fmt.Errorf("stop container %s: signal %q: %w", id, signal, err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s: load task: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: task status: %w", id, err)
	}
	if st.Status == containerd.Created {
		return nil
	}
	if st.Status == containerd.Stopped {
		return r.reaped(ctx, c)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: wait: %w", id, err)
	}
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: send %s: %w", id, signal, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-exited:
		return r.reaped(ctx, c)
	case <-ctx.Done():
		return fmt.Errorf("stop container %s: %w", id, ctx.Err())
	case <-timer.C:
	}
	r.log.Info("container ignored its stop signal, killing it", "id", id, "signal", signal, "grace", grace)
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: send SIGKILL: %w", id, err)
	}
	select {
	case <-exited:
		return r.reaped(ctx, c)
	case <-ctx.Done():
		return fmt.Errorf("stop container %s: %w", id, ctx.Err())
	}
}

// reaped makes sure that container c's exited task is reaped (see reap).
func (r *Runtime) reaped(ctx context.Context, c containerd.Container) error {
	if _, err := r.status(ctx, c); err != nil {
		return fmt.Errorf("stop container %s: %w", c.ID(), err)
	}
	return nil
}

// Status reports container id's state; a missing container is
// Status{Exists: false} and no error.
func (r *Runtime) Status(ctx context.Context, id string) (Status, error) {
	ctx = r.nsCtx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("status of container %s: %w", id, err)
	}
	return r.status(ctx, c)
}

// status is container c's status. A stopped task is reaped first (see
// reap), so an exit is only reported once the task's output is all in its
// log.
func (r *Runtime) status(ctx context.Context, c containerd.Container) (Status, error) {
	defer r.locks.lock(c.ID())()
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return lastExit(ctx, c)
	}
	if err != nil {
		return Status{Exists: true}, fmt.Errorf("status of container %s: load task: %w", c.ID(), err)
	}
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return lastExit(ctx, c)
	}
	if err != nil {
		return Status{Exists: true}, fmt.Errorf("status of container %s: %w", c.ID(), err)
	}
	switch st.Status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		return Status{Exists: true, Running: true, Pid: task.Pid()}, nil
	case containerd.Stopped:
		return r.reap(ctx, c, task, st)
	}
	return Status{Exists: true}, nil // created, not started
}

// List returns every container in the namespace with its user labels and
// status: how a restarted agent finds the tasks it was running.
func (r *Runtime) List(ctx context.Context) ([]Container, error) {
	ctx = r.nsCtx(ctx)
	cs, err := r.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Container, 0, len(cs))
	for _, c := range cs {
		info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %s: %w", c.ID(), err)
		}
		st, err := r.status(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		if !st.Exists {
			continue // removed meanwhile
		}
		img := info.Labels[labelImage]
		if img == "" {
			img = info.Image
		}
		out = append(out, Container{ID: c.ID(), Image: img, Labels: userLabels(info.Labels), Status: st})
	}
	return out, nil
}
