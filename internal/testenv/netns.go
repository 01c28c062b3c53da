package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// NetNSPrefix starts the name of every namespace NetNS creates, so that
// one left behind by a killed test is recognisable in `ip netns`.
const NetNSPrefix = "shoaltest-"

// NetNS creates a fresh named network namespace with only loopback, up,
// and returns its path (/run/netns/NAME; `ip -n NAME` reaches it by the
// path's base name). It is deleted in tb.Cleanup. It skips tb when not
// root. The caller's thread never enters it: run code there with
// nsthread.DoPath.
func NetNS(tb testing.TB) string {
	tb.Helper()
	RequireRoot(tb, "creates a network namespace")
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := NetNSPrefix + hex.EncodeToString(b[:])
	if err := createNetNS(name); err != nil {
		tb.Fatalf("create netns %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			tb.Errorf("delete netns %s: %v", name, err)
		}
	})
	return filepath.Join("/run/netns", name)
}

func createNetNS(name string) error {
	ns := netns.None()
	err := nsthread.Run(func() error {
		var err error
		ns, err = netns.NewNamed(name) // moves this thread; Run moves it back
		return err
	})
	if ns.IsOpen() {
		defer ns.Close()
	}
	if err != nil {
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

// DialIn opens a TCP connection to addr (an IP literal and port) from
// inside the network namespace at nsPath, giving up after 5 seconds. The
// connection may be used from any goroutine.
func DialIn(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return nsthread.Dial(ctx, nsPath, "tcp", addr)
}

// HTTPGetIn GETs url (http://IP:port/path) from inside the network
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

// NetNSInode returns the inode of the namespace file at path
// (/run/netns/NAME, /proc/PID/ns/net, /proc/thread-self/ns/net): two paths
// name the same namespace exactly when their inodes are equal.
func NetNSInode(tb testing.TB, path string) uint64 {
	tb.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		tb.Fatalf("network namespace %s: %v", path, err)
	}
	return st.Ino
}
