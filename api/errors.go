package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
)

// AddressError is an agent address (agentctl's --host, SHOAL_HOST) that
// cannot be used; Reason says why and what to write instead.
type AddressError struct {
	Addr   string
	Reason string
}

func (e *AddressError) Error() string { return fmt.Sprintf("agent address %q: %s", e.Addr, e.Reason) }

// WrongServerError is returned when the client reached something at its
// address that does not speak the agent's API: another of the agent's
// ports (gossip, raft), a registry, containerd's socket, or a server of
// another kind. It says which port was reached and which is the API's.
type WrongServerError struct {
	Addr string // what was dialled: HOST:PORT, or a socket path
	Port int    // 0 for a unix socket
	Err  error  // the transport's error
}

func (e *WrongServerError) Error() string {
	what := fmt.Sprintf("%s answered, but not as a shoal agent's API (%v)", e.Addr, e.Err)
	switch e.Port {
	case 0:
		return what + ": is it another daemon's socket, such as containerd's? The agent's API socket is " + DefaultSocket + " (`agent run --api-socket`)"
	case DefaultGossipPort:
		return fmt.Sprintf("%s: port %d is the agents' gossip port; the API listens on port %d (`agent run --api-port`)", what, e.Port, DefaultAPIPort)
	case DefaultRaftPort:
		return fmt.Sprintf("%s: port %d is the agents' raft port; the API listens on port %d (`agent run --api-port`)", what, e.Port, DefaultAPIPort)
	case DefaultAPIPort:
		return what + ": is an agent of this cluster (and of this release) listening there?"
	}
	return fmt.Sprintf("%s: port %d is not the API's default port %d (a registry, or another service?); point at the agent's API port (`agent run --api-port`)", what, e.Port, DefaultAPIPort)
}

func (e *WrongServerError) Unwrap() error { return e.Err }

// portOf returns the TCP port of a "scheme://host:port" or "host:port"
// address, or 0.
func portOf(addr string) int {
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = addr[i+3:]
	}
	addr, _, _ = strings.Cut(addr, "/")
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// notAnAgent reports whether a transport error means the peer is not an
// HTTP(S) server of ours: it is not TLS, or speaks TLS but not HTTP, or
// closes the connection at the first bytes (gossip, raft, gRPC).
func notAnAgent(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var rh tls.RecordHeaderError
	var alert tls.AlertError
	var unknownCA x509.UnknownAuthorityError
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &rh) || errors.As(err, &alert) || errors.As(err, &unknownCA) || errors.As(err, &certErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	// A server that speaks first (a gRPC server sends its HTTP/2 settings
	// as soon as a connection opens) can beat the request: net/http then
	// reports its bytes as unsolicited ("readLoopPeekFailLocked").
	for _, s := range []string{"server gave HTTP response to HTTPS client", "malformed HTTP", "tls:", "remote error", "readLoopPeekFailLocked"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
