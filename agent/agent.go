// Package agent is the daemon every host runs, and its wiring: it serves
// the API (the cluster's operations are package control's, over the seam
// the agent builds; the agent's own are its lifecycle's), and once the
// host is part of a cluster it runs membership, the raft replica, the
// worker, the network controller and, while it leads, the leader's loops.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/control"
	"github.com/shoal-org/shoal/engineapi"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/internal/hostaddr"
	"github.com/shoal-org/shoal/lb"
	"github.com/shoal-org/shoal/membership"
)

// Config is everything `agent run` takes.
type Config struct {
	DataDir       string
	Name          string // node hostname; default os.Hostname()
	BindAddr      string // IP to listen on; default 0.0.0.0
	AdvertiseAddr string // IP other agents use; default the first non-loopback address
	GossipPort    int
	RaftPort      int
	APIPort       int
	APISocket     string
	// DockerSocket is where the Docker Engine API (package engineapi)
	// listens for local docker clients: "" for docker.sock beside
	// APISocket (/run/shoal/docker.sock by default), "none" for nowhere.
	DockerSocket string
	// DockerTCP is HOST:PORT (or :PORT) to serve the Engine API on over
	// mutual TLS, for docker clients on other hosts with a certificate of
	// the cluster (docker's port is 2376); "" serves none.
	DockerTCP string
	// SecretsDir holds the secret and config files of this node's tasks,
	// a directory per task: it must be (or is made) an in-memory
	// filesystem. Default: "secrets" beside APISocket (/run/shoal/secrets).
	SecretsDir         string
	Containerd         string
	InsecureRegistries []string
	// TaskNetwork is "overlay" (each task in a network namespace of its own
	// on the cluster's overlay networks, with VIPs and DNS) or "host"/""
	// (tasks share the node's network namespace; no VIPs, no DNS).
	TaskNetwork string
	// Dataplane picks the load balancer for overlay mode: "auto"/"" (IPVS
	// where the kernel has it, else nftables), "ipvs", "nftables" or "none".
	Dataplane string
	// DNSUpstreams are the servers ("ip" or "ip:port") the task resolver
	// forwards other names to: nil for the host's resolv.conf, ["none"] for
	// none.
	DNSUpstreams []string
	// StopDrain is how long a leaving task stays out of the load balancers
	// before its stop signal; its grace period only starts after it.
	StopDrain time.Duration
	// GossipTiming and VoterGrace tune failure detection; zero values are
	// the defaults of the membership package.
	GossipTiming membership.Timing
	// RaftTiming tunes elections and the leader's lease; zero values are
	// DefaultRaftTiming's.
	RaftTiming membership.RaftTiming
	VoterGrace time.Duration
	Logger     *slog.Logger
}

func (c *Config) setDefaults() error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/shoal"
	}
	switch c.TaskNetwork {
	case "", "host":
		c.TaskNetwork = "host"
	case "overlay":
		if c.Dataplane == "" || c.Dataplane == "auto" {
			c.Dataplane = lb.Detect()
		}
		if _, ok := map[string]bool{"ipvs": true, "nftables": true, "none": true}[c.Dataplane]; !ok {
			return fmt.Errorf("dataplane %q: use auto, ipvs, nftables or none", c.Dataplane)
		}
	default:
		return fmt.Errorf("task network %q: use overlay or host", c.TaskNetwork)
	}
	if c.APISocket == "" {
		c.APISocket = api.DefaultSocket
	}
	if c.SecretsDir == "" {
		c.SecretsDir = filepath.Join(filepath.Dir(c.APISocket), "secrets")
	}
	if c.DockerSocket == "" {
		c.DockerSocket = filepath.Join(filepath.Dir(c.APISocket), "docker.sock")
	}
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: %w (pass --name)", err)
		}
		c.Name = h
	}
	if c.GossipPort == 0 {
		c.GossipPort = api.DefaultGossipPort
	}
	if c.RaftPort == 0 {
		c.RaftPort = api.DefaultRaftPort
	}
	if c.APIPort == 0 {
		c.APIPort = api.DefaultAPIPort
	}
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0"
	}
	if c.AdvertiseAddr == "" {
		if ip := net.ParseIP(c.BindAddr); ip != nil && !ip.IsUnspecified() {
			c.AdvertiseAddr = c.BindAddr
		} else {
			addr, err := hostaddr.First()
			if err != nil {
				return err
			}
			c.AdvertiseAddr = addr
		}
	}
	if ip := net.ParseIP(c.AdvertiseAddr); ip == nil || ip.IsUnspecified() || ip.IsMulticast() {
		return fmt.Errorf("--advertise %q is not an IP address other hosts can reach this one at (pass --advertise with this host's IP)", c.AdvertiseAddr)
	}
	if c.VoterGrace == 0 {
		c.VoterGrace = 10 * time.Second
	}
	return nil
}

