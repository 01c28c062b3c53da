package membership

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// handshakeTimeout bounds the TLS handshake of an accepted raft connection,
// so a peer that connects and says nothing cannot hold a goroutine forever.
const handshakeTimeout = 10 * time.Second

// tlsStreamLayer is a raft.StreamLayer that speaks mutual TLS.
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	serverTLS *tls.Config
	clientTLS *tls.Config
}

// NewTLSStreamLayer returns a raft stream layer over ln in which every
// connection is mutual TLS. Accepted connections use serverTLS with
// ClientAuth forced to tls.RequireAndVerifyClientCert (serverTLS.ClientCAs
// must hold the cluster CA); their handshake runs on first read or write,
// in raft's per-connection goroutine, and is bounded by 10 s. Dialled
// connections use clientTLS (RootCAs = cluster CA, plus a client
// certificate); when clientTLS.ServerName is empty the dialled host (an IP)
// is verified against the server certificate's IP SANs. advertise is the
// address peers use to reach ln (Addr returns it); nil means ln.Addr().
func NewTLSStreamLayer(ln net.Listener, advertise net.Addr, serverTLS, clientTLS *tls.Config) raft.StreamLayer {
	if advertise == nil {
		advertise = ln.Addr()
	}
	srv := serverTLS.Clone()
	srv.ClientAuth = tls.RequireAndVerifyClientCert
	return &tlsStreamLayer{Listener: ln, advertise: advertise, serverTLS: srv, clientTLS: clientTLS}
}

// Accept waits for the next connection and wraps it in TLS.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lazyHandshakeConn{Conn: tls.Server(c, s.serverTLS)}, nil
}

// Addr returns the advertised address.
func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

// Dial opens a TLS connection to a raft peer; the handshake completes (and
// the server certificate is verified) before it returns.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
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
	return c, nil
}

// lazyHandshakeConn completes the server-side handshake, with a deadline,
// before the first read or write.
type lazyHandshakeConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *lazyHandshakeConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if err := c.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("raft tls handshake with %s: %w", c.RemoteAddr(), err)
			_ = c.Close()
		}
	})
	return c.err
}

func (c *lazyHandshakeConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *lazyHandshakeConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
