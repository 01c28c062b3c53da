package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollInterval is how often waits re-check their condition.
const pollInterval = 50 * time.Millisecond

// run runs a short command and returns its stdout; the error carries the
// command line and its stderr.
func run(ctx context.Context, stdin string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// nsArgv prefixes argv so it runs in the named network namespace. nsenter
// switches only the network namespace; `ip netns exec` would also give the
// process a private mount namespace, and then containerd's mounts and the
// agent's netns bind mounts would be invisible to each other and to Down.
func nsArgv(netns string, argv ...string) []string {
	return append([]string{"nsenter", "--net=" + netnsPath(netns), "--"}, argv...)
}

// netnsInode returns the inode that identifies the named namespace.
func netnsInode(name string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(netnsPath(name), &st); err != nil {
		return 0, fmt.Errorf("namespace %s: %w", name, err)
	}
	return st.Ino, nil
}

// procNetns returns the network namespace inode of pid, or 0 if the process
// is gone or a zombie.
func procNetns(pid int) uint64 {
	l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return 0
	}
	s, ok := strings.CutPrefix(l, "net:[")
	if !ok {
		return 0
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	if err != nil {
		return 0
	}
	return ino
}

// isProc reports whether pid is alive in the namespace with inode ino and
// runs an executable whose base name is exe (any, if exe is empty). The
// check guards against PIDs that were reused after the lab's process died.
func isProc(pid int, ino uint64, exe string) bool {
	if pid <= 0 || ino == 0 || procNetns(pid) != ino {
		return false
	}
	if exe == "" {
		return true
	}
	l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return false
	}
	return filepath.Base(strings.TrimSuffix(l, " (deleted)")) == exe
}

// procAlive reports whether pid exists and is not a zombie.
func procAlive(pid int) bool { return pid > 0 && procNetns(pid) != 0 }

// listPIDs returns every PID in /proc with its parent PID.
func listPIDs() (map[int]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	parents := make(map[int]int, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// The command name in parentheses may contain spaces; fields after it are fixed.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parents[pid] = ppid
	}
	return parents, nil
}

// netnsTree returns the processes in the namespace with inode ino plus all
// their descendants (containers run in namespaces of their own but are
// children of a shim in the node namespace). The caller and its ancestors
// are never included.
func netnsTree(ino uint64) ([]int, error) {
	parents, err := listPIDs()
	if err != nil {
		return nil, err
	}
	skip := map[int]bool{}
	for p := os.Getpid(); p > 1 && !skip[p]; p = parents[p] {
		skip[p] = true
	}
	in := map[int]bool{}
	for pid := range parents {
		if !skip[pid] && procNetns(pid) == ino {
			in[pid] = true
		}
	}
	return withDescendants(parents, in, skip), nil
}

// withDescendants extends roots with every descendant in the parent map,
// leaving out skip. Pure.
func withDescendants(parents map[int]int, roots, skip map[int]bool) []int {
	children := map[int][]int{}
	for pid, pp := range parents {
		children[pp] = append(children[pp], pid)
	}
	seen := map[int]bool{}
	var out []int
	var queue []int
	for pid := range roots {
		queue = append(queue, pid)
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] || skip[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}

// killNetns SIGKILLs every process in the named namespace and its
// descendants, waits until they are gone and removes the sockets of the
// containerd shims among them. Processes may fork while being
// killed, so it sweeps a bounded number of times.
func killNetns(ctx context.Context, netns string) error {
	ino, err := netnsInode(netns)
	if err != nil {
		return err
	}
	for range 10 {
		pids, err := netnsTree(ino)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		socks := shimSockets(pids)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // gone already is fine
		}
		if err := waitGone(ctx, pids, 10*time.Second); err != nil {
			return fmt.Errorf("kill processes in %s: %w", netns, err)
		}
		for _, s := range socks {
			_ = os.Remove(s) // a killed shim leaves its socket behind
		}
	}
	return fmt.Errorf("kill processes in %s: processes keep appearing", netns)
}

// waitGone waits until none of pids is alive.
func waitGone(ctx context.Context, pids []int, timeout time.Duration) error {
	return waitFor(ctx, timeout, func() (bool, error) {
		for _, pid := range pids {
			if procAlive(pid) {
				return false, nil
			}
		}
		return true, nil
	}, func() string { return fmt.Sprintf("processes %v still alive", pids) })
}

// errTimeout marks a wait that ran out of time.
var errTimeout = errors.New("timed out")

// waitFor polls cond until it returns true or an error, ctx ends or timeout
// passes. On timeout the error wraps errTimeout with what().
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error), what func() string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("%w after %s: %s", errTimeout, timeout, what())
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// daemon describes a long-running process the lab starts.
type daemon struct {
	netns   string   // namespace to run in
	argv    []string // absolute path first
	env     []string // nil means the lab's environment
	log     string   // stdout+stderr, appended
	pidFile string
}

// startDaemon starts d detached from the caller (own session, reparented to
// init, so neither the lab CLI nor a test process has to reap it) and
// returns its PID. The PID is written by a shell that has already entered
// the namespace and then execs the daemon, so it stays the daemon's PID.
func startDaemon(ctx context.Context, d daemon) (int, error) {
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	if err := os.Remove(d.pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("remove stale pid file: %w", err)
	}
	argv := []string{"setsid", "-f", "nsenter", "--net=" + netnsPath(d.netns), "--",
		"sh", "-c", `echo $$ >"$0"; exec "$@"`, d.pidFile}
	argv = append(argv, d.argv...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Env = logf, logf, d.env
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("start %s in %s: %w", d.argv[0], d.netns, err)
	}
	var pid int
	err = waitFor(ctx, 10*time.Second, func() (bool, error) {
		b, err := os.ReadFile(d.pidFile)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false, nil
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil, err
	}, func() string { return "no pid file " + d.pidFile })
	if err != nil {
		return 0, fmt.Errorf("start %s in %s: %w; read %s", d.argv[0], d.netns, err, d.log)
	}
	return pid, nil
}

// tailFile returns the last n lines of a log for error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
