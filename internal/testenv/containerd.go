package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// ContainerdOptions configures a containerd daemon.
type ContainerdOptions struct {
	// Dir holds everything the daemon writes: config, root, state, its log
	// and (if the path is short enough) its socket. Required.
	Dir string
	// NetNSPath runs the daemon (and so its shims and host-network
	// containers) in this network namespace; "" keeps the caller's.
	NetNSPath string
	// Binary is the containerd executable ("containerd" on PATH if empty).
	Binary string
}

// ContainerdDaemon is a running containerd.
type ContainerdDaemon struct {
	// Address is the daemon's gRPC socket.
	Address string
	// Dir is ContainerdOptions.Dir; LogPath the daemon's own log.
	Dir     string
	LogPath string

	cmd     *exec.Cmd
	exited  chan struct{}
	sockDir string // a short directory for the socket, removed on Stop
}

// maxSocketPath keeps socket paths under the kernel's 108-byte limit, with
// room for the ".ttrpc" suffix.
const maxSocketPath = 100

// StartContainerd runs containerd with a config of its own under opts.Dir
// and waits until it serves (or ctx ends). Stop it with Stop. Tests call
// Containerd instead, which also stops it.
func StartContainerd(ctx context.Context, opts ContainerdOptions) (*ContainerdDaemon, error) {
	if opts.Dir == "" {
		return nil, errors.New("testenv: ContainerdOptions.Dir is required")
	}
	bin := opts.Binary
	if bin == "" {
		bin = "containerd"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("containerd is not installed (apt-get install containerd runc): %w", err)
	}
	d := &ContainerdDaemon{Dir: opts.Dir, LogPath: filepath.Join(opts.Dir, "containerd.log"), exited: make(chan struct{})}
	d.Address = filepath.Join(opts.Dir, "containerd.sock")
	if len(d.Address) > maxSocketPath {
		if d.sockDir, err = os.MkdirTemp("", "ctd-"); err != nil {
			return nil, fmt.Errorf("containerd socket dir: %w", err)
		}
		d.Address = filepath.Join(d.sockDir, "containerd.sock")
	}
	cfgPath := filepath.Join(opts.Dir, "config.toml")
	cfg := ContainerdConfig(filepath.Join(opts.Dir, "root"), filepath.Join(opts.Dir, "state"), d.Address)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
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
func (d *ContainerdDaemon) Pid() int { return d.cmd.Process.Pid }

// ContainerdConfig renders a containerd 1.6 config (version 2) that keeps
// every path of the daemon apart (root and opt under root, state, the gRPC
// socket at address and the ttrpc one beside it), so several daemons run
// side by side. CRI, the metrics and debug listeners and the snapshotters
// that cannot work here are off, which keeps the daemon's log readable.
// The lab's containerds use it too. Pure.
func ContainerdConfig(root, state, address string) string {
	q := strconv.Quote
	return "version = 2\n" +
		"root = " + q(root) + "\n" +
		"state = " + q(state) + "\n" +
		`disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",` +
		` "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]` + "\n" +
		"\n[grpc]\n  address = " + q(address) + "\n" +
		"\n[ttrpc]\n  address = " + q(address+".ttrpc") + "\n" +
		"\n[debug]\n  address = \"\"\n" +
		"\n[metrics]\n  address = \"\"\n" +
		"\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = " + q(filepath.Join(root, "opt")) + "\n"
}

// startIn starts cmd with its network namespace set to nsPath ("" = ours):
// the child inherits the namespace of the OS thread that forks it.
func startIn(nsPath string, cmd *exec.Cmd) error {
	if nsPath == "" {
		return cmd.Start()
	}
	return nsthread.DoPath(nsPath, cmd.Start)
}

func (d *ContainerdDaemon) waitServing(ctx context.Context) error {
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

func (d *ContainerdDaemon) logTail() string {
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
func (d *ContainerdDaemon) Stop() error {
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
func (d *ContainerdDaemon) removeAll() error {
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

// RequireContainerd skips tb unless it runs as root on a machine with
// containerd and runc installed.
func RequireContainerd(tb testing.TB) {
	tb.Helper()
	RequireRoot(tb, "runs containerd")
	RequireCommands(tb, "containerd runc", "containerd", "containerd-shim-runc-v2", "runc")
}

// Containerd starts a containerd of the test's own in a fresh tb.TempDir()
// (after skipping like RequireContainerd) and stops it in tb.Cleanup,
// removing its containers, shims and mounts. If the test failed, the
// daemon's log is printed.
func Containerd(tb testing.TB) *ContainerdDaemon {
	tb.Helper()
	RequireContainerd(tb)
	d, err := StartContainerd(context.Background(), ContainerdOptions{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("start containerd: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("containerd log:\n%s", d.logTail())
		}
		if err := d.Stop(); err != nil {
			tb.Errorf("stop containerd: %v", err)
		}
	})
	return d
}
