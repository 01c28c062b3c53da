package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"
)

// cli is the `lab` command tree. It only parses and calls the library.
type cli struct {
	RunDir  string `help:"Directory for state, sockets and containerd state (default ${run_dir}, or ${run_dir}-PREFIX with another --prefix)." env:"SHOAL_LAB_RUN_DIR" placeholder:"DIR"`
	DataDir string `help:"Directory for containerd roots, agent data, logs and the registry (default ${data_dir}, or ${data_dir}-PREFIX with another --prefix)." env:"SHOAL_LAB_DATA_DIR" placeholder:"DIR"`
	Prefix  string `help:"Namespace name prefix (PREFIX-hub, PREFIX-nK)." default:"${prefix}" env:"SHOAL_LAB_PREFIX"`
	Verbose bool   `short:"v" help:"Log progress in detail."`

	Up        upCmd        `cmd:"" help:"Create the lab: hub, nodes, registry, containerds, agents, cluster."`
	Down      downCmd      `cmd:"" help:"Remove the lab and everything it created (idempotent)."`
	Exec      execCmd      `cmd:"" help:"Run a command inside a node (or the hub) with the node's environment."`
	Kill      killCmd      `cmd:"" help:"SIGKILL a node's agent, or with --host the whole node (power loss)."`
	Stop      stopCmd      `cmd:"" help:"SIGTERM a node's agent and wait for it to exit."`
	Start     startCmd     `cmd:"" help:"Start a node's agent again (relinks and restarts containerd if needed)."`
	Partition partitionCmd `cmd:"" help:"Cut the named nodes off from the others."`
	Heal      healCmd      `cmd:"" help:"Remove the partition."`
	Status    statusCmd    `cmd:"" help:"Show each node's agent and containerd."`
	Registry  registryCmd  `cmd:"" help:"Start the lab registry on ${registry} if it is not running."`
	Push      pushCmd      `cmd:"" help:"Push an OCI archive into the lab registry."`
	Images    imagesCmd    `cmd:"" help:"Build the test images (web, crash, unhealthy) and the application images (redis, nginx, from Debian packages with mmdebstrap; cached), push them into the lab registry and print their references."`
	Bench     benchCmd     `cmd:"" help:"Benchmarks on the running lab."`
}

// runEnv is what every command's Run receives.
type runEnv struct {
	ctx    context.Context
	cfg    Config
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (e *runEnv) load() (*Lab, error) { return LoadConfig(e.cfg) }

type upCmd struct {
	Nodes        int           `short:"n" required:"" help:"Number of nodes (1..253)."`
	Bin          string        `help:"Directory with agent and agentctl (default: this program's directory)." placeholder:"DIR"`
	NoContainerd bool          `help:"Do not start containerd on the nodes."`
	NoAgent      bool          `help:"Do not start agents (network, registry and containerd only)."`
	NoRegistry   bool          `help:"Do not start the registry."`
	Timeout      time.Duration `default:"60s" help:"Deadline of each readiness wait."`
}

func (c *upCmd) Run(e *runEnv) error {
	l, err := Up(e.ctx, Options{Config: e.cfg, Nodes: c.Nodes, Bin: c.Bin, NoContainerd: c.NoContainerd,
		NoAgent: c.NoAgent, NoRegistry: c.NoRegistry, Timeout: c.Timeout})
	if err != nil {
		return err
	}
	st, err := l.Status()
	if err != nil {
		return err
	}
	return writeStatusTable(e.stdout, st)
}

type downCmd struct{}

func (downCmd) Run(e *runEnv) error { return Teardown(e.cfg) }

type execCmd struct {
	Node string   `arg:"" help:"Node name (n1..nN) or hub."`
	Cmd  []string `arg:"" passthrough:"" help:"Command and arguments (after --)."`
}

// exitStatus carries a command's exit code out of Main.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

func (c *execCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	args := c.Cmd
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	// Not e.ctx: ^C must reach the child as a signal, not kill it.
	cmd, err := l.Command(context.WithoutCancel(e.ctx), c.Node, args...)
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	// The terminal delivers ^C and ^\ to the child too; the lab outlives
	// them so it can report the child's exit status.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code >= 0 {
			return exitStatus(code)
		}
		return exitStatus(128 + int(ee.Sys().(syscall.WaitStatus).Signal()))
	}
	return err
}

type killCmd struct {
	Host bool   `help:"Power loss: kill every process of the node and cut its link."`
	Node string `arg:""`
}

func (c *killCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	return l.Kill(c.Node, c.Host)
}

type stopCmd struct {
	Node string `arg:""`
}

func (c *stopCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	return l.Stop(c.Node)
}

type startCmd struct {
	Node string `arg:""`
}

func (c *startCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	return l.Start(c.Node)
}

type partitionCmd struct {
	Nodes []string `arg:"" help:"Nodes to cut off from the rest."`
}

func (c *partitionCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	return l.Partition(c.Nodes...)
}

type healCmd struct{}

func (healCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	return l.Heal()
}

type statusCmd struct {
	Format string `enum:"table,json" default:"table" help:"Output format: table or json."`
}

func (c *statusCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	st, err := l.Status()
	if err != nil {
		return err
	}
	if c.Format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return writeStatusTable(e.stdout, st)
}

type registryCmd struct{}

func (registryCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	if err := l.StartRegistry(e.ctx); err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, RegistryAddr())
	return err
}

