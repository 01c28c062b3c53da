package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HostEnv names the environment variable agentctl reads for --host.
const HostEnv = "SHOAL_HOST"

// StatusError is a non-2xx answer from an agent.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// IsNotFound reports whether err is an agent's 404.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// Client talks to one agent. It is safe for concurrent use.
type Client struct {
	base string
	http *http.Client
	host string // as shown in errors
	// dialled is HOST:PORT or the socket path, for errors that say which
	// port was reached.
	dialled string
	// Hint is added to "cannot reach the agent" errors: what the user can
	// do about it. NewClient sets agentctl's.
	Hint string
}

// NewClient connects to host: "unix:///path/agent.sock", a bare socket path,
// or "tcp://addr[:port]" / "https://addr[:port]" (which needs tlsConf with a
// client certificate of the cluster). A TCP address without a port uses
// DefaultAPIPort, and errors then say so. Errors about host itself are
// *AddressError.
func NewClient(host string, tlsConf *tls.Config) (*Client, error) {
	if host == "" {
		host = "unix://" + DefaultSocket
	}
	if strings.HasPrefix(host, "/") {
		host = "unix://" + host
	}
	scheme, rest, ok := strings.Cut(host, "://")
	if !ok {
		reason := "no scheme: use unix:///path/agent.sock or tcp://HOST:PORT"
		if _, _, err := net.SplitHostPort(host); err == nil {
			reason = fmt.Sprintf("no scheme: write tcp://%s", host)
		}
		return nil, &AddressError{Addr: host, Reason: reason}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	c := &Client{http: &http.Client{Transport: tr}, host: host,
		Hint: "is `agent run` running? set --host or " + HostEnv}
	switch scheme {
	case "unix":
		path := rest
		if path == "" {
			return nil, &AddressError{Addr: host, Reason: "no socket path: use unix:///run/shoal/agent.sock"}
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base, c.dialled = "http://agent", path
	case "tcp", "https":
		addr, defaulted, err := tcpAddr(strings.TrimSuffix(rest, "/"))
		if err != nil {
			return nil, &AddressError{Addr: host, Reason: err.Error()}
		}
		if tlsConf == nil {
			return nil, &AddressError{Addr: host, Reason: "TCP needs TLS: pass --tlscacert, --tlscert and --tlskey (a certificate of the cluster)"}
		}
		tr.TLSClientConfig = tlsConf
		c.base, c.dialled = "https://"+addr, addr
		if defaulted {
			c.host = fmt.Sprintf("%s (port %d, the API's default, as the address names none)", addr, DefaultAPIPort)
		}
	default:
		return nil, &AddressError{Addr: host, Reason: fmt.Sprintf("unknown scheme %q: use unix:///path/agent.sock or tcp://HOST:PORT", scheme)}
	}
	return c, nil
}

// tcpAddr checks HOST[:PORT] and returns HOST:PORT, with DefaultAPIPort
// when there was no port (defaulted true).
func tcpAddr(s string) (addr string, defaulted bool, err error) {
	if s == "" || strings.ContainsAny(s, "/?#@ ") {
		return "", false, fmt.Errorf("expected tcp://HOST:PORT, such as tcp://10.0.0.1:%d", DefaultAPIPort)
	}
	host, port, splitErr := net.SplitHostPort(s)
	if splitErr != nil {
		if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			return "", false, fmt.Errorf("an IPv6 address needs brackets: tcp://[%s]:%d", s, DefaultAPIPort)
		}
		if strings.Contains(s, ":") && !(strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]")) {
			return "", false, fmt.Errorf("expected tcp://HOST:PORT, such as tcp://10.0.0.1:%d", DefaultAPIPort)
		}
		return net.JoinHostPort(strings.Trim(s, "[]"), strconv.Itoa(DefaultAPIPort)), true, nil
	}
	if host == "" {
		return "", false, fmt.Errorf("no host before the port: write tcp://HOST:%s", port)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", false, fmt.Errorf("port %q is not a number from 1 to 65535 (the API's default is %d)", port, DefaultAPIPort)
	}
	return s, false, nil
}

// NewHTTPClient wraps an existing http.Client and base URL (agent-to-agent).
func NewHTTPClient(base string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: hc, host: base, dialled: strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://"),
		Hint: "is that agent running, and reachable from here?"}
}

// Host is the address this client talks to.
func (c *Client) Host() string { return c.host }

// Do sends in (if non-nil) as JSON, or as it is when it is an io.Reader,
// and decodes the answer into out (if non-nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer of %s: %w (is it a shoal agent of release %s?)", method, path, c.host, err, Version)
	}
	return nil
}

// Stream sends a request (in is JSON-encoded, or sent as it is when it is an
// io.Reader) and returns the open body of a 2xx answer.
func (c *Client) Stream(ctx context.Context, method, path string, in any) (io.ReadCloser, error) {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	ctype := "application/json"
	if r, ok := in.(io.Reader); ok { // a raw body, such as an image archive
		body, ctype = r, "application/octet-stream"
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.dialError(err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = fmt.Sprintf("%s %s: %s: %.200s (not an answer of a shoal agent's API: is %s the agent's API address?)",
				method, path, resp.Status, strings.TrimSpace(string(b)), c.host)
		}
		return nil, &StatusError{Code: resp.StatusCode, Message: e.Message}
	}
	return resp, nil
}

func (c *Client) dialError(err error) error {
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Op == "dial" {
		return fmt.Errorf("cannot reach the agent at %s: %v (%s)", c.host, ne.Err, c.Hint)
	}
	if notAnAgent(err) {
		port := 0
		if !strings.HasPrefix(c.base, "http://agent") {
			port = portOf(c.dialled)
		}
		inner := unwrapURLError(err)
		if msg := inner.Error(); strings.Contains(msg, "malformed HTTP response") || strings.Contains(msg, "readLoopPeekFailLocked") {
			// Its bytes (an HTTP/2 frame, from a gRPC server) tell a user nothing.
			inner = errors.New("it answered in something other than HTTP/1.1, such as gRPC")
		}
		return &WrongServerError{Addr: c.host, Port: port, Err: inner}
	}
	return fmt.Errorf("agent at %s: %w", c.host, err)
}

// unwrapURLError drops net/http's `Post "https://…/v1/…":` prefix, which
// repeats the address and names an internal path.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
