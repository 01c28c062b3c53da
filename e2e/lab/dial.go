package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// DialFunc dials like net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// netnsDialer returns a DialFunc whose sockets are created in the named
// namespace, so a test process in the root namespace can talk to lab
// addresses. addr should be an IP literal (lab namespaces have no DNS).
//
// A socket belongs to the namespace of the thread that creates it. Each
// dial runs on a fresh goroutine locked to its thread that switches the
// thread into the namespace and never switches back: the runtime discards
// a thread whose goroutine exits while locked, so no other goroutine ever
// runs in the lab namespace, even if something fails half-way. Safe for
// concurrent use.
func netnsDialer(netns string) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			conn net.Conn
			err  error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			c, err := dialIn(ctx, netns, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.conn, r.err
	}
}

// dialIn must run on a locked thread that is discarded afterwards.
func dialIn(ctx context.Context, netns, network, addr string) (net.Conn, error) {
	fd, err := unix.Open(netnsPath(netns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: open namespace: %w", addr, netns, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("dial %s in %s: enter namespace: %w", addr, netns, err)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s in %s: %w", addr, netns, err)
	}
	return c, nil
}

// httpClientIn returns an HTTP client whose connections originate in the
// named namespace. It keeps no idle connections, so it holds nothing open
// once a request is done (labs come and go under it).
func httpClientIn(netns string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:       netnsDialer(netns),
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
}

// HTTPClientIn returns an HTTP client whose connections originate in the
// network namespace named netns (under /run/netns), made by the lab or by
// another harness such as the VM test's. Each request opens a connection of
// its own.
func HTTPClientIn(netns string) *http.Client { return httpClientIn(netns) }
