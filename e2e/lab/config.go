package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Fixed lab addressing. Every address lives inside lab namespaces only: the
// root namespace never gets an address or a route in 10.77/16.
const (
	// HubAddr is the bridge address in the hub namespace (the registry's).
	HubAddr = "10.77.0.254"
	// RegistryPort is the registry's TCP port on HubAddr.
	RegistryPort = 5000
	// GossipPort is the agent port `agent join` dials on n1.
	GossipPort = 7948
	// MaxNodes is the largest lab: node K gets 10.77.0.K and .254 is the hub.
	MaxNodes = 253

	subnetPrefix = "10.77.0."
	subnetBits   = 24
	bridgeName   = "lab0"
	// HubName is the name Exec, Command and HTTPClient accept for the hub
	// namespace (bridge, registry).
	HubName = "hub"
	// ContainerdNamespace is the containerd namespace the agent uses.
	ContainerdNamespace = "shoal"
	markerFile          = ".shoal-lab"
	netnsDir            = "/run/netns"
)

// Default locations of a lab's files and the default namespace prefix.
const (
	DefaultRunDir  = "/run/shoal-lab"
	DefaultDataDir = "/var/lib/shoal-lab"
	DefaultPrefix  = "shoal"
)

// ErrExists is returned by Up when a lab with the same Config already exists.
var ErrExists = errors.New("a lab is already up")

// ErrNoLab is returned when no lab is up for the Config.
var ErrNoLab = errors.New("no lab")

// ErrUnknownNode is returned for a node name the lab does not have.
var ErrUnknownNode = errors.New("unknown node")

// Config locates a lab: where its files live and how its namespaces are
// named. Two labs with different Configs can run side by side (their
// addresses are the same, but each lives in its own namespaces). The zero
// value means the defaults.
type Config struct {
	// RunDir holds the state file, sockets and containerd state
	// (default /run/shoal-lab).
	RunDir string
	// DataDir holds containerd roots, agent data dirs, logs and the
	// registry's storage (default /var/lib/shoal-lab).
	DataDir string
	// Prefix names the namespaces PREFIX-hub and PREFIX-nK (default shoal).
	Prefix string
	// Logger receives progress messages; nil means slog.Default().
	Logger *slog.Logger
}

// Options configures Up.
type Options struct {
	Config
	// Nodes is the number of nodes, 1..MaxNodes.
	Nodes int
	// Bin is the directory holding agent and agentctl; empty means the
	// directory of the running executable.
	Bin string
	// NoContainerd skips the per-node containerd.
	NoContainerd bool
	// NoAgent skips agents and cluster formation (for plumbing tests).
	NoAgent bool
	// NoRegistry skips the registry in the hub namespace.
	NoRegistry bool
	// Timeout bounds each readiness wait (daemon up, cluster Ready);
	// zero means 60s.
	Timeout time.Duration
}

// withDefaults fills the zero fields of c.
func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	// A lab of another prefix gets directories of its own too, so that
	// its `down` never touches the default lab's.
	suffix := ""
	if c.Prefix != DefaultPrefix {
		suffix = "-" + c.Prefix
	}
	if c.RunDir == "" {
		c.RunDir = DefaultRunDir + suffix
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir + suffix
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate rejects Configs that could make Down remove something that is
// not the lab's.
func (c Config) validate() error {
	for _, d := range []string{c.RunDir, c.DataDir} {
		if !filepath.IsAbs(d) || filepath.Clean(d) != d || strings.Count(d, "/") < 2 {
			return fmt.Errorf("lab directory %q: need a clean absolute path at least two levels deep, e.g. /run/shoal-lab", d)
		}
	}
	if c.RunDir == c.DataDir {
		return fmt.Errorf("lab run dir and data dir are both %q: give them different paths", c.RunDir)
	}
	for _, r := range c.Prefix {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("lab prefix %q: use lower-case letters and digits only", c.Prefix)
		}
	}
	if len(c.Prefix) > 16 {
		return fmt.Errorf("lab prefix %q: at most 16 characters", c.Prefix)
	}
	return nil
}

