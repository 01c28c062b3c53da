package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/shoal-org/shoal/store"
)

// ErrClosed is returned by SetListen after Close.
var ErrClosed = errors.New("resolver: server closed")

// DefaultPort is the port the resolver listens on unless Config.Port says
// otherwise.
const DefaultPort = 53

// Config configures a Server.
type Config struct {
	// Store is this node's replica; required.
	Store *store.Store
	// Upstreams are the servers ("ip:port") that names outside the cluster
	// are forwarded to, tried in order. nil means DefaultUpstreams() read
	// once by New; an empty non-nil slice means none: such names get
	// SERVFAIL at once.
	Upstreams []string
	// Port is the UDP and TCP port to listen on; 0 means DefaultPort.
	Port int
	// NetNS, when set, is the path of the network namespace (e.g.
	// /run/netns/x) in which listening sockets are created; "" means the
	// namespace of the process.
	NetNS string
	// ForwardTimeout bounds forwarding one query; 0 means
	// DefaultForwardTimeout.
	ForwardTimeout time.Duration
	// Logger is nil for slog.Default().
	Logger *slog.Logger
}

// Server is a node's embedded DNS server. It answers from an immutable
// snapshot of the records that Run rebuilds on every change of the store,
// so queries never wait for a rebuild. All methods are safe for concurrent
// use.
type Server struct {
	st             *store.Store
	logger         *slog.Logger
	upstreams      []string
	port           int
	netns          string
	forwardTimeout time.Duration

	records atomic.Pointer[Records]
	// own is the set of listening addresses: a query from one of them
	// comes from the node itself.
	own atomic.Pointer[map[netip.Addr]bool]
	// inflight counts queries being forwarded.
	inflight atomic.Int64

	// ctx ends with Close, cancelling queries being forwarded.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex // guards listeners and closed; held while binding
	listeners map[netip.Addr]*listener
	closed    bool
	wg        sync.WaitGroup // one per running dns.Server
}

// New returns a server answering from cfg.Store's current state. It listens
// nowhere until SetListen, and follows the store only while Run runs.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("resolver: new server: Config.Store is nil")
	}
	s := &Server{
		st: cfg.Store, logger: cfg.Logger, upstreams: cfg.Upstreams, port: cfg.Port,
		netns: cfg.NetNS, forwardTimeout: cfg.ForwardTimeout,
		listeners: make(map[netip.Addr]*listener),
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.port == 0 {
		s.port = DefaultPort
	}
	if s.port < 0 || s.port > 65535 {
		return nil, fmt.Errorf("resolver: new server: port %d out of range 1-65535", cfg.Port)
	}
	if s.forwardTimeout <= 0 {
		s.forwardTimeout = DefaultForwardTimeout
	}
	if s.upstreams == nil {
		ups, err := DefaultUpstreams()
		if err != nil {
			return nil, fmt.Errorf("resolver: new server: %w (set Config.Upstreams to override)", err)
		}
		s.upstreams = ups
	}
	for _, up := range s.upstreams {
		if _, err := netip.ParseAddrPort(up); err != nil {
			return nil, fmt.Errorf("resolver: new server: upstream %q: want ip:port, e.g. 192.0.2.53:53: %w", up, err)
		}
	}
	s.own.Store(&map[netip.Addr]bool{})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.rebuild()
	return s, nil
}

// Run follows the store, rebuilding the records after every change of the
// networks, services or tasks tables, until ctx ends. It then closes the
// server (as Close) and returns nil once every listener has stopped. Call
// it at most once.
func (s *Server) Run(ctx context.Context) error {
	ch, cancel := s.st.Subscribe(store.TableNetworks, store.TableServices, store.TableTasks)
	defer cancel()
	s.rebuild() // changes between New and Subscribe
	for {
		select {
		case <-ctx.Done():
			return s.Close()
		case _, ok := <-ch:
			if !ok {
				return s.Close()
			}
			s.rebuild()
		}
	}
}

// rebuild swaps in records built from the store's current view.
func (s *Server) rebuild() {
	v := s.st.View()
	r := Build(v.Networks(), v.Services(), v.Tasks())
	s.records.Store(r)
	s.logger.Debug("resolver: records rebuilt", "index", v.Index(), "names", r.Len())
}

// Records returns the snapshot queries are currently answered from.
func (s *Server) Records() *Records { return s.records.Load() }

// Close stops every listener, cancels queries being forwarded and waits for
// the server's goroutines. Later calls return nil at once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for a, l := range s.listeners {
		l.shutdown()
		delete(s.listeners, a)
	}
	s.own.Store(&map[netip.Addr]bool{})
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// serveDNS is the dns.Handler of every listener.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	var client netip.Addr
	tcp := false
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		client = a.AddrPort().Addr()
	case *net.TCPAddr:
		client, tcp = a.AddrPort().Addr(), true
	}
	if err := w.WriteMsg(s.respond(req, client.Unmap(), tcp)); err != nil {
		s.logger.Debug("resolver: write reply", "client", client, "err", err)
	}
}

// respond computes the reply to req from client (over TCP if tcp),
// forwarding names outside the cluster.
func (s *Server) respond(req *dns.Msg, client netip.Addr, tcp bool) *dns.Msg {
	if rc := check(req); rc != dns.RcodeSuccess {
		return errorReply(req, rc)
	}
	if (*s.own.Load())[client] {
		client = netip.Addr{}
	}
	q := req.Question[0]
	res := s.records.Load().Lookup(client, q.Name, q.Qtype)
	var m *dns.Msg
	if res.Kind == Forward {
		m = s.forward(req, tcp)
	} else {
		m = answer(req, res)
	}
	fit(req, m, tcp)
	return m
}
