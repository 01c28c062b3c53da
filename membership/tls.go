package membership

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// handshakeTimeout bounds the TLS and generation handshakes of a raft
// connection, so a peer that connects and says nothing cannot hold a
// goroutine forever.
const handshakeTimeout = 10 * time.Second

// ErrGateClosed is returned by Dial while this agent's raft gate is closed:
// it has not yet learnt its cluster's generation, or it learnt that it is
// stale.
var ErrGateClosed = errors.New("membership: raft gate closed (this agent has not confirmed its cluster generation, or is stale)")

// ErrRefused is returned by Dial when the peer refused the generation
// handshake.
var ErrRefused = errors.New("membership: raft connection refused by peer")

// tlsStreamLayer is a raft.StreamLayer that speaks mutual TLS and, with a
// guard, exchanges the cluster ID and generation before raft's first byte.
type tlsStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	serverTLS *tls.Config
	clientTLS *tls.Config
	guard     *GenGuard
	log       *slog.Logger

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

// NewTLSStreamLayer returns a raft stream layer over ln in which every
// connection is mutual TLS. Accepted connections use serverTLS with
// ClientAuth forced to tls.RequireAndVerifyClientCert (serverTLS.ClientCAs
// must hold the cluster CA). Dialled connections use clientTLS (RootCAs =
// cluster CA, plus a client certificate); when clientTLS.ServerName is
// empty the dialled host (an IP) is verified against the server
// certificate's IP SANs. advertise is the address peers use to reach ln
// (Addr returns it); nil means ln.Addr().
//
// With a guard, after TLS the dialer sends its cluster ID and generation
// and the acceptor answers (see JudgeHandshake): raft traffic flows only
// between agents of the same cluster and generation whose gates are open.
// A side that learns of a higher generation tells the guard (Observe).
// Accepted connections are handshaken off the accept goroutine, each
// bounded by 10 s, so a slow peer cannot hold up other accepts.
func NewTLSStreamLayer(ln net.Listener, advertise net.Addr, serverTLS, clientTLS *tls.Config, guard *GenGuard, logger *slog.Logger) raft.StreamLayer {
	if advertise == nil {
		advertise = ln.Addr()
	}
	srv := serverTLS.Clone()
	srv.ClientAuth = tls.RequireAndVerifyClientCert
	s := &tlsStreamLayer{ln: ln, advertise: advertise, serverTLS: srv, clientTLS: clientTLS, guard: guard,
		log: orDefault(logger).With("component", "raft-stream"), conns: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

// Accept returns the next connection that passed both handshakes.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections already returned stay open.
func (s *tlsStreamLayer) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.ln.Close()
	})
	return err
}

// Addr returns the advertised address.
func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

func (s *tlsStreamLayer) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(50 * time.Millisecond) // e.g. too many open files
			continue
		}
		go s.admit(c)
	}
}

// admit runs both handshakes of an accepted connection and hands it to
// Accept, or closes it.
func (s *tlsStreamLayer) admit(raw net.Conn) {
	c := tls.Server(raw, s.serverTLS)
	if err := s.serverHandshake(c); err != nil {
		s.log.Debug("raft connection refused", "peer", raw.RemoteAddr(), "err", err)
		_ = c.Close()
		return
	}
	select {
	case s.conns <- c:
	case <-s.done:
		_ = c.Close()
	}
}

func (s *tlsStreamLayer) serverHandshake(c *tls.Conn) error {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := c.Handshake(); err != nil {
		return fmt.Errorf("raft tls handshake with %s: %w", c.RemoteAddr(), err)
	}
	if s.guard != nil {
		if err := s.acceptGeneration(c); err != nil {
			return err
		}
	}
	return c.SetDeadline(time.Time{})
}

// The generation handshake: the dialer sends "SHOALRAFT1 CLUSTER GEN\n";
// the acceptor answers "OK\n" or "NO VERDICT CLUSTER GEN\n" with its own.
const helloMagic = "SHOALRAFT1"

func (s *tlsStreamLayer) acceptGeneration(c net.Conn) error {
	line, err := readLine(c)
	if err != nil {
		return fmt.Errorf("raft hello from %s: %w", c.RemoteAddr(), err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != helloMagic {
		return fmt.Errorf("raft hello from %s: malformed %q", c.RemoteAddr(), line)
	}
	peer, err := ParseGeneration(f[2])
	if err != nil {
		return fmt.Errorf("raft hello from %s: %w", c.RemoteAddr(), err)
	}
	own := s.guard.Generation()
	v := JudgeHandshake(s.guard.ClusterID(), own, s.guard.IsOpen(), f[1], peer)
	if v == VerdictHigher {
		s.guard.Observe(peer)
	}
	if v == VerdictOK {
		_, err = c.Write([]byte("OK\n"))
		return err
	}
	_, _ = fmt.Fprintf(c, "NO %d %s %s\n", v, s.guard.ClusterID(), own)
	return fmt.Errorf("%s at generation %s: %s", c.RemoteAddr(), peer, verdictText(v))
}

// Dial opens a TLS connection to a raft peer; the TLS handshake (with the
// server certificate verified) and, with a guard, the generation handshake
// complete before it returns.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.guard != nil && !s.guard.IsOpen() {
		return nil, fmt.Errorf("raft dial %s: %w", address, ErrGateClosed)
	}
	addr := string(address)
	cfg := s.clientTLS.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("raft dial %s: %w", addr, err)
		}
		cfg.ServerName = host
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("raft dial %s: %w", addr, err)
	}
	if s.guard != nil {
		if err := s.dialGeneration(c, timeout); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("raft dial %s: %w", addr, err)
		}
	}
	return c, nil
}

func (s *tlsStreamLayer) dialGeneration(c net.Conn, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(min(timeout, handshakeTimeout)))
	if _, err := fmt.Fprintf(c, "%s %s %s\n", helloMagic, s.guard.ClusterID(), s.guard.Generation()); err != nil {
		return err
	}
	line, err := readLine(c)
	if err != nil {
		return fmt.Errorf("generation handshake: %w", err)
	}
	if line == "OK" {
		return c.SetDeadline(time.Time{})
	}
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "NO" {
		return fmt.Errorf("generation handshake: unexpected answer %q", line)
	}
	peer, perr := ParseGeneration(f[3])
	if perr == nil && f[2] == s.guard.ClusterID() && peer.Compare(s.guard.Generation()) > 0 {
		s.guard.Observe(peer)
	}
	return fmt.Errorf("%w: peer at generation %s answered %q", ErrRefused, f[3], line)
}

func verdictText(v HandshakeVerdict) string {
	switch v {
	case VerdictClosed:
		return "refused: this agent's raft gate is closed"
	case VerdictOtherCluster:
		return "refused: another cluster"
	case VerdictLower:
		return "refused: the peer's generation is lower (it is stale)"
	case VerdictHigher:
		return "refused: the peer's generation is higher (this agent is stale)"
	}
	return "ok"
}

// readLine reads one '\n'-terminated line of at most 256 bytes, byte by
// byte so that nothing after it is consumed.
func readLine(c net.Conn) (string, error) {
	var b [1]byte
	var line []byte
	for len(line) < 256 {
		if _, err := c.Read(b[:]); err != nil {
			return "", err
		}
		if b[0] == '\n' {
			return string(line), nil
		}
		line = append(line, b[0])
	}
	return "", errors.New("line too long")
}
