// Package vm is the VM test's harness: it brings the repository's
// Vagrantfile up under vagrant-libvirt on this machine (qemu's software
// emulation where there is no /dev/kvm), and runs commands in the VMs over
// ssh, each bounded by a timeout.
//
// Confinement: libvirtd, virtlogd, their bridges and dnsmasq, the VMs and
// every vagrant and ssh call live in a network namespace the harness makes
// (Netns); the Vagrantfile runs with SHOAL_ISOLATED=1 (no management
// network, no forwarding). No VM address is reachable from the host's own
// network, and the VMs reach nothing but each other and the host side of
// their private network, inside that namespace.
//
// Close tears down what Start started, also after a failure: the VMs
// (vagrant destroy), the daemons (by the PIDs it recorded) and the
// namespace. The box is built once from Debian's packages (build-box.sh)
// and kept in CacheDir.
package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-org/shoal/lb/ipvsvm"
)

// BoxName is the name the harness adds its box under.
const BoxName = "shoal-debian12"

// Config says where the harness works.
type Config struct {
	// Root is the repository root (the Vagrantfile's directory).
	Root string
	// CacheDir keeps the box between runs (default /var/cache/shoal-vm).
	CacheDir string
	// RunDir holds vagrant's state, the ssh config, serial logs and the
	// daemons' PID files (default /run/shoal-vm).
	RunDir string
	// Netns names the harness's network namespace (default shoal-vm).
	Netns string
	// Nodes is the number of VMs (default 3).
	Nodes int
	// Deb is the shoal package the VMs install.
	Deb string
	// AgentFlags are extra `agent run` flags for every node.
	AgentFlags string
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

func (c *Config) defaults() {
	if c.CacheDir == "" {
		c.CacheDir = "/var/cache/shoal-vm"
	}
	if c.RunDir == "" {
		c.RunDir = "/run/shoal-vm"
	}
	if c.Netns == "" {
		c.Netns = "shoal-vm"
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Harness is a running VM lab.
type Harness struct {
	cfg     Config
	daemons []string // PID files of the daemons Start started
	up      bool
}

// NodeIP is node i's address on the private network (the Vagrantfile's
// default SHOAL_NET).
func NodeIP(i int) string { return fmt.Sprintf("192.168.56.%d", 10+i) }

// Start installs what the host needs, makes the namespace and starts
// libvirtd in it. A failed Start leaves nothing running.
func Start(ctx context.Context, cfg Config) (_ *Harness, err error) {
	cfg.defaults()
	h := &Harness{cfg: cfg}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if err := h.run(ctx, 10*time.Minute, "bash", h.script("host-setup.sh")); err != nil {
		return nil, err
	}
	h.cleanStale(ctx)
	if out, _ := exec.Command("pgrep", "-x", "libvirtd").Output(); len(out) > 0 {
		return nil, fmt.Errorf("a libvirtd (pid %s) not started by this harness is running: stop it first (the harness runs its own, confined to namespace %s)", strings.TrimSpace(string(out)), cfg.Netns)
	}
	for _, d := range []string{cfg.RunDir, filepath.Join(cfg.RunDir, "serial"), cfg.CacheDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		// qemu runs as libvirt-qemu and writes the serial logs here.
		_ = os.Chmod(d, 0o777)
	}
	_ = exec.Command("ip", "netns", "del", cfg.Netns).Run() // a leftover of a killed run
	if err := h.run(ctx, time.Minute, "ip", "netns", "add", cfg.Netns); err != nil {
		return nil, err
	}
	if err := h.inNetns(ctx, time.Minute, "ip", "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	for _, d := range []string{"virtlogd", "libvirtd"} {
		pid := filepath.Join(cfg.RunDir, d+".pid")
		_ = os.Remove(pid)
		if err := h.inNetns(ctx, time.Minute, d, "-d", "-p", pid); err != nil {
			return nil, fmt.Errorf("start %s: %w", d, err)
		}
		h.daemons = append(h.daemons, pid)
	}
	if err := h.waitFor(ctx, time.Minute, "libvirtd to answer", func() bool {
		return exec.CommandContext(ctx, "virsh", "-c", "qemu:///system", "version").Run() == nil
	}); err != nil {
		return nil, err
	}
	if exec.CommandContext(ctx, "virsh", "-c", "qemu:///system", "pool-info", "default").Run() != nil {
		if err := os.MkdirAll("/var/lib/libvirt/images", 0o711); err != nil {
			return nil, err
		}
		if err := h.run(ctx, time.Minute, "virsh", "-c", "qemu:///system", "pool-define-as", "default", "dir", "--target", "/var/lib/libvirt/images"); err != nil {
			return nil, err
		}
	}
	_ = exec.CommandContext(ctx, "virsh", "-c", "qemu:///system", "pool-start", "default").Run()
	return h, nil
}

// EnsureBox builds the box unless CacheDir holds it, and adds it to
// vagrant unless vagrant has it. It reports whether it built it.
func (h *Harness) EnsureBox(ctx context.Context) (built bool, err error) {
	dir := h.boxDir()
	if _, err := os.Stat(filepath.Join(dir, BoxName+".box")); err != nil {
		h.cfg.Logf("building the box from Debian's packages (1.5 to 4 minutes)")
		if err := h.run(ctx, 20*time.Minute, "bash", h.script("build-box.sh"), dir); err != nil {
			return false, err
		}
		built = true
		_ = h.runQuiet(ctx, time.Minute, "vagrant", "box", "remove", "--force", BoxName)
	}
	list, err := h.output(ctx, time.Minute, "vagrant", "box", "list")
	if err != nil {
		return built, err
	}
	if !strings.Contains(list, BoxName+" ") {
		if err := h.run(ctx, 5*time.Minute, "vagrant", "box", "add", "--name", BoxName, filepath.Join(dir, BoxName+".box")); err != nil {
			return built, err
		}
	}
	return built, nil
}

func (h *Harness) boxDir() string { return filepath.Join(h.cfg.CacheDir, "box") }

// Up brings the VMs up and provisions them (the cluster forms there), then
// writes the ssh configuration the other calls use.
//
// node1 boots first, unprovisioned: that creates libvirt's networks and
// the box's volume. Then node1's provisioning (the cluster's founding) and
// every other node's `vagrant up` run at once, each a vagrant process of
// its own; their joins wait for node1's token. Under emulation this takes
// half the time of one VM after the other (README gives users the same
// recipe). vagrant's own parallel mode is not used: vagrant-libvirt 0.11
// hung in it before starting any domain.
func (h *Harness) Up(ctx context.Context) error {
	h.up = true
	if err := h.vagrant(ctx, 20*time.Minute, "up", "--provider=libvirt", "--no-provision", "node1"); err != nil {
		return err
	}
	calls := [][]string{{"provision", "node1"}}
	for i := 2; i <= h.cfg.Nodes; i++ {
		calls = append(calls, []string{"up", "--provider=libvirt", fmt.Sprintf("node%d", i)})
	}
	if err := atOnce(len(calls), func(i int) error { return h.vagrant(ctx, 40*time.Minute, calls[i]...) }); err != nil {
		return err
	}
	return h.sshConfig(ctx)
}

// atOnce runs fn(0) … fn(n-1) at once and returns their errors joined.
func atOnce(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Provision runs the provisioners again (they must change nothing) on
// the machines named (node1, …), at once.
func (h *Harness) Provision(ctx context.Context, machines ...string) error {
	return atOnce(len(machines), func(i int) error { return h.vagrant(ctx, 20*time.Minute, "provision", machines[i]) })
}

// sshConfig writes vagrant's ssh configuration with connection sharing:
// each node's first ssh call opens a connection that the later calls
// reuse, for up to 30 idle minutes. A new connection costs the emulated
// guest a key exchange, seconds of its one CPU; a shared one, a channel.
func (h *Harness) sshConfig(ctx context.Context) error {
	out, err := h.vagrantOutput(ctx, 5*time.Minute, "ssh-config")
	if err != nil {
		return err
	}
	shared := fmt.Sprintf("Host *\n  ControlMaster auto\n  ControlPath %s\n  ControlPersist 30m\n"+
		"  ServerAliveInterval 5\n  ServerAliveCountMax 6\n", filepath.Join(h.cfg.RunDir, "ssh-%n"))
	return os.WriteFile(h.sshConfigPath(), []byte(out+"\n"+shared), 0o600)
}

func (h *Harness) sshConfigPath() string { return filepath.Join(h.cfg.RunDir, "ssh_config") }

// SSH runs cmd as root on node i (1-based) and returns its output
// (stdout and stderr). It fails after timeout: a guest that hangs (or
// panicked) cannot hold the test.
func (h *Harness) SSH(ctx context.Context, i int, timeout time.Duration, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "ip", "netns", "exec", h.cfg.Netns, "ssh", "-F", h.sshConfigPath(),
		"-o", "ConnectTimeout=20", "-o", "BatchMode=yes", fmt.Sprintf("node%d", i), "sudo sh -c "+shellQuote(cmd))
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	c.WaitDelay = 10 * time.Second // a shared connection's master outlives the first call
	err := c.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("node%d: %q still running after %s", i, cmd, timeout)
	}
	if err != nil {
		return out.String(), fmt.Errorf("node%d: %q: %w: %s", i, cmd, err, lastLines(out.String(), 15))
	}
	return out.String(), nil
}

// Upload copies a file of the host to path on node i.
func (h *Harness) Upload(ctx context.Context, i int, src, dst string) error {
	return h.inNetns(ctx, 10*time.Minute, "scp", "-F", h.sshConfigPath(), "-q", src, fmt.Sprintf("node%d:%s", i, dst))
}

// SerialFaults returns the lines of the VMs' serial consoles that report a
// kernel panic, BUG, oops or packet loop, prefixed with the node's log.
func (h *Harness) SerialFaults() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(h.cfg.RunDir, "serial", "node*-serial.log"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no serial log found: the VMs' consoles were not captured")
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, l := range ipvsvm.FaultLines(string(b)) {
			out = append(out, filepath.Base(f)+": "+l)
		}
	}
	return out, nil
}

// Close destroys the VMs, stops the daemons Start started and removes the
// namespace. It is safe to call more than once and after a failed Start.
func (h *Harness) Close() {
	ctx := context.Background()
	if h.up {
		for i := 1; i <= h.cfg.Nodes; i++ { // the shared ssh connections
			_ = h.runQuiet(ctx, 10*time.Second, "ip", "netns", "exec", h.cfg.Netns,
				"ssh", "-F", h.sshConfigPath(), "-O", "exit", fmt.Sprintf("node%d", i))
		}
		if err := h.vagrant(ctx, 10*time.Minute, "destroy", "-f"); err != nil {
			h.cfg.Logf("vagrant destroy: %v", err)
		}
		h.up = false
	}
	for i := len(h.daemons) - 1; i >= 0; i-- {
		b, err := os.ReadFile(h.daemons[i])
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			deadline := time.Now().Add(10 * time.Second)
			for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = os.Remove(h.daemons[i])
	}
	h.daemons = nil
	_ = exec.Command("ip", "netns", "del", h.cfg.Netns).Run()
}

// cleanStale tears down what a previous run that was killed before its
// Close left behind: its VMs (while its libvirtd still runs), its daemons
// (by the PID files in RunDir) and its namespace.
func (h *Harness) cleanStale(ctx context.Context) {
	var pids []string
	for _, d := range []string{"virtlogd", "libvirtd"} {
		pid := filepath.Join(h.cfg.RunDir, d+".pid")
		if _, err := os.Stat(pid); err == nil {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return
	}
	h.cfg.Logf("cleaning up after a previous run that did not finish")
	stale := &Harness{cfg: h.cfg, daemons: pids, up: true}
	if err := exec.CommandContext(ctx, "ip", "netns", "exec", h.cfg.Netns, "true").Run(); err != nil {
		stale.up = false // no namespace: vagrant cannot reach anything
	}
	stale.Close()
}

// vagrant runs a vagrant command in the namespace with the Vagrantfile's
// settings, its output going to the log.
func (h *Harness) vagrant(ctx context.Context, timeout time.Duration, args ...string) error {
	out, err := h.vagrantOutput(ctx, timeout, args...)
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			h.cfg.Logf("vagrant %s | %s", args[0], l)
		}
	}
	return err
}

