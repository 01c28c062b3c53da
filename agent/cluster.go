package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-org/shoal/agent/netctl"
	ctrd "github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/control"
	"github.com/shoal-org/shoal/engineapi"
	"github.com/shoal-org/shoal/events"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/pki"
	"github.com/shoal-org/shoal/store"
)

// cluster is everything an agent runs once it belongs to a cluster: the
// replica, raft, gossip, the mTLS API listener and the leader's loops.
type cluster struct {
	a     *Agent
	id    *identity // the identity the cluster was started with
	log   *slog.Logger
	store *store.Store
	raft  *membership.Replica
	ml    *membership.Membership
	// guard gates raft on the recovery generation (see stale.go).
	guard *membership.GenGuard

	serverTLS *tls.Config // agent-to-agent API: client cert if given
	clientTLS *tls.Config // mutual TLS client for forwarding
	peerHTTP  *http.Client
	apiSrv    *http.Server
	dockerSrv *http.Server // --docker-tcp; nil when not served
	events    *events.Log  // what changed, for /v1/events and /events

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// kick wakes the leader's loops after a membership change.
	kickNodes chan struct{}
	kickPilot chan struct{}

	// netc wires tasks into the overlay; nil in host network mode, or
	// netErr says why it could not start.
	netc   *netctl.Controller
	netErr error

	// bootIndex is the raft log's last index when the agent started (> 0:
	// the agent has raft state); bootCommand is the index of the log's
	// last command then, and caughtUp is closed once the replica has
	// applied it (see catchup.go).
	bootIndex   uint64
	bootCommand uint64
	caughtUp    chan struct{}
	// leaderApplied is set while this agent leads and its replica holds
	// every entry committed before its term (its barrier returned): its
	// store's index is then the last committed command's.
	leaderApplied atomic.Bool
	// rejoined is set on a cluster started by a stale rejoin: its replica
	// starts empty, so only a leader's confirmation ends the catch-up.
	rejoined bool

	// leaders remembers when a leader was last observed (see status.go).
	leaders leaderWatch

	// dek is the cluster's data key while this agent leads (datakey.go).
	dek dataKeyCache

	// rt is the worker's container runtime once containerd is connected.
	rtMu sync.Mutex
	rt   *ctrd.Runtime

	// ctl is the seam package control's operations see of this cluster.
	ctl *control.Cluster
}

// startCluster brings up the cluster machinery from the identity on disk.
// bootstrap founds a new single-voter raft; joinPeers are gossip addresses
// to join (nil on restart: serf's snapshot finds the peers again).
func (a *Agent) startCluster(ctx context.Context, joinPeers []string, bootstrap bool) error {
	return a.startClusterWith(ctx, startOpts{peers: joinPeers, bootstrap: bootstrap})
}

// startOpts are startCluster's options.
type startOpts struct {
	peers     []string
	bootstrap bool
	// rejoin: a stale agent rejoins a higher generation with an empty raft;
	// failing to reach peers is not fatal (serf keeps trying) and the
	// replica counts as caught up only once a leader confirms it.
	rejoin bool
}

func (a *Agent) startClusterWith(ctx context.Context, o startOpts) error {
	cl, err := a.newCluster(ctx)
	if err != nil {
		return err
	}
	cl.rejoined = o.rejoin
	if o.bootstrap {
		cl.guard.Open()
		if err := cl.raft.Bootstrap(cl.id.NodeID, cl.raftAddr()); err != nil {
			cl.stop(false)
			return fmt.Errorf("bootstrap raft: %w", err)
		}
	}
	// An agent with raft state must learn the cluster's generation before
	// it may vote or campaign on that state; one without has nothing stale.
	hasState := cl.bootIndex > 0
	if !hasState {
		cl.guard.Open()
	}
	peers, ids := o.peers, []string(nil)
	if peers == nil {
		ids, peers = cl.gatePeers()
	}
	started := time.Now()
	switch {
	case len(peers) == 0:
	case o.peers == nil:
		// A restart: a peer that is down can hold a join for seconds, and
		// nothing waits for it: the gate (openGate) watches the members.
		cl.wg.Add(1)
		go func() { defer cl.wg.Done(); cl.joinKnown(peers) }()
	default:
		if _, err := cl.ml.Join(peers); err != nil && !o.rejoin {
			cl.stop(false)
			return fmt.Errorf("join gossip via %v: %w", peers, err)
		} else if err != nil {
			cl.log.Warn("could not reach any known peer yet; serf keeps trying", "err", err)
		}
	}
	if hasState {
		cl.wg.Add(1)
		go func() { defer cl.wg.Done(); cl.openGate(ids, peers, started) }()
	}
	cl.startLoops()
	a.mu.Lock()
	a.cl = cl
	a.mu.Unlock()
	return nil
}

