package lbtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// Client ports of the reusedPorts case: outside the default ephemeral
// range (32768-60999), so that no other connection takes them.
const (
	reuseBase    = 20000
	reuseCount   = 3000
	reuseWorkers = 16
)

// reusedPorts: removing a backend never cuts a new connection to another
// backend that reuses the client port of one of its closed ones. Clients
// that close second (the server closes first, as an HTTP server does with
// Connection: close) leave no TIME_WAIT socket and reuse their ports at
// once, while the node's conntrack (and IPVS's connection table) keeps the
// closed entry (TIME_WAIT, two minutes); a SYN from that port replaces the
// entry by a new one with the same original tuple, balanced afresh. Here
// every port first gets a closed connection to b2. Then clients reconnect
// from those ports over and over while b2 leaves as a task leaves in the
// product: drained first (weight 0: no new connection; see
// agent/netctl's backends), its requests in flight allowed to end, then
// removed. Not one request may fail. A cut that lists the entries and then
// deletes them by original tuple (even with the conntrack ID, which a
// replacement entry often gets again) deletes reopened connections to b1
// and b3 in flight: their answers never arrive and the requests time out.
//
// Without the drain, the requests in flight to b2 when it is removed are
// cut, as they must be (connections to a removed backend end): IPVS at
// once (expire_nodest_conn), nftables when Apply cuts b2's conntrack
// entries. Those are not this case's subject; under emulation, where a
// request takes tens of milliseconds, they were the resets seen on IPVS.
func (s *suite) reusedPorts() {
	dp := s.setup(3)
	to := netip.AddrPortFrom(vip1, backendHTTPPort)
	ns := s.ns("node") // the lab's load runs in the node: local origin
	s.apply(dp, s.allSvc("web/vip", vip1, 2))
	ports := make([]uint16, reuseCount)
	for i := range ports {
		ports[i] = reuseBase + uint16(i)
	}
	first := newPortLoad(reuseWorkers)
	s.fromPorts(first, ns, to, ports, 1, nil)
	if first.ok < reuseCount/2 {
		s.t.Fatalf("only %d of %d connections to b2 from ports %d-%d answered: %v", first.ok, reuseCount,
			reuseBase, reuseBase+reuseCount-1, first.errs)
	}
	stop := make(chan struct{})
	again := newPortLoad(reuseWorkers)
	done := make(chan struct{})
	go func() { defer close(done); s.fromPorts(again, ns, to, ports, 1000, stop) }()
	time.Sleep(100 * time.Millisecond) // the clients are reconnecting
	drain := s.allSvc("web/vip", vip1, 1, 2, 3)
	drain.Backends[1].Weight = 0
	s.apply(dp, drain)
	again.waitBegunAfter(time.Now()) // b2's requests in flight have ended
	okBefore := again.okCount()
	s.apply(dp, s.allSvc("web/vip", vip1, 1, 3))
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	after := again.okCount() - okBefore
	s.t.Logf("reused ports: %d requests answered while b2 drained and left (%d after its removal began), %d failed, %d skipped (port busy)",
		again.ok, after, len(again.errs), again.busy)
	if after < 20 {
		s.t.Errorf("only %d requests answered after b2's removal began: the load did not run", after)
	}
	if len(again.errs) > 0 {
		s.t.Errorf("%d requests from reused ports failed while b2 drained and left: %v", len(again.errs), again.errs)
	}
}

// portLoad counts requests made from fixed client ports by a number of
// workers.
type portLoad struct {
	mu     sync.Mutex
	ok     int
	busy   int         // the port was still held locally: not a request
	errs   []string    // the first ten failures
	began  []time.Time // when each worker's request in flight began; zero: none
	change *sync.Cond  // signalled when a request ends
}

func newPortLoad(workers int) *portLoad {
	pl := &portLoad{began: make([]time.Time, workers)}
	pl.change = sync.NewCond(&pl.mu)
	return pl
}

func (pl *portLoad) okCount() int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.ok
}

// waitBegunAfter waits until no worker has a request in flight that
// began before t.
func (pl *portLoad) waitBegunAfter(t time.Time) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for slices.ContainsFunc(pl.began, func(b time.Time) bool { return !b.IsZero() && b.Before(t) }) {
		pl.change.Wait()
	}
}

// fromPorts makes requests from ns to `to`, each on a connection from one
// of ports, with pl's workers in parallel, passing rounds times over the
// ports or until stop closes.
func (s *suite) fromPorts(pl *portLoad, ns netns.NsHandle, to netip.AddrPort, ports []uint16, rounds int, stop chan struct{}) {
	var wg sync.WaitGroup
	workers := len(pl.began)
	for w := range workers {
		wg.Go(func() {
			defer pl.idle(w)
			for range rounds {
				for i := w; i < len(ports); i += workers {
					select {
					case <-stop:
						return
					default:
					}
					began := pl.begin(w)
					_, err := closeFirstGet(ns, ports[i], to, 2*time.Second)
					pl.record(w, ports[i], began, err)
				}
			}
		})
	}
	wg.Wait()
}

func (pl *portLoad) begin(w int) time.Time {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.began[w] = time.Now()
	return pl.began[w]
}

func (pl *portLoad) idle(w int) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.began[w] = time.Time{}
	pl.change.Broadcast()
}

// record ends worker w's request from port, which began then.
func (pl *portLoad) record(w int, port uint16, began time.Time, err error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.began[w] = time.Time{}
	pl.change.Broadcast()
	switch {
	case err == nil:
		pl.ok++
	case errors.Is(err, unix.EADDRINUSE), errors.Is(err, unix.EADDRNOTAVAIL):
		pl.busy++
	case len(pl.errs) < 10:
		pl.errs = append(pl.errs, fmt.Sprintf("port %d, began %s, after %v: %v", port,
			began.Format("15:04:05.000"), time.Since(began).Round(time.Millisecond), err))
	default:
		pl.errs = append(pl.errs[:9], fmt.Sprintf("%s (and more)", pl.errs[9]))
	}
}

// closeFirstGet makes one request from local port `port` in ns, asking the
// server to close the connection, and reads until it has: the server
// closes first, so the client leaves no TIME_WAIT behind.
func closeFirstGet(ns netns.NsHandle, port uint16, to netip.AddrPort, timeout time.Duration) (string, error) {
	var c net.Conn
	err := nsthread.Do(ns, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{Port: int(port)},
			Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
				})
				return errors.Join(err, serr)
			}}
		var err error
		c, err = d.Dial("tcp4", to.String())
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: lbtest\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body) // to EOF: the server closed
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(body), nil
}