func (h *Harness) vagrantOutput(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.cfg.Netns, "vagrant"}, args...)...)
	c.Dir = h.cfg.Root
	c.Env = append(os.Environ(),
		"VAGRANT_DEFAULT_PROVIDER=libvirt",
		"VAGRANT_DOTFILE_PATH="+filepath.Join(h.cfg.RunDir, "vagrant"),
		"SHOAL_NODES="+strconv.Itoa(h.cfg.Nodes),
		"SHOAL_BOX="+BoxName,
		"SHOAL_BOX_KERNEL="+h.boxDir(),
		"SHOAL_SERIAL_DIR="+filepath.Join(h.cfg.RunDir, "serial"),
		"SHOAL_ISOLATED=1",
		// /dev/kvm may exist and still not run a stock guest kernel (a
		// nested VM): software emulation always works.
		"SHOAL_LIBVIRT_DRIVER=qemu",
		"SHOAL_DEB="+h.cfg.Deb,
		"SHOAL_AGENT_FLAGS="+h.cfg.AgentFlags,
	)
	var out bytes.Buffer
	w := io.Writer(&out)
	// vagrant.log shows a long `vagrant up` as it goes.
	if f, err := os.OpenFile(filepath.Join(h.cfg.RunDir, "vagrant.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		defer f.Close()
		fmt.Fprintf(f, "=== %s vagrant %s\n", time.Now().Format(time.TimeOnly), strings.Join(args, " "))
		sw := &stampWriter{w: f, start: time.Now()}
		defer sw.Flush()
		w = io.MultiWriter(&out, sw)
	}
	c.Stdout, c.Stderr = w, w
	err := c.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("vagrant %s: still running after %s: %s", args[0], timeout, lastLines(out.String(), 20))
	}
	if err != nil {
		return out.String(), fmt.Errorf("vagrant %s: %w: %s", args[0], err, lastLines(out.String(), 20))
	}
	return out.String(), nil
}

