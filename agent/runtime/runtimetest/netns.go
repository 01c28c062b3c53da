package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NewNetNS creates a fresh named network namespace with only loopback, up,
// and returns its path (/run/netns/NAME). It is deleted in t.Cleanup.
func NewNetNS(t testing.TB) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "shoaltest-" + hex.EncodeToString(b[:])
	if err := createNetNS(name); err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	return filepath.Join("/run/netns", name)
}

func createNetNS(name string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name) // also moves this thread into it
	if err != nil {
		return err
	}
	defer ns.Close()
	if err := netns.Set(orig); err != nil {
		runtime.LockOSThread() // never hand this thread to another goroutine
		return err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	return h.LinkSetUp(lo)
}

// DialIn opens a TCP connection to addr from inside the network namespace
// at nsPath. Only the socket's creation needs the namespace, so the
// returned connection may be used from any goroutine.
func DialIn(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", nsPath, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return nil, fmt.Errorf("enter netns %s: %w", nsPath, err)
	}
	// net.Dialer creates the socket on this goroutine (and so this thread).
	conn, dialErr := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
	if err := netns.Set(orig); err != nil {
		runtime.LockOSThread()
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("leave netns %s: %w", nsPath, err)
	}
	return conn, dialErr
}

// HTTPGetIn GETs url (http://host:port/path) from inside the network
// namespace at nsPath and returns the status code and body.
func HTTPGetIn(ctx context.Context, nsPath, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	conn, err := DialIn(ctx, nsPath, addr)
	if err != nil {
		return 0, nil, err
	}
	tr := &http.Transport{
		DialContext:       func(context.Context, string, string) (net.Conn, error) { return conn, nil },
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		conn.Close()
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
