package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
)

// maxExecOutput bounds what Exec keeps of a command's output (docker keeps
// 4 KiB of a healthcheck's output too).
const maxExecOutput = 4096

// DefaultExecTimeout applies when Exec is given no timeout.
const DefaultExecTimeout = 30 * time.Second

// Exec runs cmd inside container id's running task, with the container's
// environment, user and working directory, and returns its exit code and
// combined output (the first 4 KiB). If it runs past timeout it is killed
// and the error matches ErrExecTimeout. Used for healthchecks; safe for
// concurrent use.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (int, string, error) {
	if len(cmd) == 0 {
		return -1, "", fmt.Errorf("exec in %s: empty command", id)
	}
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	ctx = r.nsCtx(ctx)
	c, err := r.loadContainer(ctx, id)
	if err != nil {
		return -1, "", fmt.Errorf("exec in %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return -1, "", fmt.Errorf("exec in %s: container is not running: %w", id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, "", fmt.Errorf("exec in %s: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args, pspec.Terminal = cmd, false
	out := &limitedBuffer{limit: maxExecOutput}
	proc, err := task.Exec(ctx, execID(), &pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return -1, "", fmt.Errorf("exec %q in %s: %w", cmd[0], id, err)
	}
	// The process must be deleted even when ctx is already cancelled.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := proc.Delete(dctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("delete exec process", "id", id, "err", err)
		}
	}()
	exited, err := proc.Wait(ctx)
	if err != nil {
		return -1, "", fmt.Errorf("exec %q in %s: wait: %w", cmd[0], id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, "", fmt.Errorf("exec %q in %s: %w", cmd[0], id, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case st := <-exited:
		proc.IO().Wait() // drain the output before reading it
		code, _, err := st.Result()
		if err != nil {
			return -1, out.String(), fmt.Errorf("exec %q in %s: %w", cmd[0], id, err)
		}
		return int(code), out.String(), nil
	case <-timer.C:
	case <-ctx.Done():
	}
	if err := proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		r.log.Warn("kill exec process", "id", id, "err", err)
	}
	if ctx.Err() != nil {
		return -1, out.String(), fmt.Errorf("exec %q in %s: %w", cmd[0], id, ctx.Err())
	}
	return -1, out.String(), fmt.Errorf("exec %q in %s: after %s: %w", cmd[0], id, timeout, ErrExecTimeout)
}

func execID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "exec-" + hex.EncodeToString(b[:])
}

// limitedBuffer keeps the first limit bytes written and drops the rest
// without failing the writer (the process must not block on a full pipe).
// Safe for concurrent use, since stdout and stderr copy in two goroutines.
type limitedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
