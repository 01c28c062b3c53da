package lbtest

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/shoal-org/shoal/lb"
)

// rollUnderLoad: a rolling update's endpoint changes, applied while
// clients open connection after connection to an all-port VIP, lose no
// request. Each backend in turn is replaced the way the agent does it:
// start-first (the new backend added, then the old one drained at weight
// 0, then removed), stop-first (the old one drained and removed, then the
// new one added), and start-first with the new backend's arrival and the
// old one's drain in one Apply (a replica that catches up on both at
// once: a slot's element replaced in place). Each change is followed by a
// drain that lasts until every request begun before it has ended, as the
// agent's drain time is meant to, and a backend's server runs until it is
// removed, as a task's container does until its endpoint goes.
func (s *suite) rollUnderLoad() {
	dp := s.setup(4)
	to := netip.AddrPortFrom(vip1, backendHTTPPort)
	svc := func(ws map[int]int) lb.Service {
		out := lb.Service{Key: "web/vip/net", VIP: vip1}
		for i := 1; i <= 4; i++ {
			if w, ok := ws[i]; ok {
				out.Backends = append(out.Backends, lb.Backend{IP: s.topo.Backends[i-1].IP, Weight: w})
			}
		}
		return out
	}
	live := map[int]int{1: 1, 2: 1, 3: 1}
	s.apply(dp, svc(live))
	// Half the clients on the bridge, half in the node itself (the lab's
	// load runs there: connections of local origin are NATed in output).
	lc, ln := s.loadOn("client", to, 2), s.loadOn("node", to, 2)
	stop := func() { lc.stop(); ln.stop() }
	failures := func() []string { return append(lc.failures(), ln.failures()...) }
	served := func() int { return lc.served() + ln.served() }
	// step applies a change, then drains: it waits until every request
	// begun before the change has ended (what the agent's drain time
	// stands for), and a little more so that new ones begin.
	step := func(change func()) {
		change()
		s.apply(dp, svc(live))
		at := time.Now()
		deadline := at.Add(10 * time.Second)
		for (lc.begunBefore(at) || ln.begunBefore(at)) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
	spare := 4
	for round := range 6 {
		for _, old := range []int{1, 2, 3, 4} {
			if _, ok := live[old]; !ok || old == spare {
				continue
			}
			nw := spare
			switch round % 3 {
			case 0: // start-first
				step(func() { live[nw] = 1 })
				step(func() { live[old] = 0 })
				step(func() { delete(live, old) })
			case 1: // stop-first
				step(func() { live[old] = 0 })
				step(func() { delete(live, old) })
				step(func() { live[nw] = 1 })
			case 2: // start-first, arrival and drain in one Apply
				step(func() { live[nw], live[old] = 1, 0 })
				step(func() { delete(live, old) })
			}
			spare = old
		}
	}
	stop()
	s.t.Logf("roll under load: %d requests answered, %d failed", served(), len(failures()))
	if n := served(); n < 100 {
		s.t.Errorf("only %d requests answered during the roll: the load did not run", n)
	}
	if errs := failures(); len(errs) > 0 {
		s.t.Errorf("%d requests failed while endpoints changed (of %d): %v", len(errs), served()+len(errs), errs)
	}
}

// roller is load from one namespace: clients making request after request
// on fresh connections.
type roller struct {
	mu       sync.Mutex
	errs     []string
	ok       int
	inflight map[int]time.Time // client -> start of its request in flight
	done     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

// loadOn starts n clients that each make request after request on fresh
// connections to `to` from namespace from (see suite.ns); they stop at
// the end of the test at the latest.
func (s *suite) loadOn(from string, to netip.AddrPort, n int) *roller {
	r := &roller{inflight: map[int]time.Time{}, done: make(chan struct{})}
	for i := range n {
		r.wg.Go(func() {
			for {
				select {
				case <-r.done:
					return
				default:
				}
				r.mu.Lock()
				r.inflight[i] = time.Now()
				r.mu.Unlock()
				name, _, err := fetch(s.ns(from), to, 2*time.Second)
				r.mu.Lock()
				delete(r.inflight, i)
				if err != nil {
					r.errs = append(r.errs, fmt.Sprintf("%s from %s: %v", time.Now().Format("15:04:05.000"), from, err))
				} else if name != "" {
					r.ok++
				}
				r.mu.Unlock()
			}
		})
	}
	s.t.Cleanup(r.stop)
	return r
}

func (r *roller) stop() { r.once.Do(func() { close(r.done); r.wg.Wait() }) }

func (r *roller) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func (r *roller) served() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok
}

// begunBefore reports whether a request begun before t is still in flight.
func (r *roller) begunBefore(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, at := range r.inflight {
		if at.Before(t) {
			return true
		}
	}
	return false
}
