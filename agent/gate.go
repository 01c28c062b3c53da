package agent

import (
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoal-org/shoal/membership"
)

// The raft gate at start. An agent that restarts with raft state must not
// vote or campaign on it before it has had the chance to learn its
// cluster's generation: the cluster may have been recovered without it (see
// stale.go). Its guard keeps raft silent until openGate opens it: once
// every peer it knows of answered gossip (their tags, with their
// generations, come with the answer) and none is at a higher generation,
// or after gateGrace when some never answered. A host whose network comes
// up a moment after the agent starts would otherwise reach nobody at
// first, open at once, and could elect a leader with other old voters
// before it hears of the recovered cluster.

// gateGrace bounds how long a restarting agent waits to hear from every
// peer it knows before it opens its raft gate anyway (a peer that is down
// has nothing to tell).
const gateGrace = 5 * time.Second

// gateRetry is how often unanswered peers are asked again meanwhile.
const gateRetry = 500 * time.Millisecond

// openGate opens cl's raft gate as described above; started is when the
// agent began joining. Run it in its own goroutine (cl.wg).
func (cl *cluster) openGate(peers []string, started time.Time) {
	deadline := time.NewTimer(max(gateGrace-time.Since(started), 0))
	defer deadline.Stop()
	tick := time.NewTicker(gateRetry)
	defer tick.Stop()
	var joining atomic.Bool
	for {
		if cl.guard.ObserveMembers(cl.id.NodeID, cl.ml.Members()) {
			return // stale: onStale rejoins
		}
		missing := unanswered(peers, cl.ml.Members())
		if len(missing) == 0 {
			cl.openGateNow("every known peer answered")
			return
		}
		select {
		case <-cl.ctx.Done():
			return
		case <-deadline.C:
			cl.openGateNow("some known peers did not answer within " + gateGrace.String())
			return
		case <-tick.C:
			// A join to a host that does not answer can block for
			// seconds: at most one at a time.
			if joining.CompareAndSwap(false, true) {
				cl.wg.Add(1)
				go func() {
					defer cl.wg.Done()
					defer joining.Store(false)
					_, _ = cl.ml.Join(missing)
				}()
			}
		}
	}
}

func (cl *cluster) openGateNow(why string) {
	if cl.guard.ObserveMembers(cl.id.NodeID, cl.ml.Members()) {
		return
	}
	if cl.guard.Open() {
		cl.log.Info("raft gate open: no higher recovery generation seen", "generation", cl.guard.Generation(), "why", why)
	}
}

// unanswered returns the peers (gossip host:port) that are not alive
// members.
func unanswered(peers []string, members []membership.Member) []string {
	alive := map[string]bool{}
	for _, m := range members {
		if m.Status == membership.StatusAlive {
			alive[net.JoinHostPort(m.Addr, strconv.Itoa(m.Port))] = true
		}
	}
	var out []string
	for _, p := range peers {
		if !alive[p] {
			out = append(out, p)
		}
	}
	return out
}
