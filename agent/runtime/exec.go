package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"

	"github.com/shoal-org/shoal/internal/logrec"
)

// maxExecOutput bounds what Exec keeps of a command's output (docker keeps
// 4 KiB of a healthcheck's output too).
const maxExecOutput = 4096

// execDir (under StateDir) holds the output files of Exec'd commands.
const execDir = "exec"

// execOutputMaxAge is the age past which New removes an exec output file
// as a leftover of an agent killed mid-probe.
const execOutputMaxAge = time.Hour

// DefaultExecTimeout applies when Exec is given no timeout.
const DefaultExecTimeout = 30 * time.Second

// Exec runs cmd inside container id's running task, with the container's
// environment, user and working directory, and returns its exit code and
// combined output (the first 4 KiB). If it runs past
// timeout it is killed and the error matches ErrExecTimeout. Used for
// healthchecks; safe for concurrent use.
//
// The shim writes the command's output to a file of the runtime's own
// (StateDir/exec), never to FIFOs that this process reads: containerd
// 1.6's shim opens an exec's stdout FIFO for writing in its Start while
// holding the lock that its exit handling, and then every State call for
// the task, waits for, so a caller killed between Exec and Start (an agent
// killed mid-probe) left no reader and wedged the task's shim for good:
// the task read "UNKNOWN", PID 0, and its next probes timed out. The file
// is written by the log driver when there is one, as a task's log is: the
// shim's own file copy drops stderr still in its pipe when stdout ends
// first (see RunLogDriver), and a failing healthcheck says why on stderr.
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
	xid := execID()
	outPath := filepath.Join(r.cfg.StateDir, execDir, xid+".out")
	proc, err := task.Exec(ctx, xid, &pspec, r.outputIO(outPath))
	if err != nil {
		return -1, "", fmt.Errorf("exec %q in %s: %w", cmd[0], id, err)
	}
	code, err := r.runExec(ctx, proc, timeout)
	// Deleting the process waits for the shim's copy into outPath to end.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if _, derr := proc.Delete(dctx, killExec); derr != nil && !errdefs.IsNotFound(derr) {
		r.log.Warn("delete exec process", "id", id, "err", derr)
	}
	cancel()
	out := readHead(outPath, maxExecOutput)
	if rerr := os.Remove(outPath); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		r.log.Warn("remove exec output", "path", outPath, "err", rerr)
	}
	if err != nil {
		return -1, out, fmt.Errorf("exec %q in %s: %w", cmd[0], id, err)
	}
	return code, out, nil
}

// runExec starts proc and returns its exit code; past timeout it kills
// proc and fails with ErrExecTimeout.
func (r *Runtime) runExec(ctx context.Context, proc containerd.Process, timeout time.Duration) (int, error) {
	exited, err := proc.Wait(ctx)
	if err != nil {
		return -1, fmt.Errorf("wait: %w", err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case st := <-exited:
		code, _, err := st.Result()
		return int(code), err
	case <-timer.C:
	case <-ctx.Done():
	}
	if err := proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		r.log.Warn("kill exec process", "exec", proc.ID(), "err", err)
	}
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	return -1, fmt.Errorf("after %s: %w", timeout, ErrExecTimeout)
}

// killExec is a delete option that kills exec'd process p unless it has
// exited, and waits for its exit (containerd.WithProcessKill does not wait
// for an exec'd process: its kill-all is refused for one).
func killExec(ctx context.Context, p containerd.Process) error {
	exited, err := p.Wait(ctx)
	if err != nil {
		return err
	}
	if err := p.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readHead returns the first n bytes of file path ("" if unreadable).
func readHead(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return logrec.Text(f, int(n))
}

// sweepExecOutputs removes the output files in dir that are older than
// execOutputMaxAge: those of probes whose agent was killed before it read
// them (a running probe's file is younger than its timeout).
func sweepExecOutputs(dir string, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < execOutputMaxAge {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("remove a leftover exec output", "path", filepath.Join(dir, e.Name()), "err", err)
		}
	}
}

func execID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "exec-" + hex.EncodeToString(b[:])
}
