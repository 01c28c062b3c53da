// Package runtimetest runs real daemons for tests of the runtime and for the
// lab: a private containerd (own root, state and socket, CRI disabled) and a
// local OCI registry (Debian's docker-registry). Both need root and the
// Debian packages containerd, runc and docker-registry.
package runtimetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options configures a containerd daemon.
type Options struct {
	// Dir holds everything the daemon writes: config, root, state, its log
	// and (if the path is short enough) its socket. Required.
	Dir string
	// NetNSPath runs the daemon (and so its shims and host-network
	// containers) in this network namespace; "" keeps the caller's.
	NetNSPath string
	// Binary is the containerd executable ("containerd" on PATH if empty).
	Binary string
}

// Daemon is a running containerd.
type Daemon struct {
	// Address is the daemon's gRPC socket.
	Address string
	// Dir is Options.Dir; LogPath the daemon's own log.
	Dir     string
	LogPath string

	cmd     *exec.Cmd
	exited  chan struct{}
	sockDir string // a short directory for the socket, removed on Stop
}

// maxSocketPath keeps socket paths under the kernel's 108-byte limit, with
// room for the ".ttrpc" suffix.
const maxSocketPath = 100

// Start runs containerd with a config of its own under opts.Dir and waits
// until it serves (or ctx ends). Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Daemon, error) {
	if opts.Dir == "" {
		return nil, errors.New("runtimetest: Options.Dir is required")
	}
	bin := opts.Binary
	if bin == "" {
		bin = "containerd"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("containerd is not installed (apt-get install containerd runc): %w", err)
	}
	d := &Daemon{Dir: opts.Dir, LogPath: filepath.Join(opts.Dir, "containerd.log"), exited: make(chan struct{})}
	d.Address = filepath.Join(opts.Dir, "containerd.sock")
	if len(d.Address) > maxSocketPath {
		if d.sockDir, err = os.MkdirTemp("", "ctd-"); err != nil {
			return nil, fmt.Errorf("containerd socket dir: %w", err)
		}
		d.Address = filepath.Join(d.sockDir, "containerd.sock")
	}
	cfgPath := filepath.Join(opts.Dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(configTOML(opts.Dir, d.Address)), 0o644); err != nil {
		return nil, fmt.Errorf("write containerd config: %w", err)
	}
	logf, err := os.Create(d.LogPath)
	if err != nil {
		return nil, fmt.Errorf("containerd log: %w", err)
	}
	defer logf.Close()
	d.cmd = exec.Command(path, "--config", cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := startIn(opts.NetNSPath, d.cmd); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	go func() {
		_ = d.cmd.Wait()
		close(d.exited)
	}()
	if err := d.waitServing(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// Pid is the daemon's process ID.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// configTOML is a containerd 1.6 config (version 2) that keeps every path
// of the daemon under dir, so several daemons can run side by side.
func configTOML(dir, address string) string {
	q := strconv.Quote
	return fmt.Sprintf(`version = 2
root = %s
state = %s
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %s

[ttrpc]
  address = %s

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %s
`, q(filepath.Join(dir, "root")), q(filepath.Join(dir, "state")), q(address),
		q(address+".ttrpc"), q(filepath.Join(dir, "opt")))
}

// startIn starts cmd with its network namespace set to nsPath ("" = ours):
// the child inherits the namespace of the OS thread that forks it.
func startIn(nsPath string, cmd *exec.Cmd) error {
	if nsPath == "" {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("netns %s: %w", nsPath, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("enter netns %s: %w", nsPath, err)
	}
	startErr := cmd.Start()
	if err := netns.Set(orig); err != nil {
		// This thread is in the wrong namespace: keep it locked so that it
		// dies with this goroutine instead of serving others.
		runtime.LockOSThread()
		return fmt.Errorf("leave netns %s: %w", nsPath, err)
	}
	return startErr
}

func (d *Daemon) waitServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(d.Address); err == nil {
			c, err := containerd.New(d.Address, containerd.WithTimeout(2*time.Second))
			if err == nil {
				ok, err := c.IsServing(ctx)
				c.Close()
				if err == nil && ok {
					return nil
				}
			}
		}
		select {
		case <-d.exited:
			return fmt.Errorf("containerd exited at start: %s", d.logTail())
		case <-ctx.Done():
			return fmt.Errorf("containerd at %s did not serve: %w: %s", d.Address, ctx.Err(), d.logTail())
		case <-tick.C:
		}
	}
}

func (d *Daemon) logTail() string {
	b, _ := os.ReadFile(d.LogPath)
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop removes every container the daemon runs (in all namespaces), stops
// the daemon, kills leftover shims and their children and unmounts whatever
// is still mounted under Dir. It is safe to call more than once.
func (d *Daemon) Stop() error {
	var errs []error
	select {
	case <-d.exited:
	default:
		errs = append(errs, d.removeAll())
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.exited
		}
	}
	killShims(d.Address)
	errs = append(errs, unmountUnder(d.Dir))
	if d.sockDir != "" {
		errs = append(errs, os.RemoveAll(d.sockDir))
	}
	return errors.Join(errs...)
}

// removeAll deletes every task and container, so that shims exit cleanly.
func (d *Daemon) removeAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := containerd.New(d.Address, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("clean up containerd: %w", err)
	}
	defer c.Close()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("clean up containerd: %w", err)
	}
	var errs []error
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := c.Containers(nctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ctr := range cs {
			if t, err := ctr.Task(nctx, nil); err == nil {
				if _, err := t.Delete(nctx, containerd.WithProcessKill); err != nil {
					errs = append(errs, fmt.Errorf("delete task %s: %w", ctr.ID(), err))
				}
			}
			if err := ctr.Delete(nctx, containerd.WithSnapshotCleanup); err != nil {
				errs = append(errs, fmt.Errorf("delete container %s: %w", ctr.ID(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// killShims kills the shims started for address (they outlive containerd)
// and the processes they parent.
func killShims(address string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("containerd-shim")) {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == address {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				killChildren(pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}

func killChildren(ppid int) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// Fields after the ")" closing the command name: state ppid ...
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// SkipUnlessAvailable skips t unless it runs as root on a machine with
// containerd and runc installed.
func SkipUnlessAvailable(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install containerd runc)", bin)
		}
	}
}

// StartContainerd starts a containerd in a fresh t.TempDir() (after
// skipping like SkipUnlessAvailable) and stops it in t.Cleanup. On failure
// of the test, the daemon's log is printed.
func StartContainerd(t testing.TB) *Daemon {
	t.Helper()
	SkipUnlessAvailable(t)
	dir := t.TempDir()
	d, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log:\n%s", d.logTail())
		}
		if err := d.Stop(); err != nil {
			t.Errorf("stop containerd: %v", err)
		}
	})
	return d
}