// Validate checks what the user passed, before any default is filled in
// and before anything is started or written: the addresses are IPs, the
// ports are 1..65535 (0: the default) and pairwise distinct once defaulted,
// and the durations are not negative. Errors name the flag.
func (c *Config) Validate() error {
	if c.BindAddr != "" && net.ParseIP(c.BindAddr) == nil {
		return fmt.Errorf("--bind %q is not an IP address: pass an address of this host, or 0.0.0.0 for all", c.BindAddr)
	}
	if ip := net.ParseIP(c.BindAddr); ip != nil && ip.IsMulticast() {
		return fmt.Errorf("--bind %s is a multicast address: pass an address of this host, or 0.0.0.0 for all", c.BindAddr)
	}
	if c.AdvertiseAddr != "" {
		if ip := net.ParseIP(c.AdvertiseAddr); ip == nil || ip.IsUnspecified() || ip.IsMulticast() {
			return fmt.Errorf("--advertise %q is not an IP address other hosts can reach this one at: pass this host's IP", c.AdvertiseAddr)
		}
	}
	ports := []struct {
		flag string
		port *int
		def  int
	}{{"--gossip-port", &c.GossipPort, api.DefaultGossipPort}, {"--raft-port", &c.RaftPort, api.DefaultRaftPort}, {"--api-port", &c.APIPort, api.DefaultAPIPort}}
	seen := map[int]string{}
	for _, p := range ports {
		if *p.port < 0 || *p.port > 65535 {
			return fmt.Errorf("%s %d: a port is a number from 1 to 65535 (default %d)", p.flag, *p.port, p.def)
		}
		port := *p.port
		if port == 0 {
			port = p.def
		}
		if other, ok := seen[port]; ok {
			return fmt.Errorf("%s %d is also %s: the gossip, raft and API ports must differ", p.flag, port, other)
		}
		seen[port] = p.flag
	}
	if c.DockerTCP != "" {
		host, port, err := net.SplitHostPort(c.DockerTCP)
		n, perr := strconv.Atoi(port)
		switch {
		case err != nil || perr != nil || n < 1 || n > 65535:
			return fmt.Errorf("--docker-tcp %q: give HOST:PORT or :PORT, such as :2376", c.DockerTCP)
		case host != "" && net.ParseIP(host) == nil:
			return fmt.Errorf("--docker-tcp %q: the host must be an IP address of this host (or empty for all)", c.DockerTCP)
		case seen[n] != "":
			return fmt.Errorf("--docker-tcp %q: port %d is also %s: pick another, such as 2376", c.DockerTCP, n, seen[n])
		}
	}
	if c.VoterGrace < 0 {
		return fmt.Errorf("--voter-grace %v is negative: pass a duration such as 10s", c.VoterGrace)
	}
	if c.StopDrain < 0 {
		return fmt.Errorf("--stop-drain %v is negative: pass a duration such as 2s, or 0 for none", c.StopDrain)
	}
	return nil
}