func (a *Agent) newCluster(parent context.Context) (_ *cluster, err error) {
	id := a.ident()
	cfg := a.cfg
	ctx, cancel := context.WithCancel(parent)
	cl := &cluster{a: a, id: id, log: a.log, store: store.New(a.log), events: events.New(0), ctx: ctx, cancel: cancel,
		kickNodes: make(chan struct{}, 1), kickPilot: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			cl.stop(false)
		}
	}()
	raftServerTLS, err := pki.ServerTLS(id.caPEM, id.certPEM, id.keyPEM, tls.RequireAndVerifyClientCert)
	if err != nil {
		return nil, fmt.Errorf("raft TLS: %w", err)
	}
	raftServerTLS = pki.NodesOnly(raftServerTLS) // never a client certificate (agentctl cert create)
	if cl.serverTLS, err = pki.ServerTLS(id.caPEM, id.certPEM, id.keyPEM, tls.VerifyClientCertIfGiven); err != nil {
		return nil, fmt.Errorf("API TLS: %w", err)
	}
	if cl.clientTLS, err = pki.ClientTLS(id.caPEM, id.certPEM, id.keyPEM); err != nil {
		return nil, fmt.Errorf("client TLS: %w", err)
	}
	cl.peerHTTP = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: cl.clientTLS, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
		// A leader cut off by a partition must not hold a forwarded write
		// forever on a connection that was open before the cut.
		ResponseHeaderTimeout: 10 * time.Second}}

	cl.guard = membership.NewGenGuard(id.ClusterID, id.generation(), cl.onStale)
	if cl.bootCommand, err = membership.LastCommandIndex(id.path("raft")); err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	cl.raft, err = membership.OpenReplica(membership.RaftConfig{
		NodeID: id.NodeID, DataDir: id.path("raft"),
		BindAddr:      net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.RaftPort)),
		AdvertiseAddr: cl.raftAddr(), ServerTLS: raftServerTLS, ClientTLS: cl.clientTLS, Logger: a.log,
		Guard: cl.guard, Timing: cfg.RaftTiming,
	}, cl.store)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	cl.bootIndex, cl.caughtUp = cl.raft.LastIndex(), make(chan struct{})
	cl.ml, err = membership.Start(membership.Config{
		NodeID: id.NodeID, NodeName: id.Name,
		BindAddr: cfg.BindAddr, BindPort: cfg.GossipPort,
		AdvertiseAddr: cfg.AdvertiseAddr, AdvertisePort: cfg.GossipPort,
		Tags: cl.tags(), EncryptKey: id.gossipKey, SnapshotPath: id.path("serf.snapshot"),
		Timing: cfg.GossipTiming, Logger: a.log,
	})
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s:%d: %w", cfg.BindAddr, cfg.GossipPort, err)
	}
	cl.ctl = cl.newControl()
	apiAddr := net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.APIPort))
	if cl.apiSrv, err = cl.serveTLS(apiAddr, tcpHandler(a), cl.serverTLS, "TCP API"); err != nil {
		return nil, err
	}
	if cfg.DockerTCP != "" {
		// Every request needs a certificate of the cluster: a client's
		// (agentctl cert create) or a node's.
		dockerTLS, err := pki.ServerTLS(id.caPEM, id.certPEM, id.keyPEM, tls.RequireAndVerifyClientCert)
		if err != nil {
			return nil, fmt.Errorf("Engine API TLS: %w", err)
		}
		if cl.dockerSrv, err = cl.serveTLS(cfg.DockerTCP, engineapi.New(a).Handler(true), dockerTLS, "Engine API over TCP"); err != nil {
			return nil, err
		}
	}
	return cl, nil
}

