// Package cli holds the kong command trees of `agent` and `agentctl`. It
// parses flags and calls into api/agent; it holds no logic of its own.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/shoal-org/shoal/agent"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/doctor"
	"github.com/shoal-org/shoal/membership"
)

// AgentCLI is the `agent` command.
type AgentCLI struct {
	APISocket string `name:"api-socket" env:"SHOAL_API_SOCKET" default:"/run/shoal/agent.sock" help:"The local agent's API socket."`

	Run       RunCmd       `cmd:"" help:"Run the agent daemon in the foreground."`
	Init      InitCmd      `cmd:"" help:"Make this agent a new cluster of one and print the join command for other hosts."`
	Join      JoinCmd      `cmd:"" help:"Join the cluster that PEER belongs to."`
	JoinToken JoinTokenCmd `cmd:"" name:"join-token" help:"Print the join command (or rotate the token)."`
	Leave     LeaveCmd     `cmd:"" help:"Leave the cluster for good (gracefully)."`
	Members   MembersCmd   `cmd:"" help:"Show the gossip view: every agent this one knows."`
	Info      InfoCmd      `cmd:"" help:"Show this agent's state."`
	Recover   RecoverCmd   `cmd:"" help:"Offline: make this agent (and the named survivors) the new raft voter set after quorum loss."`
	Doctor    DoctorCmd    `cmd:"" help:"Check what this host needs to run an agent, and how to fix each gap."`
	Version   VersionCmd   `cmd:"" help:"Print the version."`
}

// Globals is what every command receives.
type Globals struct {
	Out    io.Writer
	Client func() (*api.Client, error)
}

// RunAgent parses args and runs the `agent` command.
func RunAgent(args []string) int {
	var c AgentCLI
	// The client is made when a command asks for it, after parsing has
	// filled in --api-socket.
	client := func() (*api.Client, error) {
		cl, err := api.NewClient("unix://"+c.APISocket, nil)
		if err == nil {
			cl.Hint = "is `agent run` running? pass --api-socket or set SHOAL_API_SOCKET"
		}
		return cl, err
	}
	return runCLI("agent", "shoal agent: one per host; agents form the cluster among themselves.", &c, args, client)
}

// runCLI parses args into grammar and runs the chosen command, printing
// errors the way both binaries do. It returns the process exit code.
func runCLI(name, description string, grammar any, args []string, client func() (*api.Client, error)) int {
	g := &Globals{Out: os.Stdout, Client: client}
	k, err := kong.New(grammar, kong.Name(name), kong.Description(description), kong.UsageOnError(), kong.Bind(g))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	kctx, err := k.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	if err := kctx.Run(g); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	return 0
}