// Agent is one host's daemon. Run it once.
type Agent struct {
	// Ops are the cluster's operations of the API (see backend.go).
	*control.Ops

	cfg Config
	log *slog.Logger
	id  *identity

	mu sync.Mutex // guards id, cl and joining
	cl *cluster
	// joining is set while init or join runs so that two cannot race.
	joining bool

	runCtx context.Context
	wg     sync.WaitGroup
}

// New validates cfg and reads the data dir.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	id, err := loadIdentity(cfg.DataDir, cfg.Name)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, id: id}
	a.Ops = control.New(a.controlCluster)
	return a, nil
}

// Run serves until ctx ends, then stops gracefully: the node is seen as
// failed (Down) by the others until it comes back; `agent leave` is the way
// to leave for good. If the data dir names a cluster, Run rejoins it.
func (a *Agent) Run(ctx context.Context) error {
	a.runCtx = ctx
	unlock, err := lockDataDir(a.cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	ln, err := listenUnix(a.cfg.APISocket)
	if err != nil {
		return err
	}
	srv := a.serve(ln, apiserver.New(a).Handler(false), "local API")
	var dockerSrv *http.Server
	if a.cfg.DockerSocket != "none" {
		dln, err := listenUnix(a.cfg.DockerSocket)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("docker API socket: %w", err)
		}
		dockerSrv = a.serve(dln, engineapi.New(a).Handler(false), "docker API")
	}
	id := a.ident()
	a.log.Info("agent started", "node", id.NodeID, "name", id.Name, "socket", a.cfg.APISocket,
		"docker_socket", a.cfg.DockerSocket, "advertise", a.cfg.AdvertiseAddr)

	if id.ClusterID != "" {
		if err := a.startCluster(ctx, nil, false); err != nil {
			a.log.Error("rejoining cluster failed; the API stays up for diagnosis", "cluster", id.ClusterID, "err", err)
		}
	}
	if err := notifySystemd("READY=1"); err != nil {
		a.log.Warn("could not tell systemd the agent is ready", "err", err)
	}
	<-ctx.Done()
	_ = notifySystemd("STOPPING=1")

	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if dockerSrv != nil {
		_ = dockerSrv.Shutdown(shutCtx)
		_ = os.Remove(a.cfg.DockerSocket)
	}
	a.stopCluster(false)
	a.wg.Wait()
	_ = os.Remove(a.cfg.APISocket)
	a.log.Info("agent stopped")
	return nil
}

// serve serves h on ln in a goroutine the agent waits for; what names the
// listener in the log.
func (a *Agent) serve(ln net.Listener, h http.Handler, what string) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error(what+" stopped", "err", err)
		}
	}()
	return srv
}

// ident returns the current identity.
func (a *Agent) ident() *identity {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// setIdent replaces the identity after an init, join or leave.
func (a *Agent) setIdent(id *identity) {
	a.mu.Lock()
	a.id = id
	a.mu.Unlock()
}

// stopCluster detaches the running cluster, if any, and stops it; leave
// announces a graceful departure to gossip first.
func (a *Agent) stopCluster(leave bool) {
	a.mu.Lock()
	cl := a.cl
	a.cl = nil
	a.mu.Unlock()
	if cl != nil {
		cl.stop(leave)
	}
}

// cluster returns the running cluster or an error telling the user how to
// get one.
func (a *Agent) cluster() (*cluster, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cl == nil {
		return nil, errNotInCluster
	}
	return a.cl, nil
}

var errNotInCluster = &fault.Error{Kind: fault.Conflict, Msg: "this agent is not part of a cluster: run `agent init` to start one, or `agent join --token TOKEN PEER` to join one"}

func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("API socket %s is in use: another agent is running with it (stop it, or pass --api-socket)", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// Root-only: anyone who can talk to this socket controls the cluster.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}
