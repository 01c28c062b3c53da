package membership

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

const (
	// raftDBFile holds the raft log and stable store inside DataDir.
	raftDBFile = "raft.db"
	// snapshotsRetained is how many FSM snapshots are kept in
	// DataDir/snapshots.
	snapshotsRetained = 2
	// logCacheSize is how many recent log entries are kept in memory for
	// replication to followers.
	logCacheSize = 512
	// boltOpenTimeout bounds waiting for bolt's file lock, so a second
	// process on the same DataDir fails instead of hanging.
	boltOpenTimeout = 2 * time.Second
	// transportTimeout is raft's network I/O deadline per RPC.
	transportTimeout = 10 * time.Second
	// transportMaxPool is how many idle connections are kept per peer.
	transportMaxPool = 3
)

// RaftTiming holds raft's timeouts. A zero field takes
// DefaultRaftTiming's value.
type RaftTiming struct {
	// HeartbeatTimeout: a follower that has not heard from the leader for
	// a random time in [1x, 2x) this starts an election.
	HeartbeatTimeout time.Duration
	// ElectionTimeout: a candidate that has not won within a random time in
	// [1x, 2x) this starts a new election.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout: a leader that has not reached a quorum for this
	// long steps down. Must be <= HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds how long a leader waits to batch entries before
	// sending them.
	CommitTimeout time.Duration
}

// DefaultRaftTiming returns LAN timing: heartbeat and election 1 s, lease
// 500 ms, commit 50 ms (raft's own defaults). When the leader dies,
// followers notice within 1–2 s, and with pre-vote an election normally
// completes within one more 1–2 s round, so a new leader is elected in about
// 2–4 s, well under 10 s. Faster settings would trigger needless elections
// when an agent is CPU starved (e.g. while starting many containers).
func DefaultRaftTiming() RaftTiming {
	return RaftTiming{
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
	}
}

// RaftTimingProfile is raft's timing for a gossip profile (TimingProfile):
// fast keeps DefaultRaftTiming; lan doubles it and slow multiplies it by
// five (heartbeat and election 5 s, lease 2.5 s), as Consul's
// raft_multiplier does for slow hosts. On hosts that stall for seconds (VMs
// under software emulation) a 500 ms lease makes the leader step down
// again and again, and writes meet "no leader" between elections.
func RaftTimingProfile(name string) (RaftTiming, error) {
	d := DefaultRaftTiming()
	scale := func(k time.Duration) RaftTiming {
		return RaftTiming{HeartbeatTimeout: k * d.HeartbeatTimeout, ElectionTimeout: k * d.ElectionTimeout,
			LeaderLeaseTimeout: k * d.LeaderLeaseTimeout, CommitTimeout: d.CommitTimeout}
	}
	switch name {
	case ProfileFast, "":
		return d, nil
	case ProfileLAN:
		return scale(2), nil
	case ProfileSlow:
		return scale(5), nil
	}
	return RaftTiming{}, fmt.Errorf("gossip profile %q: use %s, %s or %s", name, ProfileFast, ProfileLAN, ProfileSlow)
}

func (t RaftTiming) withDefaults() RaftTiming {
	d := DefaultRaftTiming()
	if t.HeartbeatTimeout <= 0 {
		t.HeartbeatTimeout = d.HeartbeatTimeout
	}
	if t.ElectionTimeout <= 0 {
		t.ElectionTimeout = d.ElectionTimeout
	}
	if t.LeaderLeaseTimeout <= 0 {
		t.LeaderLeaseTimeout = min(d.LeaderLeaseTimeout, t.HeartbeatTimeout)
	}
	if t.CommitTimeout <= 0 {
		t.CommitTimeout = d.CommitTimeout
	}
	return t
}

// RaftConfig configures the local raft server.
type RaftConfig struct {
	// NodeID is the raft server ID (the same as the gossip NodeID).
	NodeID string
	// DataDir holds raft.db (bolt log and stable store) and snapshots/.
	DataDir string
	// BindAddr is the host:port raft listens on (port 0 picks one).
	BindAddr string
	// AdvertiseAddr is the host:port peers dial; "" means the listener's
	// address, which must then not be a wildcard address.
	AdvertiseAddr string
	// ServerTLS and ClientTLS secure raft with mutual TLS (see
	// NewTLSStreamLayer); both are required unless Transport is set.
	ServerTLS, ClientTLS *tls.Config
	// Logger receives raft's logs; nil means slog.Default().
	Logger *slog.Logger
	// Timing is raft's timing; zero fields take DefaultRaftTiming's value.
	Timing RaftTiming
	// Transport replaces the TLS network transport (tests use raft's
	// in-memory transport); BindAddr, AdvertiseAddr and the TLS configs are
	// then ignored. NewRaft's Closer closes it.
	Transport raft.Transport
	// Guard, if set, gates raft on the recovery generation: the TLS
	// transport exchanges cluster ID and generation with every peer, and
	// until Guard opens no raft traffic flows and no election starts.
	Guard *GenGuard
}

