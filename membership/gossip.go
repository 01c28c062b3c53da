package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// TagName is the serf tag that carries the agent's hostname (Config.NodeName).
const TagName = "name"

// TagRaft is the serf tag the agent sets to its raft port (or host:port);
// MemberInfos reads it to build raft addresses.
const TagRaft = "raft"

// eventBuffer is the capacity of the Events channel and of serf's own event
// channel: enough for every agent of a 100-agent cluster to join, update and
// fail several times before the consumer has read anything.
const eventBuffer = 4096

// ErrLeaveTimeout is returned by Leave when the graceful leave did not finish
// within the given timeout.
var ErrLeaveTimeout = errors.New("membership: leave timed out")

// Config configures the gossip layer of one agent.
type Config struct {
	// NodeID is the serf member name; it must be unique in the cluster.
	NodeID string
	// NodeName is the hostname; it is published in tag "name".
	NodeName string
	// BindAddr/BindPort is where memberlist listens (UDP and TCP). Port 0
	// picks a free port (tests).
	BindAddr string
	BindPort int
	// AdvertiseAddr/AdvertisePort is what peers use to reach this agent;
	// empty/0 means the bind address and port.
	AdvertiseAddr string
	AdvertisePort int
	// Tags are published to every member ("api", "raft", "ver", ...); the
	// "name" tag is set from NodeName.
	Tags map[string]string
	// EncryptKey is the AES key of the gossip (32 bytes; 16 and 24 are also
	// accepted). nil disables encryption and is meant for tests only.
	EncryptKey []byte
	// SnapshotPath is serf's snapshot file: a restarted agent rejoins the
	// peers recorded there ("" = no snapshot). It also rejoins after a
	// graceful Leave; an agent leaving for good must delete the file.
	SnapshotPath string
	// Timing is the failure detection timing; zero fields take
	// DefaultTiming's value.
	Timing Timing
	// Transport replaces memberlist's UDP/TCP transport (tests use
	// memberlist.MockNetwork); BindAddr/BindPort are then ignored.
	Transport memberlist.NodeAwareTransport
	// Logger receives serf and memberlist logs; nil means slog.Default().
	Logger *slog.Logger
}

// Membership is one agent's view of the cluster, backed by serf. All methods
// are safe for concurrent use.
type Membership struct {
	serf    *serf.Serf
	log     *slog.Logger
	serfCh  chan serf.Event
	out     chan Event
	done    chan struct{}
	wg      sync.WaitGroup
	tracker statusTracker
	dropped atomic.Uint64

	tagsMu sync.Mutex // serialises SetTags' read-modify-write of the tags
	name   string

	leaveMu   sync.Mutex
	leaveDone chan struct{} // closed when the (single) serf leave returns
	leaveErr  error
	closed    bool // Shutdown has begun; no new leave may start

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start creates the local serf member and starts listening. It does not
// contact anyone: call Join with the addresses of known agents (or rely on
// the snapshot) afterwards.
func Start(cfg Config) (*Membership, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("membership: start gossip: NodeID is empty")
	}
	logger := orDefault(cfg.Logger).With("component", "gossip")
	sc, err := serfConfig(cfg, logger)
	if err != nil {
		return nil, err
	}
	m := &Membership{
		log:    logger,
		serfCh: make(chan serf.Event, eventBuffer),
		out:    make(chan Event, eventBuffer),
		done:   make(chan struct{}),
		name:   cfg.NodeName,
	}
	m.tracker.init()
	sc.EventCh = m.serfCh
	s, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("membership: start gossip on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	m.serf = s
	m.wg.Add(1)
	go m.forwardEvents()
	return m, nil
}

// serfConfig builds the serf (and memberlist) configuration from cfg.
func serfConfig(cfg Config, logger *slog.Logger) (*serf.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.BindAddr = cfg.BindAddr
	if mc.BindAddr == "" {
		mc.BindAddr = "0.0.0.0"
	}
	mc.BindPort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = cfg.BindPort
	}
	if cfg.EncryptKey != nil {
		if err := memberlist.ValidateKey(cfg.EncryptKey); err != nil {
			return nil, fmt.Errorf("membership: gossip key: %w (use the 32-byte key from the cluster's join token)", err)
		}
		mc.SecretKey = cfg.EncryptKey
	}
	if cfg.Transport != nil {
		mc.Transport = cfg.Transport
	}
	std := stdLogger(logger)
	mc.Logger = std
	mc.LogOutput = nil

	sc := serf.DefaultConfig()
	sc.NodeName = cfg.NodeID
	sc.Tags = withName(cfg.Tags, cfg.NodeName)
	sc.SnapshotPath = cfg.SnapshotPath
	sc.RejoinAfterLeave = true
	sc.DisableCoordinates = true
	sc.EventBuffer = eventBuffer
	sc.Logger = std
	sc.LogOutput = nil
	sc.MemberlistConfig = mc
	cfg.Timing.apply(sc, mc)
	return sc, nil
}

