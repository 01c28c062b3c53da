package lbtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netns"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// dialIn opens a connection from inside ns; the socket stays in ns for its
// whole life whatever thread later uses it.
func dialIn(ns netns.NsHandle, network string, to netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := nsthread.Do(ns, func() error {
		var err error
		d := net.Dialer{Timeout: timeout}
		c, err = d.Dial(network, to.String())
		return err
	})
	return c, err
}

// httpConn is one TCP connection that carries several HTTP requests.
type httpConn struct {
	c  net.Conn
	br *bufio.Reader
}

func openHTTP(ns netns.NsHandle, to netip.AddrPort, timeout time.Duration) (*httpConn, error) {
	c, err := dialIn(ns, "tcp4", to, timeout)
	if err != nil {
		return nil, err
	}
	return &httpConn{c: c, br: bufio.NewReader(c)}, nil
}

// get sends one request on the connection and returns the name of the
// backend that answered.
func (h *httpConn) get(timeout time.Duration) (string, error) {
	name, _, err := h.request(timeout)
	return name, err
}

// request sends one request on the connection and returns the body (the
// name of the backend that answered) and the port the backend served it on.
func (h *httpConn) request(timeout time.Duration) (string, uint16, error) {
	_ = h.c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(h.c, "GET / HTTP/1.1\r\nHost: lbtest\r\n\r\n"); err != nil {
		return "", 0, err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("status %s", resp.Status)
	}
	port, err := strconv.ParseUint(resp.Header.Get(servedPortHeader), 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("header %s: %w", servedPortHeader, err)
	}
	return string(body), uint16(port), nil
}

func (h *httpConn) close() { _ = h.c.Close() }

// fetch makes one request on a fresh connection and returns who answered
// and on which port.
func fetch(ns netns.NsHandle, to netip.AddrPort, timeout time.Duration) (string, uint16, error) {
	h, err := openHTTP(ns, to, timeout)
	if err != nil {
		return "", 0, err
	}
	defer h.close()
	return h.request(timeout)
}

// tally counts which backend answered each request; failed requests are
// counted under their error text.
type tally map[string]int

func (t tally) String() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, t[k]))
	}
	return strings.Join(parts, " ")
}

// survey makes n requests on fresh connections; it stops early after 3
// failures, which already fail the check. An answer from another backend
// port than wantPort counts as "name@port", which no check allows.
func survey(ns netns.NsHandle, to netip.AddrPort, wantPort uint16, n int, timeout time.Duration) tally {
	return surveyWith(n, func() (string, error) {
		name, port, err := fetch(ns, to, timeout)
		if err == nil && port != wantPort {
			name = fmt.Sprintf("%s@%d", name, port)
		}
		return name, err
	})
}

// surveyUDP sends one datagram from each of n fresh sockets (n flows).
func surveyUDP(ns netns.NsHandle, to netip.AddrPort, n int, timeout time.Duration) tally {
	return surveyWith(n, func() (string, error) {
		c, err := openUDP(ns, to)
		if err != nil {
			return "", err
		}
		defer c.close()
		return c.ask(timeout)
	})
}

func surveyWith(n int, ask func() (string, error)) tally {
	t := tally{}
	failures := 0
	for range n {
		name, err := ask()
		if err != nil {
			name = "error: " + err.Error()
			if failures++; failures == 3 {
				t[name]++
				break
			}
		}
		t[name]++
	}
	return t
}

// udpClient is a connected UDP socket in a namespace: every datagram it
// sends has the same source port, so they belong to one conntrack flow.
type udpClient struct{ c net.Conn }

func openUDP(ns netns.NsHandle, to netip.AddrPort) (*udpClient, error) {
	c, err := dialIn(ns, "udp4", to, time.Second)
	if err != nil {
		return nil, err
	}
	return &udpClient{c: c}, nil
}

// ask sends a datagram and returns the answering backend's name.
func (u *udpClient) ask(timeout time.Duration) (string, error) {
	_ = u.c.SetDeadline(time.Now().Add(timeout))
	if _, err := u.c.Write([]byte("who")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := u.c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func (u *udpClient) close() { _ = u.c.Close() }
