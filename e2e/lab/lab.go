package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Lab is a handle on a running lab. Every method reads and updates the
// shared state file under a file lock, so several Lab values and lab
// processes may work on one lab at once; a Lab is safe for concurrent use.
type Lab struct {
	cfg     Config
	timeout time.Duration

	mu sync.Mutex
	st *state // as of this Lab's last operation
}

// Up builds a lab as described in the package doc and returns a handle.
// It fails with ErrExists if the lab (or leftovers of one) is present. On any
// other failure the partial lab stays for inspection and the error names the
// log to read; Teardown (`lab down`) removes it.
func Up(ctx context.Context, o Options) (*Lab, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := o.Config
	if err := checkAbsent(c); err != nil {
		return nil, err
	}
	for _, d := range []string{c.RunDir, c.DataDir} {
		if err := writeMarker(d); err != nil {
			return nil, fmt.Errorf("lab up: %w", err)
		}
	}
	st := &state{Version: stateVersion, Prefix: c.Prefix, Bin: o.Bin, NoContainerd: o.NoContainerd, NoAgent: o.NoAgent}
	for k := 1; k <= o.Nodes; k++ {
		n := c.newNode(k)
		n.Agent, n.Containerd = StateNone, StateNone
		st.Nodes = append(st.Nodes, n)
	}
	if err := writeState(c, st); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	l := &Lab{cfg: c, timeout: o.Timeout, st: st}
	st, err = updateState(c, func(s *state) error { return l.build(ctx, o, s) })
	if err != nil {
		return nil, fmt.Errorf("lab up: %w (run `lab down` to clean up)", err)
	}
	if !o.NoAgent {
		if err := formCluster(ctx, o.Bin, st.Nodes, o.Timeout); err != nil {
			return nil, fmt.Errorf("lab up: %w (run `lab down` to clean up)", err)
		}
	}
	if err := l.refresh(); err != nil {
		return nil, err
	}
	c.Logger.Info("lab up", "nodes", o.Nodes, "registry", !o.NoRegistry, "containerd", !o.NoContainerd, "agents", !o.NoAgent)
	return l, nil
}

// checkAbsent fails with ErrExists if c's state file or namespaces exist.
func checkAbsent(c Config) error {
	if _, err := os.Stat(c.statePath()); err == nil {
		return fmt.Errorf("%w (state %s): run `lab down` first", ErrExists, c.statePath())
	}
	ns, err := labNetns(c)
	if err != nil {
		return err
	}
	if len(ns) > 0 {
		return fmt.Errorf("%w: namespaces %s exist: run `lab down` first", ErrExists, strings.Join(ns, ", "))
	}
	return nil
}

// build creates the network and starts the daemons of a new lab, recording
// every PID in s as soon as it exists.
func (l *Lab) build(ctx context.Context, o Options, s *state) error {
	c := l.cfg
	c.Logger.Debug("creating namespaces", "nodes", o.Nodes)
	if err := createNetwork(ctx, c, o.Nodes); err != nil {
		return err
	}
	if !o.NoContainerd {
		for i := range s.Nodes {
			pid, err := startContainerd(ctx, s.Nodes[i])
			if err != nil {
				return err
			}
			s.Nodes[i].ContainerdPID, s.Nodes[i].Containerd = pid, StateRunning
		}
	}
	if !o.NoRegistry {
		pid, err := startRegistry(ctx, c, o.Timeout)
		s.RegistryPID = pid
		if err != nil {
			return err
		}
	}
	if !o.NoContainerd {
		for _, n := range s.Nodes {
			if err := waitContainerd(ctx, n, n.ContainerdPID, o.Timeout); err != nil {
				return err
			}
		}
	}
	if o.NoAgent {
		return nil
	}
	for i := range s.Nodes {
		pid, err := startAgent(ctx, o.Bin, s.Nodes[i])
		if err != nil {
			return err
		}
		s.Nodes[i].AgentPID, s.Nodes[i].Agent = pid, StateRunning
	}
	for _, n := range s.Nodes {
		if err := waitAgent(ctx, o.Bin, n, n.AgentPID, o.Timeout); err != nil {
			return err
		}
	}
	return nil
}

// Load returns a handle on the lab at the default locations.
func Load() (*Lab, error) { return LoadConfig(Config{}) }

// LoadConfig returns a handle on the lab that c locates.
func LoadConfig(c Config) (*Lab, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	st, err := readState(c)
	if err != nil {
		return nil, err
	}
	return &Lab{cfg: c, timeout: 60 * time.Second, st: st}, nil
}

// refresh re-reads the state file.
func (l *Lab) refresh() error {
	st, err := readState(l.cfg)
	if err != nil {
		return err
	}
	l.set(st)
	return nil
}

