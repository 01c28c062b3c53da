package doctor

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxSkew is the clock difference to a member that the check tolerates:
// raft's timeouts and certificate validity both assume clocks agree to
// about a second.
const maxSkew = time.Second

// maxPeers bounds how many members the clock check asks (at once).
const maxPeers = 8

// clockChecks compares this host's clock with the other live members'. No
// API reports a member's time, so it reads the Date header of one HTTPS
// request to each member's API (mutual TLS with this node's certificates).
// Date has whole seconds: the member's clock was in [Date, Date+1s) at some
// instant between sending and receiving, so the skew lies in
// (Date-received, Date+1s-sent); the check warns only when that whole
// interval is beyond maxSkew.
func clockChecks(ctx context.Context, o Options, agent localAgent) []Finding {
	const id = "clock"
	switch {
	case agent.err != nil:
		return []Finding{{ID: id, Status: Skip, Detail: fmt.Sprintf("no local agent answers on %s, so no members to compare with", o.APISocket)}}
	case !agent.info.InCluster:
		return []Finding{{ID: id, Status: Skip, Detail: "the local agent is in no cluster"}}
	}
	peers := peerAPIs(agent)
	if len(peers) == 0 {
		return []Finding{{ID: id, Status: Skip, Detail: "no other live member"}}
	}
	samples := make([]ClockSample, len(peers))
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			samples[i], errs[i] = o.Host.PeerClock(rctx, o.DataDir, p.addr)
		}()
	}
	wg.Wait()
	var far, unreachable, near []string
	for i, p := range peers {
		s, err := samples[i], errs[i]
		if err != nil {
			unreachable = append(unreachable, fmt.Sprintf("%s (%v)", p.name, err))
			continue
		}
		lo, hi := s.Date.Sub(s.Received), s.Date.Add(time.Second).Sub(s.Sent)
		if lo > maxSkew || hi < -maxSkew {
			far = append(far, fmt.Sprintf("%s by %s..%s", p.name, lo.Round(time.Millisecond), hi.Round(time.Millisecond)))
		} else {
			near = append(near, p.name)
		}
	}
	switch {
	case len(far) > 0:
		return []Finding{{ID: id, Status: Warn, Detail: "clock differs by more than 1s from " + strings.Join(far, ", "),
			Fix: "run time synchronisation on every host: apt-get install systemd-timesyncd (or chrony)"}}
	case len(near) == 0:
		return []Finding{{ID: id, Status: Skip, Detail: "no member answered: " + strings.Join(unreachable, "; ")}}
	}
	d := "within 1s of " + strings.Join(near, ", ")
	if len(unreachable) > 0 {
		d += "; not asked: " + strings.Join(unreachable, "; ")
	}
	return []Finding{{ID: id, Status: OK, Detail: d}}
}

type peerAPI struct{ name, addr string }

// peerAPIs lists the live members other than the local agent, by name, with
// their API address (gossip host, "api" tag port), at most maxPeers.
func peerAPIs(agent localAgent) []peerAPI {
	var out []peerAPI
	for _, m := range agent.members {
		if m.ID == agent.info.NodeID || m.Status != "alive" || m.Tags["api"] == "" {
			continue
		}
		host, _, err := net.SplitHostPort(m.Addr)
		if err != nil {
			continue
		}
		out = append(out, peerAPI{name: m.Name, addr: net.JoinHostPort(host, m.Tags["api"])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	if len(out) > maxPeers {
		out = out[:maxPeers]
	}
	return out
}
