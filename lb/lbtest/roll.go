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
// once: a slot's element replaced in place). The drain lasts longer than
// a request, as the agent's does, and a backend's server runs until it is
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
	stopC, failuresC, servedC := s.loadOn("client", to, 2)
	stopN, failuresN, servedN := s.loadOn("node", to, 2)
	stop := func() { stopC(); stopN() }
	failures := func() []string { return append(failuresC(), failuresN()...) }
	served := func() int { return servedC() + servedN() }
	const drain = 100 * time.Millisecond
	step := func(change func()) {
		change()
		s.apply(dp, svc(live))
		time.Sleep(drain) // let connections begin and end between changes
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

// loadOn starts n clients that each make request after request on fresh
// connections to `to` from namespace from (see suite.ns). stop ends them; failures
// and served report what they saw.
func (s *suite) loadOn(from string, to netip.AddrPort, n int) (stop func(), failures func() []string, served func() int) {
	var (
		mu   sync.Mutex
		errs []string
		ok   int
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				name, _, err := fetch(s.ns(from), to, 2*time.Second)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s from %s: %v", time.Now().Format("15:04:05.000"), from, err))
				} else if name != "" {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	s.t.Cleanup(stop)
	failures = func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), errs...) }
	served = func() int { mu.Lock(); defer mu.Unlock(); return ok }
	return stop, failures, served
}