// heldTimeout is raft's heartbeat and election timeout while a Guard is
// closed: long enough that no election starts before the gate opens and
// the real timing is reloaded.
const heldTimeout = 24 * time.Hour

// raftStores are the on-disk stores of one raft server.
type raftStores struct {
	bolt  *raftboltdb.BoltStore
	logs  raft.LogStore
	snaps raft.SnapshotStore
}

func openStores(dataDir string, logger hclog.Logger) (*raftStores, error) {
	if dataDir == "" {
		return nil, errors.New("raft: DataDir is empty")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raft: create data dir: %w", err)
	}
	path := filepath.Join(dataDir, raftDBFile)
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        path,
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("raft: open %s (is another agent using this data dir?): %w", path, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dataDir, snapshotsRetained, logger)
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("raft: open snapshot store in %s: %w", dataDir, err)
	}
	logs, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("raft: create log cache: %w", err)
	}
	return &raftStores{bolt: bolt, logs: logs, snaps: snaps}, nil
}

// raftConfig turns cfg into raft's configuration.
func raftConfig(cfg RaftConfig, logger hclog.Logger) *raft.Config {
	t := cfg.Timing.withDefaults()
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = t.HeartbeatTimeout
	rc.ElectionTimeout = t.ElectionTimeout
	rc.LeaderLeaseTimeout = t.LeaderLeaseTimeout
	rc.CommitTimeout = t.CommitTimeout
	// A server removed by the leader (e.g. it was failed past the grace
	// period and comes back) keeps running so it can be added again; it
	// cannot disturb the cluster because it has no vote.
	rc.ShutdownOnRemove = false
	rc.Logger = logger
	return rc
}

// tlsTransport listens on cfg.BindAddr and returns raft's network transport
// over NewTLSStreamLayer.
func tlsTransport(cfg RaftConfig, logger hclog.Logger) (raft.Transport, error) {
	if cfg.ServerTLS == nil || cfg.ClientTLS == nil {
		return nil, errors.New("raft: ServerTLS and ClientTLS are required")
	}
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("raft: listen on %s: %w", cfg.BindAddr, err)
	}
	adv, err := advertiseAddr(cfg.AdvertiseAddr, ln.Addr().(*net.TCPAddr))
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	stream := NewTLSStreamLayer(ln, adv, cfg.ServerTLS, cfg.ClientTLS, cfg.Guard, cfg.Logger)
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  logger,
	}), nil
}

// advertiseAddr resolves the address peers dial: advertise if set (its port
// 0 means the listener's), else the listener's own address.
func advertiseAddr(advertise string, bound *net.TCPAddr) (*net.TCPAddr, error) {
	if advertise == "" {
		if bound.IP.IsUnspecified() {
			return nil, fmt.Errorf("raft: listening on %s: set AdvertiseAddr to an address peers can reach", bound)
		}
		return bound, nil
	}
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("raft: advertise address %q: %w", advertise, err)
	}
	if adv.IP == nil || adv.IP.IsUnspecified() {
		return nil, fmt.Errorf("raft: advertise address %q is not reachable by peers: use this host's IP", advertise)
	}
	if adv.Port == 0 {
		adv.Port = bound.Port
	}
	return adv, nil
}

// NewRaft opens the stores in cfg.DataDir, starts the transport (mutual TLS
// unless cfg.Transport is set) and starts raft with fsm. A node with no
// state waits to be bootstrapped (BootstrapSingle) or added by a leader.
// With a closed cfg.Guard raft starts with elections held back (not even a
// single-voter configuration elects itself) until the guard opens.
// Shut down with r.Shutdown().Error() and then the returned Closer, which
// closes the transport and the stores.
func NewRaft(cfg RaftConfig, fsm raft.FSM) (*raft.Raft, io.Closer, error) {
	logger := hcLogger(orDefault(cfg.Logger), "raft")
	stores, err := openStores(cfg.DataDir, logger)
	if err != nil {
		return nil, nil, err
	}
	trans := cfg.Transport
	if trans == nil {
		if trans, err = tlsTransport(cfg, logger); err != nil {
			_ = stores.bolt.Close()
			return nil, nil, err
		}
	}
	closer := &raftCloser{trans: trans, bolt: stores.bolt}
	rc := raftConfig(cfg, logger)
	held := cfg.Guard != nil && !cfg.Guard.IsOpen()
	if held {
		rc.HeartbeatTimeout, rc.ElectionTimeout = heldTimeout, heldTimeout
	}
	r, err := raft.NewRaft(rc, fsm, stores.logs, stores.bolt, stores.snaps, trans)
	if err != nil {
		_ = closer.Close()
		return nil, nil, fmt.Errorf("raft: start %s: %w", cfg.NodeID, err)
	}
	if held {
		t := cfg.Timing.withDefaults()
		cfg.Guard.whenOpen(func() {
			re := r.ReloadableConfig()
			re.HeartbeatTimeout, re.ElectionTimeout = t.HeartbeatTimeout, t.ElectionTimeout
			if err := r.ReloadConfig(re); err != nil {
				logger.Error("raft: release held elections", "err", err)
			}
		})
	}
	return r, closer, nil
}