// withDefaults fills the zero fields of o, resolving Bin.
func (o Options) withDefaults() (Options, error) {
	o.Config = o.Config.withDefaults()
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("find the agent binaries: %w; pass --bin DIR", err)
		}
		o.Bin = filepath.Dir(exe)
	}
	if o.Bin != "" {
		abs, err := filepath.Abs(o.Bin)
		if err != nil {
			return o, fmt.Errorf("bin dir %q: %w", o.Bin, err)
		}
		o.Bin = abs
	}
	return o, nil
}

// validate checks o after withDefaults.
func (o Options) validate() error {
	if err := o.Config.validate(); err != nil {
		return err
	}
	if o.Nodes < 1 || o.Nodes > MaxNodes {
		return fmt.Errorf("lab with %d nodes: choose 1..%d", o.Nodes, MaxNodes)
	}
	if o.NoAgent {
		return nil
	}
	for _, b := range []string{"agent", "agentctl"} {
		p := filepath.Join(o.Bin, b)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable: build it (make) or pass --bin DIR, or use --no-agent", p)
		}
	}
	return nil
}

// nodeName is the name of the node with index k (1-based).
func nodeName(k int) string { return "n" + strconv.Itoa(k) }

// nodeIndex parses a node name; ok is false for anything but nK.
func nodeIndex(name string) (k int, ok bool) {
	s, found := strings.CutPrefix(name, "n")
	if !found || s == "" || s[0] == '0' {
		return 0, false
	}
	k, err := strconv.Atoi(s)
	if err != nil || k < 1 || k > MaxNodes {
		return 0, false
	}
	return k, true
}

// nodeAddr is the eth0 address of node k.
func nodeAddr(k int) string { return subnetPrefix + strconv.Itoa(k) }

// hubPort is the hub-side name of node k's veth.
func hubPort(k int) string { return "veth-" + nodeName(k) }

// hubNetns is the hub namespace's name.
func (c Config) hubNetns() string { return c.Prefix + "-hub" }

// nodeNetns is node k's namespace name.
func (c Config) nodeNetns(k int) string { return c.Prefix + "-" + nodeName(k) }

// netnsPath is where iproute2 pins a named namespace.
func netnsPath(name string) string { return filepath.Join(netnsDir, name) }

// isLabNetns reports whether a namespace name belongs to the lab c.
func (c Config) isLabNetns(name string) bool {
	rest, ok := strings.CutPrefix(name, c.Prefix+"-")
	if !ok {
		return false
	}
	if rest == HubName {
		return true
	}
	_, ok = nodeIndex(rest)
	return ok
}

func (c Config) statePath() string    { return filepath.Join(c.RunDir, "state.json") }
func (c Config) lockPath() string     { return filepath.Join(c.RunDir, "lock") }
func (c Config) registryDir() string  { return filepath.Join(c.DataDir, "registry") }
func (c Config) registryLog() string  { return filepath.Join(c.DataDir, "registry.log") }
func (c Config) registryConf() string { return filepath.Join(c.RunDir, "registry.yml") }

// RegistryAddr is HOST:PORT of the lab registry, reachable from every lab
// namespace (not from the root namespace).
func RegistryAddr() string { return HubAddr + ":" + strconv.Itoa(RegistryPort) }

// newNode derives every name and path of node k.
func (c Config) newNode(k int) Node {
	name := nodeName(k)
	run := filepath.Join(c.RunDir, name)
	data := filepath.Join(c.DataDir, name)
	return Node{
		Name:           name,
		Index:          k,
		Addr:           nodeAddr(k),
		Netns:          c.nodeNetns(k),
		AgentSock:      filepath.Join(run, "agent.sock"),
		DockerSock:     filepath.Join(run, "docker.sock"),
		ContainerdSock: filepath.Join(run, "containerd.sock"),
		DataDir:        filepath.Join(data, "agent"),
		AgentLog:       filepath.Join(data, "agent.log"),
		ContainerdRoot: filepath.Join(data, "containerd"),
		ContainerdRun:  filepath.Join(run, "containerd"),
		ContainerdConf: filepath.Join(run, "containerd.toml"),
		ContainerdLog:  filepath.Join(data, "containerd.log"),
	}
}