// serveTLS serves h on addr with TLS until stop shuts the server down.
func (cl *cluster) serveTLS(addr string, h http.Handler, conf *tls.Config, what string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the %s on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, TLSConfig: conf, ReadHeaderTimeout: 10 * time.Second}
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cl.log.Error(what+" stopped", "err", err)
		}
	}()
	return srv, nil
}

// joinKnown joins the gossip addresses a restarted agent knows.
func (cl *cluster) joinKnown(peers []string) {
	if _, err := cl.ml.Join(peers); err != nil {
		cl.log.Warn("could not reach any known peer yet; serf keeps trying", "err", err)
	}
}

func (cl *cluster) raftAddr() string {
	return net.JoinHostPort(cl.a.cfg.AdvertiseAddr, strconv.Itoa(cl.a.cfg.RaftPort))
}

// tags are what other agents learn about this one through gossip.
func (cl *cluster) tags() map[string]string {
	cfg := cl.a.cfg
	return map[string]string{
		"api":  strconv.Itoa(cfg.APIPort),
		"raft": strconv.Itoa(cfg.RaftPort),
		"ver":  api.Version,
		"os":   runtime.GOOS,
		"arch": runtime.GOARCH,
		"cpus": strconv.FormatInt(int64(runtime.NumCPU())*1e9, 10),
		"mem":  strconv.FormatInt(memTotal(), 10),
		"dp":   cl.dataplane(),
		// The generation never changes while a cluster runs: a stale
		// rejoin starts a new one with new tags.
		membership.TagGen: cl.id.generation().String(),
	}
}

// knownPeers lists the gossip addresses of nodes in the local replica, so a
// restarted agent finds the cluster even if serf's snapshot is stale.
func (cl *cluster) knownPeers() []string {
	var peers []string
	for _, n := range cl.store.View().Nodes() {
		if n.ID != cl.id.NodeID && n.Addr != "" && n.GossipPort != 0 {
			peers = append(peers, net.JoinHostPort(n.Addr, strconv.Itoa(n.GossipPort)))
		}
	}
	return peers
}

func (cl *cluster) startLoops() {
	cl.wg.Add(2)
	go func() { defer cl.wg.Done(); cl.watchCatchUp() }()
	go func() { defer cl.wg.Done(); cl.watchLeader() }()
	cl.startNetwork()
	cl.wg.Add(4)
	go func() { defer cl.wg.Done(); cl.runEvents() }()
	go func() { defer cl.wg.Done(); cl.eventLoop() }()
	go func() { defer cl.wg.Done(); cl.leadershipLoop() }()
	go func() { defer cl.wg.Done(); cl.runWorker() }()
}

// eventLoop is the single consumer of membership events.
func (cl *cluster) eventLoop() {
	for {
		select {
		case <-cl.ctx.Done():
			return
		case ev, ok := <-cl.ml.Events():
			if !ok {
				return
			}
			cl.log.Debug("membership event", "kind", ev.Kind, "node", ev.Member.Name, "id", ev.Member.ID)
			cl.guard.ObserveMembers(cl.id.NodeID, []membership.Member{ev.Member})
			kick(cl.kickNodes)
			kick(cl.kickPilot)
		}
	}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// stop shuts the cluster machinery down. leave=true announces a graceful
// departure to gossip first.
func (cl *cluster) stop(leave bool) {
	if cl.cancel != nil {
		cl.cancel()
	}
	for _, srv := range []*http.Server{cl.apiSrv, cl.dockerSrv} {
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
		}
	}
	if cl.ml != nil {
		if leave {
			if err := cl.ml.Leave(5 * time.Second); err != nil {
				cl.log.Warn("gossip leave", "err", err)
			}
		}
		_ = cl.ml.Shutdown()
	}
	if cl.raft != nil {
		if err := cl.raft.Close(); err != nil {
			cl.log.Warn("raft shutdown", "err", err)
		}
	}
	cl.wg.Wait()
}

// tcpHandler is the TCP listener's API: shoal's /v1 and, on every other
// path, the Docker Engine API (which the other agents forward their docker
// clients' writes to, and remote docker clients with a cluster certificate
// reach). "/v1/" does not match Docker's "/v1.41/" prefixes.
func tcpHandler(a *Agent) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", apiserver.New(a).Handler(true))
	mux.Handle("/", engineapi.New(a).Handler(true))
	return mux
}