// raftCloser closes what NewRaft opened, once.
type raftCloser struct {
	trans raft.Transport
	bolt  *raftboltdb.BoltStore
	once  sync.Once
	err   error
}

// Close closes the transport (if it can be closed) and the bolt store.
func (c *raftCloser) Close() error {
	c.once.Do(func() {
		var errs []error
		if wc, ok := c.trans.(raft.WithClose); ok {
			if err := wc.Close(); err != nil {
				errs = append(errs, fmt.Errorf("raft: close transport: %w", err))
			}
		}
		if err := c.bolt.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft: close store: %w", err))
		}
		c.err = errors.Join(errs...)
	})
	return c.err
}

// HasState reports whether dataDir holds raft state (a term, log entries or
// a snapshot), i.e. whether this agent was already part of a cluster. Call
// it before NewRaft: the running raft holds the store's file lock.
func HasState(dataDir string) (bool, error) {
	if _, err := os.Stat(filepath.Join(dataDir, raftDBFile)); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	stores, err := openStores(dataDir, hclog.NewNullLogger())
	if err != nil {
		return false, err
	}
	defer stores.bolt.Close()
	ok, err := raft.HasExistingState(stores.logs, stores.bolt, stores.snaps)
	if err != nil {
		return false, fmt.Errorf("raft: read state in %s: %w", dataDir, err)
	}
	return ok, nil
}

// LastCommandIndex returns the index of the last command entry in
// dataDir's raft log (0 if it holds none): the index a replica restored
// from this data dir has applied once it holds everything the log held.
// The log's own last index is no such mark: the entries a leader appends
// at the start of its term (a no-op, the agent's barrier) never reach the
// FSM, so a replica whose log ends with them never reports that index as
// applied. Call it before NewRaft: the running raft holds the store's
// file lock.
func LastCommandIndex(dataDir string) (uint64, error) {
	if _, err := os.Stat(filepath.Join(dataDir, raftDBFile)); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	stores, err := openStores(dataDir, hclog.NewNullLogger())
	if err != nil {
		return 0, err
	}
	defer stores.bolt.Close()
	return lastCommand(stores.logs)
}

// lastCommand scans logs from the end for the last LogCommand entry.
func lastCommand(logs raft.LogStore) (uint64, error) {
	first, err := logs.FirstIndex()
	if err != nil {
		return 0, fmt.Errorf("raft: read the log's first index: %w", err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return 0, fmt.Errorf("raft: read the log's last index: %w", err)
	}
	for i := last; i >= first && i > 0; i-- {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				continue
			}
			return 0, fmt.Errorf("raft: read log entry %d: %w", i, err)
		}
		if l.Type == raft.LogCommand {
			return i, nil
		}
	}
	return 0, nil
}

// BootstrapSingle makes r a cluster of one voter (id at addr), as `agent
// init` does. It fails with raft.ErrCantBootstrap if r already has state.
func BootstrapSingle(r *raft.Raft, id, addr string) error {
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(addr),
	}}}
	if err := r.BootstrapCluster(conf).Error(); err != nil {
		return fmt.Errorf("raft: bootstrap %s: %w", id, err)
	}
	return nil
}

// Recover rewrites the raft state in cfg.DataDir so that voters (all made
// voters) are the whole configuration. It is for `agent recover` after the
// cluster lost its quorum: raft must not be running on this DataDir.
//
// Every entry of the local log, committed or not, is applied to fsm, which
// must be a fresh, empty instance of the agent's FSM (not the live one); a
// snapshot of it is written with the new configuration, so no entry this
// agent holds is lost. The agent then:
//
//  1. stops raft: r.Shutdown().Error() and the Closer from NewRaft;
//  2. calls Recover with the same voter list on every surviving agent;
//  3. starts raft again with NewRaft and its real FSM, which restores the
//     snapshot; the survivors elect a leader among themselves, and the one
//     with the longest log wins, so its entries win.
//
// cfg.Transport and the TLS settings are not used: nothing is sent.
func Recover(cfg RaftConfig, fsm raft.FSM, voters []ServerInfo) error {
	if len(voters) == 0 {
		return errors.New("raft: recover: the voter list is empty; name the surviving agents")
	}
	conf := raft.Configuration{Servers: make([]raft.Server, len(voters))}
	for i, v := range voters {
		conf.Servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(v.ID), Address: raft.ServerAddress(v.Address)}
	}
	logger := hcLogger(orDefault(cfg.Logger), "raft-recover")
	stores, err := openStores(cfg.DataDir, logger)
	if err != nil {
		return err
	}
	defer stores.bolt.Close()
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	if err := raft.RecoverCluster(raftConfig(cfg, logger), fsm, stores.logs, stores.bolt, stores.snaps, trans, conf); err != nil {
		return fmt.Errorf("raft: recover %s in %s: %w", cfg.NodeID, cfg.DataDir, err)
	}
	return nil
}
