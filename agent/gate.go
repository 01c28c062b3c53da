package agent

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shoal-org/shoal/membership"
)

// The raft gate at start. An agent that restarts with raft state must not
// vote or campaign on it before it has had the chance to learn its
// cluster's generation: the cluster may have been recovered without it (see
// stale.go). Its guard keeps raft silent until openGate opens it: once
// every other server of its raft configuration answered gossip (their
// tags, with their generations, come with the answer) and none is at a
// higher generation, or after gateGrace when some never answered. A host whose network comes
// up a moment after the agent starts would otherwise reach nobody at
// first, open at once, and could elect a leader with other old voters
// before it hears of the recovered cluster.

// gateGrace bounds how long a restarting agent waits to hear from every
// peer it knows before it opens its raft gate anyway (a peer that is down
// has nothing to tell).
const gateGrace = 5 * time.Second

// gateRetry is how often unanswered peers are asked again meanwhile.
const gateRetry = 500 * time.Millisecond

// openGate opens cl's raft gate as described above: ids are the other
// servers of the raft configuration, addrs gossip addresses to ask again
// meanwhile, started when the agent began joining. Run it in its own
// goroutine (cl.wg).
func (cl *cluster) openGate(ids, addrs []string, started time.Time) {
	deadline := time.NewTimer(max(gateGrace-time.Since(started), 0))
	defer deadline.Stop()
	tick := time.NewTicker(gateRetry)
	defer tick.Stop()
	var joining atomic.Bool
	for {
		members := cl.ml.Members()
		if cl.guard.ObserveMembers(cl.id.NodeID, members) {
			return // stale: onStale rejoins
		}
		if len(unansweredIDs(ids, members)) == 0 {
			cl.openGateNow("every server of the raft configuration answered")
			return
		}
		select {
		case <-cl.ctx.Done():
			return
		case <-deadline.C:
			cl.openGateNow("some servers of the raft configuration did not answer within " + gateGrace.String())
			return
		case <-tick.C:
			// A join to a host that does not answer can block for
			// seconds: at most one at a time.
			if missing := unanswered(addrs, members); len(missing) > 0 && joining.CompareAndSwap(false, true) {
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

// gatePeers returns the IDs of the other servers of the raft
// configuration, and every gossip address where an agent of this cluster
// may be found: the nodes of the replica, the agents serf's snapshot last
// saw alive, and the hosts of the raft configuration at this agent's
// gossip port. A restarted agent whose raft log holds no snapshot yet has
// an empty replica, so the replica alone is not enough.
func (cl *cluster) gatePeers() (ids, addrs []string) {
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	for _, a := range cl.knownPeers() {
		add(a)
	}
	for _, a := range serfSnapshotPeers(cl.id.path("serf.snapshot"), cl.id.NodeID) {
		add(a)
	}
	if servers, err := cl.raft.Servers(); err == nil {
		for _, s := range servers {
			if s.ID == cl.id.NodeID {
				continue
			}
			ids = append(ids, s.ID)
			if host, _, err := net.SplitHostPort(s.Address); err == nil {
				add(net.JoinHostPort(host, strconv.Itoa(cl.a.cfg.GossipPort)))
			}
		}
	}
	return ids, addrs
}

// serfSnapshotPeers reads the addresses of the agents (but self) that serf's
// snapshot file last recorded alive ("alive: NAME ADDR" and "not-alive:
// NAME" lines); a missing or unreadable file gives none.
func serfSnapshotPeers(path, self string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	alive := map[string]string{}
	var order []string
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "alive: "); ok {
			if name, addr, ok := strings.Cut(rest, " "); ok && name != self {
				if _, known := alive[name]; !known {
					order = append(order, name)
				}
				alive[name] = addr
			}
		} else if name, ok := strings.CutPrefix(line, "not-alive: "); ok {
			delete(alive, name)
		}
	}
	var out []string
	for _, name := range order {
		if a, ok := alive[name]; ok {
			out = append(out, a)
		}
	}
	return out
}

func (cl *cluster) openGateNow(why string) {
	if cl.guard.ObserveMembers(cl.id.NodeID, cl.ml.Members()) {
		return
	}
	if cl.guard.Open() {
		cl.log.Info("raft gate open: no higher recovery generation seen", "generation", cl.guard.Generation(), "why", why)
	}
}

// unansweredIDs returns the ids that are not alive members.
func unansweredIDs(ids []string, members []membership.Member) []string {
	alive := map[string]bool{}
	for _, m := range members {
		alive[m.ID] = m.Status == membership.StatusAlive
	}
	var out []string
	for _, id := range ids {
		if !alive[id] {
			out = append(out, id)
		}
	}
	return out
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
