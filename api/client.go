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
	host string
	// Hint is added to "cannot reach the agent" errors: what the user can
	// do about it. NewClient sets agentctl's.
	Hint string
}

// NewClient connects to host: "unix:///path/agent.sock", a bare socket path,
// or "tcp://addr:port" / "https://addr:port" (which needs tlsConf with a
// client certificate of the cluster).
func NewClient(host string, tlsConf *tls.Config) (*Client, error) {
	if host == "" {
		host = "unix://" + DefaultSocket
	}
	if strings.HasPrefix(host, "/") {
		host = "unix://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("agent address %q: %w (use unix:///path/agent.sock or tcp://host:port)", host, err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	c := &Client{http: &http.Client{Transport: tr}, host: host,
		Hint: "is `agent run` running? set --host or " + HostEnv}
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = "http://agent"
	case "tcp", "https":
		if tlsConf == nil {
			return nil, fmt.Errorf("agent address %q: TCP needs TLS: pass --tlscacert, --tlscert and --tlskey (a certificate of the cluster)", host)
		}
		tr.TLSClientConfig = tlsConf
		c.base = "https://" + u.Host
	default:
		return nil, fmt.Errorf("agent address %q: unknown scheme %q (use unix:// or tcp://)", host, u.Scheme)
	}
	return c, nil
}

// NewHTTPClient wraps an existing http.Client and base URL (agent-to-agent).
func NewHTTPClient(base string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: hc, host: base,
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
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
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
			e.Message = fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
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
	return fmt.Errorf("agent at %s: %w", c.host, err)
}