// withName returns a copy of tags with tag "name" set to name (if non-empty).
func withName(tags map[string]string, name string) map[string]string {
	out := make(map[string]string, len(tags)+1)
	maps.Copy(out, tags)
	if name != "" {
		out[TagName] = name
	}
	return out
}

// Join contacts the given agents (host:port) and returns how many answered.
// It fails only if none could be reached (wrong address, or a different
// gossip key).
func (m *Membership) Join(addrs []string) (int, error) {
	n, err := m.serf.Join(addrs, true)
	if n == 0 {
		if err == nil {
			err = errors.New("no address given")
		}
		return 0, fmt.Errorf("membership: join %v: %w (check the address and that both agents use the same gossip key)", addrs, err)
	}
	if err != nil {
		m.log.Warn("join: some agents could not be reached", "joined", n, "err", err)
	}
	return n, nil
}

// Members returns every member serf knows (alive, failed, left until
// reaped), sorted by ID.
func (m *Membership) Members() []Member {
	sm := m.serf.Members()
	out := make([]Member, 0, len(sm))
	for _, s := range sm {
		out = append(out, fromSerf(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Local returns this agent's own member entry.
func (m *Membership) Local() Member {
	return fromSerf(m.serf.LocalMember())
}

// Events returns the channel of membership changes, for one consumer. The
// channel is buffered (4096 events); serf is never blocked by it: when the
// buffer is full the event is dropped, counted in Dropped and logged. A
// consumer that may fall behind should treat events as hints and
// re-read Members() (or MemberInfos()) when it catches up. The channel is
// closed by Shutdown.
func (m *Membership) Events() <-chan Event { return m.out }

// Dropped returns how many events were dropped because the Events consumer
// was too slow.
func (m *Membership) Dropped() uint64 { return m.dropped.Load() }

// SetTags replaces this agent's tags (tag "name" is kept) and gossips them;
// peers see EventUpdate. It fails if the encoded tags exceed memberlist's
// 512-byte metadata limit.
func (m *Membership) SetTags(tags map[string]string) error {
	m.tagsMu.Lock()
	defer m.tagsMu.Unlock()
	if err := m.serf.SetTags(withName(tags, m.name)); err != nil {
		return fmt.Errorf("membership: set tags: %w", err)
	}
	return nil
}

// Leave announces a graceful departure and waits for it to spread (serf waits
// up to 5 s for the broadcast plus 1 s for propagation); peers see EventLeft,
// not EventFailed. It returns ErrLeaveTimeout if that takes longer than
// timeout; the leave then goes on in the background, and a later Leave (or
// Shutdown) waits for that same leave instead of starting another. Call
// Shutdown afterwards.
func (m *Membership) Leave(timeout time.Duration) error {
	m.leaveMu.Lock()
	if m.leaveDone == nil && m.closed {
		m.leaveMu.Unlock()
		return errors.New("membership: leave after shutdown: the agent has already stopped gossiping")
	}
	if m.leaveDone == nil {
		m.leaveDone = make(chan struct{})
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			err := m.serf.Leave()
			m.leaveMu.Lock()
			m.leaveErr = err
			m.leaveMu.Unlock()
			close(m.leaveDone)
		}()
	}
	done := m.leaveDone
	m.leaveMu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		m.leaveMu.Lock()
		defer m.leaveMu.Unlock()
		if m.leaveErr != nil {
			return fmt.Errorf("membership: leave: %w", m.leaveErr)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("membership: leave after %s: %w", timeout, ErrLeaveTimeout)
	}
}

// Shutdown stops gossip without leaving (peers will see EventFailed unless
// Leave was called first) and closes the Events channel. It waits for a
// leave still in progress, which, cut short by the shutdown, can take up to
// serf's 5 s broadcast timeout more. It is idempotent.
func (m *Membership) Shutdown() error {
	m.shutdownOnce.Do(func() {
		m.leaveMu.Lock()
		m.closed = true
		m.leaveMu.Unlock()
		// serf must stop before the event forwarder does: its snapshotter
		// may still be pushing events into serfCh while shutting down.
		if err := m.serf.Shutdown(); err != nil {
			m.shutdownErr = fmt.Errorf("membership: shutdown gossip: %w", err)
		}
		close(m.done)
		m.wg.Wait()
		close(m.out)
	})
	return m.shutdownErr
}