func (l *Lab) set(st *state) {
	if st == nil {
		return
	}
	l.mu.Lock()
	l.st = st
	l.mu.Unlock()
}

func (l *Lab) snapshot() *state {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// Config returns where the lab lives.
func (l *Lab) Config() Config { return l.cfg }

// Nodes returns the lab's nodes in order n1..nN.
func (l *Lab) Nodes() []Node {
	return append([]Node(nil), l.snapshot().Nodes...)
}

// Node returns the named node.
func (l *Lab) Node(name string) (Node, error) {
	n, err := l.snapshot().node(name)
	if err != nil {
		return Node{}, err
	}
	return *n, nil
}

// Bin is the directory holding agent and agentctl ("" with --no-agent and
// no --bin).
func (l *Lab) Bin() string { return l.snapshot().Bin }

// RegistryAddr is HOST:PORT of the lab registry (see the package func).
func (l *Lab) RegistryAddr() string { return RegistryAddr() }

// Command prepares argv to run inside a node's namespace (or the hub's, for
// node HubName) with the node environment: SHOAL_HOST, SHOAL_API_SOCKET,
// CONTAINERD_ADDRESS, CONTAINERD_NAMESPACE, and the lab's bin dir first on
// PATH. The caller sets stdio and runs it.
func (l *Lab) Command(ctx context.Context, node string, argv ...string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("exec: no command given")
	}
	st := l.snapshot()
	netns, env := l.cfg.hubNetns(), nodeEnv(os.Environ(), st.Bin, nil)
	if node != HubName {
		n, err := st.node(node)
		if err != nil {
			return nil, err
		}
		netns, env = n.Netns, nodeEnv(os.Environ(), st.Bin, n)
	}
	full := nsArgv(netns, argv...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Env = env
	return cmd, nil
}

// Exec runs argv on node and returns its output. A non-zero exit is an
// error wrapping *exec.ExitError (use errors.As for the code).
func (l *Lab) Exec(ctx context.Context, node string, argv ...string) (stdout, stderr string, err error) {
	cmd, err := l.Command(ctx, node, argv...)
	if err != nil {
		return "", "", err
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errb.String(), fmt.Errorf("%s on %s: %w: %s", strings.Join(argv, " "), node, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), nil
}

// Agentctl runs the lab's agentctl on node against that node's agent and
// returns its stdout.
func (l *Lab) Agentctl(ctx context.Context, node string, args ...string) (string, error) {
	bin := l.snapshot().Bin
	if bin == "" {
		return "", fmt.Errorf("agentctl on %s: the lab has no bin dir (it was started with --no-agent and no --bin)", node)
	}
	out, _, err := l.Exec(ctx, node, append([]string{filepath.Join(bin, "agentctl")}, args...)...)
	return out, err
}

// HTTPClient returns a client whose connections start in node's namespace
// (or the hub's, for HubName), for talking to lab addresses from Go.
func (l *Lab) HTTPClient(node string) (*http.Client, error) {
	if node == HubName {
		return httpClientIn(l.cfg.hubNetns()), nil
	}
	n, err := l.Node(node)
	if err != nil {
		return nil, err
	}
	return httpClientIn(n.Netns), nil
}

// Dialer returns a DialFunc whose sockets are created in node's namespace
// (or the hub's, for HubName).
func (l *Lab) Dialer(node string) (DialFunc, error) {
	if node == HubName {
		return netnsDialer(l.cfg.hubNetns()), nil
	}
	n, err := l.Node(node)
	if err != nil {
		return nil, err
	}
	return netnsDialer(n.Netns), nil
}

// StartRegistry starts the registry if it is not running (`lab registry`).
func (l *Lab) StartRegistry(ctx context.Context) error {
	st, err := updateState(l.cfg, func(s *state) error {
		if isProc(s.RegistryPID, l.hubInode(), filepath.Base(registryBin)) {
			return nil
		}
		pid, err := startRegistry(ctx, l.cfg, l.timeout)
		s.RegistryPID = pid
		return err
	})
	l.set(st)
	return err
}

// Push copies an OCI archive into the lab registry as ref (NAME:TAG);
// nodes pull it as RegistryAddr()/NAME:TAG.
func (l *Lab) Push(ctx context.Context, archive, ref string) error {
	return push(ctx, l.cfg, archive, ref)
}

// Down removes the lab (see Teardown).
func (l *Lab) Down() error { return Teardown(l.cfg) }

// hubInode is the hub namespace's inode, or 0 if it is gone.
func (l *Lab) hubInode() uint64 {
	ino, _ := netnsInode(l.cfg.hubNetns())
	return ino
}
