package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// stopTimeout bounds how long Stop waits for an agent to exit on SIGTERM.
const stopTimeout = 30 * time.Second

// nodeOp runs fn on the named node under the state lock.
func (l *Lab) nodeOp(name string, fn func(s *state, n *Node, ino uint64) error) error {
	st, err := updateState(l.cfg, func(s *state) error {
		n, err := s.node(name)
		if err != nil {
			return err
		}
		ino, err := netnsInode(n.Netns)
		if err != nil {
			return fmt.Errorf("node %s: %w; the lab is broken, run `lab down`", name, err)
		}
		return fn(s, n, ino)
	})
	l.set(st)
	return err
}

// Kill SIGKILLs the agent of node and waits until it is gone; containerd
// and containers keep running. With host, it simulates a power loss
// instead: every process in the node's namespace and their descendants
// (agent, containerd, shims, containers) are SIGKILLed and the node's cable
// is cut; Start brings it back.
func (l *Lab) Kill(node string, host bool) error {
	ctx := context.Background()
	return l.nodeOp(node, func(s *state, n *Node, ino uint64) error {
		if host {
			return killHost(ctx, l.cfg, n)
		}
		if !isProc(n.AgentPID, ino, "agent") {
			return fmt.Errorf("kill agent on %s: %s", n.Name, notRunning(l.agentState(n, ino)))
		}
		if err := syscall.Kill(n.AgentPID, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill agent on %s (pid %d): %w", n.Name, n.AgentPID, err)
		}
		n.Agent = StateKilled
		if err := waitGone(ctx, []int{n.AgentPID}, 10*time.Second); err != nil {
			return fmt.Errorf("kill agent on %s: %w", n.Name, err)
		}
		return nil
	})
}

// killHost is Kill with host set. Besides killing, it drops what a real
// reboot loses: every mount under the node's directories, its run dir
// (tmpfs on a real host: containerd state, sockets) and the kernel network
// state in its namespace apart from lo and eth0 (links the agent made,
// nftables rules). Persistent data under DataDir/nK stays.
func killHost(ctx context.Context, c Config, n *Node) error {
	n.LinkDown = true
	if err := setLink(ctx, c, n.Index, false); err != nil {
		return fmt.Errorf("kill host %s: %w", n.Name, err)
	}
	if err := killNetns(ctx, n.Netns); err != nil {
		return fmt.Errorf("kill host %s: %w", n.Name, err)
	}
	if n.Agent != StateNone {
		n.Agent = StateKilled
	}
	if n.Containerd != StateNone {
		n.Containerd = StateKilled
	}
	runDir := filepath.Join(c.RunDir, n.Name)
	for _, d := range []string{runDir, filepath.Join(c.DataDir, n.Name)} {
		if err := unmountUnder(d); err != nil {
			return fmt.Errorf("kill host %s: %w", n.Name, err)
		}
	}
	if err := os.RemoveAll(runDir); err != nil {
		return fmt.Errorf("kill host %s: wipe %s: %w", n.Name, runDir, err)
	}
	if err := resetNetns(ctx, n.Netns); err != nil {
		return fmt.Errorf("kill host %s: %w", n.Name, err)
	}
	return nil
}

// Stop sends SIGTERM to node's agent and waits up to 30s for it to exit.
func (l *Lab) Stop(node string) error {
	ctx := context.Background()
	return l.nodeOp(node, func(s *state, n *Node, ino uint64) error {
		if !isProc(n.AgentPID, ino, "agent") {
			return fmt.Errorf("stop agent on %s: %s", n.Name, notRunning(l.agentState(n, ino)))
		}
		if err := syscall.Kill(n.AgentPID, syscall.SIGTERM); err != nil {
			return fmt.Errorf("stop agent on %s (pid %d): %w", n.Name, n.AgentPID, err)
		}
		if err := waitGone(ctx, []int{n.AgentPID}, stopTimeout); err != nil {
			return agentErr(*n, fmt.Errorf("no exit after SIGTERM: %w", err))
		}
		n.Agent = StateStopped
		return nil
	})
}

