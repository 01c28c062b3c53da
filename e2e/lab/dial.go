package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// DialFunc dials like net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// netnsDialer returns a DialFunc whose sockets are created in the named
// namespace, so a test process in the root namespace can talk to lab
// addresses. addr should be an IP literal (lab namespaces have no DNS).
// Each dial runs on a thread of its own moved into the namespace and back
// (internal/nsthread), so no other goroutine ever runs in the lab
// namespace, even if something fails half-way. Safe for concurrent use.
func netnsDialer(netns string) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := nsthread.Dial(ctx, netnsPath(netns), network, addr)
		if err != nil {
			return nil, fmt.Errorf("dial %s in %s: %w", addr, netns, err)
		}
		return c, nil
	}
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
