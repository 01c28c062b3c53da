package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ProcState is what the lab last did to (or saw of) a daemon.
type ProcState string

const (
	// StateRunning means the process is alive.
	StateRunning ProcState = "running"
	// StateStopped means the lab stopped it with SIGTERM.
	StateStopped ProcState = "stopped"
	// StateKilled means the lab killed it with SIGKILL.
	StateKilled ProcState = "killed"
	// StateExited means it died without the lab asking (read its log).
	StateExited ProcState = "exited"
	// StateNone means the lab does not run it (--no-agent, --no-containerd).
	StateNone ProcState = "none"
)

// Node is one lab host. Names and paths are fixed for the life of the lab;
// PIDs and states are as of the last operation through this Lab value (use
// Status for what is alive now).
type Node struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	// Addr is eth0's address in the node namespace (10.77.0.K).
	Addr  string `json:"addr"`
	Netns string `json:"netns"`

	AgentSock string `json:"agentSock"`
	// DockerSock is the node's Docker Engine API socket (DOCKER_HOST).
	DockerSock     string `json:"dockerSock"`
	ContainerdSock string `json:"containerdSock"`
	// DataDir is the agent's --data-dir.
	DataDir        string `json:"dataDir"`
	AgentLog       string `json:"agentLog"`
	ContainerdRoot string `json:"containerdRoot"`
	ContainerdRun  string `json:"containerdRun"`
	ContainerdConf string `json:"containerdConf"`
	ContainerdLog  string `json:"containerdLog"`

	AgentPID      int       `json:"agentPID"`
	Agent         ProcState `json:"agent"`
	ContainerdPID int       `json:"containerdPID"`
	Containerd    ProcState `json:"containerd"`
	// LinkDown is set by a host kill: the hub side of the veth is down.
	LinkDown bool `json:"linkDown"`
}

// state is the content of state.json.
type state struct {
	Version      int      `json:"version"`
	Prefix       string   `json:"prefix"`
	Bin          string   `json:"bin"`
	NoContainerd bool     `json:"noContainerd"`
	NoAgent      bool     `json:"noAgent"`
	RegistryPID  int      `json:"registryPID"`
	Partition    []string `json:"partition,omitempty"`
	Nodes        []Node   `json:"nodes"`
}

const stateVersion = 1

// node returns a pointer to the named node in s.
func (s *state) node(name string) (*Node, error) {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i], nil
		}
	}
	return nil, fmt.Errorf("node %q: %w (the lab has n1..n%d)", name, ErrUnknownNode, len(s.Nodes))
}

// readState reads the state file of c.
func readState(c Config) (*state, error) {
	b, err := os.ReadFile(c.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: run `lab up` first", ErrNoLab, c.statePath())
	}
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab state %s is garbled: %w; run `lab down` and `lab up` again", c.statePath(), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("lab state %s has version %d, want %d: run `lab down` and `lab up` again", c.statePath(), s.Version, stateVersion)
	}
	return &s, nil
}

// writeState replaces the state file atomically.
func writeState(c Config, s *state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := c.statePath() + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	if err := os.Rename(tmp, c.statePath()); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

// lockState takes the lab's file lock, which serialises read-modify-write of
// the state file across lab processes. The returned func releases it.
func lockState(c Config) (func(), error) {
	f, err := os.OpenFile(c.lockPath(), os.O_CREATE|os.O_RDWR, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: run `lab up` first", ErrNoLab, c.RunDir)
	}
	if err != nil {
		return nil, fmt.Errorf("open lab lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", c.lockPath(), err)
	}
	return func() { f.Close() }, nil
}

// updateState runs fn on the current state under the lock and writes the
// result back if fn succeeds. fn may do slow work (start processes); other
// lab processes wait for the lock meanwhile.
func updateState(c Config, fn func(*state) error) (*state, error) {
	unlock, err := lockState(c)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s, err := readState(c)
	if err != nil {
		return nil, err
	}
	ferr := fn(s)
	// Record what fn did even when it failed part-way (a PID it started).
	if err := writeState(c, s); err != nil {
		return s, errors.Join(ferr, err)
	}
	return s, ferr
}

// writeMarker marks dir as created by the lab so Down may delete it.
func writeMarker(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	p := filepath.Join(dir, markerFile)
	if err := os.WriteFile(p, []byte("created by shoal lab; `lab down` deletes this directory\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