// RunCmd is `agent run`.
type RunCmd struct {
	DataDir          string        `default:"/var/lib/shoal" help:"Where the agent keeps its state."`
	Name             string        `help:"Node name (default: the hostname)."`
	Bind             string        `default:"0.0.0.0" help:"IP to listen on."`
	Advertise        string        `help:"IP other agents reach this one at (default: the bind IP, or the first non-loopback address)."`
	GossipPort       int           `default:"7946" help:"Gossip (serf) port, TCP and UDP."`
	RaftPort         int           `default:"7947" help:"Raft port (mutual TLS)."`
	APIPort          int           `default:"7948" help:"API port for agents and remote clients (mutual TLS)."`
	Containerd       string        `default:"/run/containerd/containerd.sock" help:"containerd socket."`
	InsecureRegistry []string      `help:"Registry (host:port) to reach over plain HTTP; repeatable. For labs only."`
	VoterGrace       time.Duration `default:"10s" help:"How long a raft voter may be failed before another agent replaces it."`
	GossipProfile    string        `default:"fast" enum:"fast,lan,slow" help:"Failure detection: fast (a dead host is seen in 1-2 s), lan (5-6 s, busy or virtualised hosts), slow (20-30 s, VMs without hardware virtualisation, overcommitted hosts). Every agent of a cluster should use the same."`
	TaskNetwork      string        `default:"overlay" enum:"overlay,host" help:"overlay: each task gets its own network namespace on the overlay, with service VIPs and DNS; host: tasks share the node's network (no VIPs, no DNS)."`
	Dataplane        string        `default:"auto" enum:"auto,ipvs,nftables,none" help:"Load balancer for VIPs and published ports: auto picks IPVS where the kernel has it, else nftables."`
	DNSUpstream      []string      `name:"dns-upstream" placeholder:"IP[:PORT]" help:"Server that names outside the cluster are forwarded to; repeatable; none for no forwarding (default: the host's /etc/resolv.conf)."`
	StopDrain        time.Duration `default:"2s" help:"How long a leaving task is out of every load balancer before it gets its stop signal (its stop grace period comes after)."`
	LogLevel         string        `env:"SHOAL_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
}

func (r *RunCmd) config() agent.Config {
	// kong's enum has already refused an unknown profile.
	timing, _ := membership.TimingProfile(r.GossipProfile)
	return agent.Config{
		GossipTiming: timing,
		DataDir:      r.DataDir, Name: r.Name, BindAddr: r.Bind, AdvertiseAddr: r.Advertise,
		GossipPort: r.GossipPort, RaftPort: r.RaftPort, APIPort: r.APIPort,
		Containerd: r.Containerd, InsecureRegistries: r.InsecureRegistry, VoterGrace: r.VoterGrace,
		TaskNetwork: r.TaskNetwork, Dataplane: r.Dataplane, StopDrain: r.StopDrain, DNSUpstreams: r.DNSUpstream,
	}
}

// Validate is called by kong after parsing, so a bad flag is refused
// before the daemon starts or writes anything. Port 0 is refused here
// (in agent.Config it means the default, which the flags already fill in).
func (r *RunCmd) Validate() error {
	for _, p := range []struct {
		flag string
		port int
	}{{"--gossip-port", r.GossipPort}, {"--raft-port", r.RaftPort}, {"--api-port", r.APIPort}} {
		if p.port == 0 {
			return fmt.Errorf("%s 0: a port is a number from 1 to 65535", p.flag)
		}
	}
	cfg := r.config()
	return cfg.Validate()
}

// Run starts the daemon. SIGTERM or SIGINT stop it gracefully; a second
// SIGINT exits at once.
func (r *RunCmd) Run(c *AgentCLI) error {
	var level slog.Level
	_ = level.UnmarshalText([]byte(r.LogLevel))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	cfg := r.config()
	cfg.APISocket, cfg.Logger = c.APISocket, logger
	doctorCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	doctor.Run(doctorCtx, doctor.Options{APISocket: c.APISocket, Containerd: r.Containerd, DataDir: r.DataDir,
		Bind: r.Bind, Advertise: r.Advertise, GossipPort: r.GossipPort, RaftPort: r.RaftPort, APIPort: r.APIPort}).Log(logger)
	cancel()
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		logger.Info("stopping", "signal", s.String())
		cancel()
		if s = <-sigs; s == syscall.SIGINT {
			logger.Warn("second interrupt: exiting now")
			os.Exit(1)
		}
	}()
	return a.Run(ctx)
}

// InitCmd is `agent init`.
type InitCmd struct {
	OverlayCIDR string `name:"overlay-cidr" help:"Address range split into per-node subnets for the overlay (default 10.240.0.0/16)."`
}

// Run asks the local agent to found a cluster.
func (i *InitCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	var resp api.InitResponse
	if err := c.Do(context.Background(), http.MethodPost, "/v1/cluster/init", api.InitRequest{OverlayCIDR: i.OverlayCIDR}, &resp); err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "Cluster initialized: this node (%s) is now its leader.\n\n", resp.NodeID)
	fmt.Fprintf(g.Out, "To add an agent to this cluster, run the following command on its host:\n\n    %s\n\n", resp.JoinCommand)
	return nil
}

// JoinCmd is `agent join`.
type JoinCmd struct {
	Token string `required:"" env:"SHOAL_JOIN_TOKEN" help:"Join token from 'agent join-token' on a member."`
	Peer  string `arg:"" help:"A member's address: HOST or HOST:PORT (API port, default 7948)."`
}

// Run asks the local agent to join.
func (j *JoinCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var resp api.JoinResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/cluster/join", api.JoinRequest{Token: j.Token, Peer: j.Peer}, &resp); err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "This node (%s) joined cluster %s.\n", resp.NodeID, resp.ClusterID)
	return nil
}

// JoinTokenCmd is `agent join-token`.
type JoinTokenCmd struct {
	Rotate bool `help:"Replace the token; the old one stops working (nodes already joined are not affected)."`
	Quiet  bool `short:"q" help:"Only print the token."`
}

// Run prints or rotates the token.
func (j *JoinTokenCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	var resp api.TokenResponse
	method, path := http.MethodGet, "/v1/cluster/join-token"
	if j.Rotate {
		method, path = http.MethodPost, "/v1/cluster/join-token/rotate"
	}
	if err := c.Do(context.Background(), method, path, nil, &resp); err != nil {
		return err
	}
	if j.Quiet {
		fmt.Fprintln(g.Out, resp.Token)
		return nil
	}
	if j.Rotate {
		fmt.Fprintln(g.Out, "Join token rotated.")
	}
	fmt.Fprintf(g.Out, "To add an agent to this cluster, run the following command on its host:\n\n    %s\n\n", resp.JoinCommand)
	return nil
}

// LeaveCmd is `agent leave`.
type LeaveCmd struct{}

// Run asks the local agent to leave.
func (LeaveCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Do(ctx, http.MethodPost, "/v1/cluster/leave", nil, nil); err != nil {
		return err
	}
	fmt.Fprintln(g.Out, "Node left the cluster.")
	return nil
}

// MembersCmd is `agent members`.
type MembersCmd struct {
	ListFlags
}

// Run prints the gossip view.
func (m *MembersCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	var members []api.Member
	if err := c.Do(context.Background(), http.MethodGet, "/v1/members", nil, &members); err != nil {
		return err
	}
	return table[api.Member]{
		header: []string{"NAME", "ID", "ADDRESS", "STATUS", "TAGS"},
		cells: func(m api.Member) []string {
			return []string{m.Name, m.ID, m.Addr, m.Status, formatTags(m.Tags)}
		},
		id: func(m api.Member) string { return m.ID },
	}.print(g.Out, m.ListFlags, members)
}

func formatTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ",")
}

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(g *Globals) error {
	fmt.Fprintln(g.Out, api.Version)
	return nil
}

// RecoverCmd is `agent recover`, which runs without the daemon.
type RecoverCmd struct {
	DataDir   string   `default:"/var/lib/shoal" help:"The stopped agent's data dir."`
	Advertise string   `required:"" help:"This agent's advertised IP (as given to 'agent run')."`
	RaftPort  int      `default:"7947" help:"This agent's raft port."`
	Survivor  []string `help:"Another surviving agent that becomes a voter, as NODEID@HOST:RAFTPORT; repeatable."`
}

// Run checks the flags, rewrites the raft configuration and raises the
// cluster's recovery generation.
func (r *RecoverCmd) Run(g *Globals) error {
	res, err := agent.Recover(r.DataDir, r.Advertise, r.RaftPort, r.Survivor, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "Raft configuration rewritten: voters are now %s.\n", strings.Join(res.Voters, ", "))
	fmt.Fprintf(g.Out, "Recovery generation: %s (was %s).\n", res.Generation, res.Previous)
	fmt.Fprintln(g.Out, "Run the same command on every other survivor, then start their agents. The old voters rejoin "+
		"this generation by themselves when they come back; their old raft state is set aside.")
	return nil
}