// Start brings node back: it relinks a host that was killed, restarts its
// containerd if that is not running, and starts the agent with the same
// flags as Up (no join: the agent rejoins from its data dir). It waits until
// containerd and the agent answer. Starting a running agent is an error.
func (l *Lab) Start(node string) error {
	ctx := context.Background()
	var n Node
	var ctrdPID int
	err := l.nodeOp(node, func(s *state, np *Node, ino uint64) error {
		if !s.NoAgent && isProc(np.AgentPID, ino, "agent") {
			return fmt.Errorf("start agent on %s: already running (pid %d); stop or kill it first", np.Name, np.AgentPID)
		}
		if np.LinkDown {
			if err := setLink(ctx, l.cfg, np.Index, true); err != nil {
				return err
			}
			np.LinkDown = false
		}
		if !s.NoContainerd && !isProc(np.ContainerdPID, ino, "containerd") {
			pid, err := startContainerd(ctx, *np)
			if err != nil {
				return err
			}
			np.ContainerdPID, np.Containerd, ctrdPID = pid, StateRunning, pid
		}
		if !s.NoAgent {
			pid, err := startAgent(ctx, s.Bin, *np)
			if err != nil {
				return err
			}
			np.AgentPID, np.Agent = pid, StateRunning
		}
		n = *np
		return nil
	})
	if err != nil {
		return err
	}
	// Wait outside the lock so other lab operations are not held up.
	if ctrdPID != 0 {
		if err := waitContainerd(ctx, n, ctrdPID, l.timeout); err != nil {
			return err
		}
	}
	if n.Agent == StateRunning {
		return waitAgent(ctx, l.snapshot().Bin, n, n.AgentPID, l.timeout)
	}
	return nil
}

// agentState describes a node's agent for error messages and Status.
func (l *Lab) agentState(n *Node, ino uint64) ProcState {
	return liveState(n.Agent, n.AgentPID, ino, "agent")
}

// notRunning explains why there is no agent to signal.
func notRunning(st ProcState) string {
	if st == StateNone {
		return "not running (the lab was started with --no-agent)"
	}
	return "not running (" + string(st) + "); `lab start` it"
}

// liveState combines what the lab recorded with what is alive now.
func liveState(recorded ProcState, pid int, ino uint64, exe string) ProcState {
	switch {
	case recorded == StateNone:
		return StateNone
	case isProc(pid, ino, exe):
		return StateRunning
	case recorded == StateRunning:
		return StateExited
	default:
		return recorded
	}
}

// Partition cuts the named nodes off from all other nodes: the named ones
// still reach each other and the hub (registry). It replaces any earlier
// partition.
func (l *Lab) Partition(nodes ...string) error {
	st, err := updateState(l.cfg, func(s *state) error {
		group, others, err := splitNodes(s.Nodes, nodes)
		if err != nil {
			return err
		}
		if err := applyNft(context.Background(), l.cfg, partitionScript(group, others)); err != nil {
			return err
		}
		s.Partition = append([]string(nil), nodes...)
		return nil
	})
	l.set(st)
	return err
}

// Heal removes any partition.
func (l *Lab) Heal() error {
	st, err := updateState(l.cfg, func(s *state) error {
		if err := applyNft(context.Background(), l.cfg, healScript()); err != nil {
			return err
		}
		s.Partition = nil
		return nil
	})
	l.set(st)
	return err
}

// NodeStatus is what Status reports about one node.
type NodeStatus struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
	// AgentPID is 0 unless the agent is running.
	AgentPID      int       `json:"AgentPID"`
	Agent         ProcState `json:"Agent"`
	ContainerdPID int       `json:"ContainerdPID"`
	Containerd    ProcState `json:"Containerd"`
	LinkDown      bool      `json:"LinkDown"`
	Partitioned   bool      `json:"Partitioned"`
	AgentLog      string    `json:"AgentLog"`
}

// Status reports each node's daemons as they are now.
func (l *Lab) Status() ([]NodeStatus, error) {
	if err := l.refresh(); err != nil {
		return nil, err
	}
	s := l.snapshot()
	part := map[string]bool{}
	for _, p := range s.Partition {
		part[p] = true
	}
	out := make([]NodeStatus, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		ino, _ := netnsInode(n.Netns)
		ns := NodeStatus{
			Name: n.Name, Address: n.Addr,
			Agent:       liveState(n.Agent, n.AgentPID, ino, "agent"),
			Containerd:  liveState(n.Containerd, n.ContainerdPID, ino, "containerd"),
			LinkDown:    n.LinkDown,
			Partitioned: part[n.Name],
			AgentLog:    n.AgentLog,
		}
		if ns.Agent == StateRunning {
			ns.AgentPID = n.AgentPID
		}
		if ns.Containerd == StateRunning {
			ns.ContainerdPID = n.ContainerdPID
		}
		out = append(out, ns)
	}
	return out, nil
}

// RegistryRunning reports whether the lab's registry process is alive.
func (l *Lab) RegistryRunning() bool {
	return isProc(l.snapshot().RegistryPID, l.hubInode(), filepath.Base(registryBin))
}