type pushCmd struct {
	Archive string `arg:"" type:"existingfile" help:"OCI archive (tar) to push."`
	Ref     string `arg:"" help:"NAME:TAG in the lab registry."`
}

func (c *pushCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	if err := l.Push(e.ctx, c.Archive, c.Ref); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s/%s\n", RegistryAddr(), c.Ref)
	return err
}

type benchCmd struct {
	Scale     benchScaleCmd     `cmd:"" help:"Time service scale NAME=N until all run, against creating and starting the same containers through containerd."`
	EngineAPI benchEngineAPICmd `cmd:"" name:"engine-api" help:"Time docker service ls / ps (the real docker CLI) and their server requests with many services."`
}

type benchEngineAPICmd struct {
	Node     string `default:"n1" help:"Node whose Engine API is timed."`
	Services int    `default:"1000" help:"Services of one (pending) task each; missing ones are created, and left for the next run."`
	Runs     int    `default:"10" help:"Runs of each command and request."`
}

func (c *benchEngineAPICmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	r, err := l.BenchEngineAPI(e.ctx, c.Node, c.Services, c.Runs)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d services of one task on %s (creating the missing ones took %v); median of %d runs:\n",
		r.Services, c.Node, r.Created.Round(time.Millisecond), c.Runs)
	for _, row := range []struct {
		what string
		ds   []time.Duration
	}{
		{"docker service ls (CLI, end to end)", r.ServiceLs},
		{"docker service ps ONE (CLI, end to end)", r.ServicePs},
		{"GET /services?status=true (server)", r.ListStatus},
		{"GET /tasks?filters=service (server)", r.TasksOfOne},
	} {
		fmt.Fprintf(e.stdout, "  %-42s %v (min %v, max %v)\n", row.what, Median(row.ds).Round(100*time.Microsecond),
			slices.Min(row.ds).Round(100*time.Microsecond), slices.Max(row.ds).Round(100*time.Microsecond))
	}
	return nil
}

type benchScaleCmd struct {
	Replicas    int  `default:"60" help:"Tasks to scale to."`
	Runs        int  `default:"3" help:"Runs (each: raw containerd, then shoal)."`
	Healthcheck bool `help:"Keep the image's healthcheck (probes every second) instead of --no-healthcheck."`
}

func (c *benchScaleCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	refs, err := l.PushTestImages(e.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "scale 0 -> %d tasks of %s on %d nodes\n", c.Replicas, refs[0], len(l.Nodes()))
	for run := 1; run <= c.Runs; run++ {
		r, err := l.BenchScale(e.ctx, refs[0], c.Replicas, c.Healthcheck)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "run %d: shoal %v, containerd %v, ratio %.2f\n", run,
			r.Shoal.Round(time.Millisecond), r.Raw.Round(time.Millisecond), r.Ratio())
	}
	return nil
}

type imagesCmd struct {
	NoApps bool `help:"Only the Go test images: skip redis and nginx (which need mmdebstrap and, unless cached, the Debian mirror)."`
}

func (c imagesCmd) Run(e *runEnv) error {
	l, err := e.load()
	if err != nil {
		return err
	}
	refs, err := l.PushTestImages(e.ctx)
	if err != nil {
		return err
	}
	if err := printLines(e.stdout, refs); err != nil || c.NoApps {
		return err
	}
	apps, err := l.PushAppImages(e.ctx, func(format string, args ...any) {
		fmt.Fprintf(e.stderr, "lab: "+format+"\n", args...)
	})
	if err != nil {
		return fmt.Errorf("%w (lab images --no-apps skips them)", err)
	}
	return printLines(e.stdout, apps)
}

// printLines writes each line to w.
func printLines(w io.Writer, lines []string) error {
	for _, s := range lines {
		if _, err := fmt.Fprintln(w, s); err != nil {
			return err
		}
	}
	return nil
}

// writeStatusTable prints NAME ADDRESS AGENT-PID AGENT CONTAINERD.
func writeStatusTable(w io.Writer, st []NodeStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tAGENT-PID\tAGENT\tCONTAINERD")
	for _, s := range st {
		pid := "-"
		if s.AgentPID != 0 {
			pid = strconv.Itoa(s.AgentPID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Address, pid, s.Agent, s.Containerd)
	}
	return tw.Flush()
}

// Main runs the lab command line and returns the process exit code; `lab
// exec` returns the command's own code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	var c cli
	// kong calls Exit after --help; unwind instead of exiting the process.
	type exited struct{ code int }
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exited)
			if !ok {
				panic(r)
			}
			code = e.code
		}
	}()
	parser, err := kong.New(&c,
		kong.Name("lab"),
		kong.Description("Turn this Linux machine into a lab of shoal nodes (network namespaces on one bridge)."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exited{code}) }),
		kong.Vars{"run_dir": DefaultRunDir, "data_dir": DefaultDataDir, "prefix": DefaultPrefix, "registry": RegistryAddr()},
	)
	if err != nil {
		fmt.Fprintln(stderr, "lab:", err)
		return 2
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, "lab:", err)
		return 2
	}
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	env := &runEnv{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, cfg: Config{
		RunDir: c.RunDir, DataDir: c.DataDir, Prefix: c.Prefix,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}}
	err = kctx.Run(env)
	var es exitStatus
	switch {
	case errors.As(err, &es):
		return int(es)
	case err != nil:
		fmt.Fprintln(stderr, "lab:", err)
		return 1
	}
	return 0
}
