// Package daemon is the `agent` binary's command tree: `agent run` starts
// the daemon, `recover` and `doctor` work on the host without it, and the
// commands that talk to the running agent come from package cli.
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-org/shoal/agent"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/cli"
	"github.com/shoal-org/shoal/doctor"
	"github.com/shoal-org/shoal/membership"
)

// AgentCLI is the `agent` command.
type AgentCLI struct {
	APISocket string `name:"api-socket" env:"SHOAL_API_SOCKET" default:"/run/shoal/agent.sock" help:"The local agent's API socket."`

	Run       RunCmd           `cmd:"" help:"Run the agent daemon in the foreground."`
	Init      cli.InitCmd      `cmd:"" help:"Make this agent a new cluster of one and print the join command for other hosts."`
	Join      cli.JoinCmd      `cmd:"" help:"Join the cluster that PEER belongs to."`
	JoinToken cli.JoinTokenCmd `cmd:"" name:"join-token" help:"Print the join command (or rotate the token)."`
	Leave     cli.LeaveCmd     `cmd:"" help:"Leave the cluster for good (gracefully)."`
	Members   cli.MembersCmd   `cmd:"" help:"Show the gossip view: every agent this one knows."`
	Info      cli.InfoCmd      `cmd:"" help:"Show this agent's state."`
	Recover   RecoverCmd       `cmd:"" help:"Offline: make this agent (and the named survivors) the new raft voter set after quorum loss."`
	Doctor    DoctorCmd        `cmd:"" help:"Check what this host needs to run an agent, and how to fix each gap."`
	Version   cli.VersionCmd   `cmd:"" help:"Print the version."`
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
	return cli.RunCLI("agent", "shoal agent: one per host; agents form the cluster among themselves.", &c, args, client)
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
	GossipProfile    string        `default:"fast" enum:"fast,lan,slow" help:"Failure detection and raft timing: fast (a dead host is seen in 1-2 s, raft's LAN defaults), lan (5-6 s, raft timeouts doubled; busy or virtualised hosts), slow (20-30 s, raft timeouts x5; VMs without hardware virtualisation, overcommitted hosts). Every agent of a cluster should use the same."`
	TaskNetwork      string        `default:"overlay" enum:"overlay,host" help:"overlay: each task gets its own network namespace on the overlay, with service VIPs and DNS; host: tasks share the node's network (no VIPs, no DNS)."`
	Dataplane        string        `default:"auto" enum:"auto,ipvs,nftables,none" help:"Load balancer for VIPs and published ports: auto picks IPVS where the kernel has it, else nftables."`
	DNSUpstream      []string      `name:"dns-upstream" placeholder:"IP[:PORT]" help:"Server that names outside the cluster are forwarded to; repeatable; none for no forwarding (default: the host's /etc/resolv.conf)."`
	StopDrain        time.Duration `default:"2s" help:"How long a leaving task is out of every load balancer before it gets its stop signal (its stop grace period comes after)."`
	DockerTCP        string        `name:"docker-tcp" placeholder:"[HOST]:PORT" help:"Also serve the Docker Engine API over TCP with mutual TLS on this address (docker's port is :2376), for docker clients on other hosts with a certificate from 'agentctl cert create'."`
	DockerSocket     string        `name:"docker-socket" placeholder:"PATH" help:"Unix socket of the Docker Engine API, for the docker CLI (DOCKER_HOST=unix://PATH); default docker.sock beside --api-socket (/run/shoal/docker.sock); none to serve none."`
	LogLevel         string        `env:"SHOAL_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
}

func (r *RunCmd) config() agent.Config {
	// kong's enum has already refused an unknown profile.
	timing, _ := membership.TimingProfile(r.GossipProfile)
	raftTiming, _ := membership.RaftTimingProfile(r.GossipProfile)
	return agent.Config{
		GossipTiming: timing, RaftTiming: raftTiming,
		DataDir: r.DataDir, Name: r.Name, BindAddr: r.Bind, AdvertiseAddr: r.Advertise,
		GossipPort: r.GossipPort, RaftPort: r.RaftPort, APIPort: r.APIPort,
		Containerd: r.Containerd, InsecureRegistries: r.InsecureRegistry, VoterGrace: r.VoterGrace,
		TaskNetwork: r.TaskNetwork, Dataplane: r.Dataplane, StopDrain: r.StopDrain, DNSUpstreams: r.DNSUpstream,
		DockerSocket: r.DockerSocket, DockerTCP: r.DockerTCP,
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

// RecoverCmd is `agent recover`, which runs without the daemon.
type RecoverCmd struct {
	DataDir   string   `default:"/var/lib/shoal" help:"The stopped agent's data dir."`
	Advertise string   `required:"" help:"This agent's advertised IP (as given to 'agent run')."`
	RaftPort  int      `default:"7947" help:"This agent's raft port."`
	Survivor  []string `help:"Another surviving agent that becomes a voter, as NODEID@HOST:RAFTPORT; repeatable."`
}

// Run checks the flags, rewrites the raft configuration and raises the
// cluster's recovery generation.
func (r *RecoverCmd) Run(g *cli.Globals) error {
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