func (h *Harness) script(name string) string { return filepath.Join(h.cfg.Root, "e2e", "vm", name) }

func (h *Harness) inNetns(ctx context.Context, timeout time.Duration, args ...string) error {
	return h.run(ctx, timeout, append([]string{"ip", "netns", "exec", h.cfg.Netns}, args...)...)
}

func (h *Harness) run(ctx context.Context, timeout time.Duration, args ...string) error {
	out, err := h.output(ctx, timeout, args...)
	if err != nil {
		return fmt.Errorf("%w: %s", err, lastLines(out, 20))
	}
	return nil
}

func (h *Harness) runQuiet(ctx context.Context, timeout time.Duration, args ...string) error {
	_, err := h.output(ctx, timeout, args...)
	return err
}

func (h *Harness) output(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	c.WaitDelay = 10 * time.Second // scp may start a shared ssh connection's master
	if err := c.Run(); err != nil {
		if ctx.Err() != nil {
			return out.String(), fmt.Errorf("%s: still running after %s", strings.Join(args, " "), timeout)
		}
		return out.String(), fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

func (h *Harness) waitFor(ctx context.Context, d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", d, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stampWriter prefixes each line written through it with the seconds
// since start, so that vagrant.log shows where a long `vagrant up` spends
// its time. It writes whole lines only (Flush writes the rest), so that
// the logs of vagrant calls running at once do not cut into each other's.
type stampWriter struct {
	w     io.Writer
	start time.Time
	line  []byte // the current line, not yet written
}

func (s *stampWriter) Write(p []byte) (int, error) {
	var b bytes.Buffer
	for _, c := range p {
		if len(s.line) == 0 {
			s.line = fmt.Appendf(s.line, "+%6.1fs ", time.Since(s.start).Seconds())
		}
		s.line = append(s.line, c)
		if c == '\n' {
			b.Write(s.line)
			s.line = s.line[:0]
		}
	}
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes an unfinished last line.
func (s *stampWriter) Flush() {
	if len(s.line) > 0 {
		_, _ = s.w.Write(append(s.line, '\n'))
		s.line = s.line[:0]
	}
}
