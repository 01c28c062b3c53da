package membership

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Timing holds the failure-detection and gossip knobs of memberlist and serf
// that matter for how fast a dead agent is noticed. The zero value of a field
// means "use DefaultTiming's value for it".
type Timing struct {
	// ProbeInterval is how often each agent probes one other agent (SWIM's
	// protocol period).
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct UDP ping waits for its ack before
	// indirect pings (through other agents) and a TCP ping are tried.
	ProbeTimeout time.Duration
	// GossipInterval is how often queued broadcasts (suspect/dead/alive/tag
	// messages) are sent to a few random agents.
	GossipInterval time.Duration
	// SuspicionMult scales the minimum suspicion timeout (see DefaultTiming).
	SuspicionMult int
	// SuspicionMaxTimeoutMult is Lifeguard's upper bound on the suspicion
	// timeout, as a multiple of the minimum.
	SuspicionMaxTimeoutMult int
	// ReconnectTimeout is how long a failed member stays in the member list
	// (and is retried) before it is reaped (EventReap).
	ReconnectTimeout time.Duration
	// TombstoneTimeout is how long a member that left stays in the member
	// list before it is reaped.
	TombstoneTimeout time.Duration
}

// DefaultTiming returns the timing shoal uses on a LAN of up to ~100 agents.
// The product goal is to replace a dead node's tasks within 3 s, so an agent
// killed with SIGKILL must be declared failed in about 1–2 s with 3–10 agents.
//
// How memberlist (SWIM + Lifeguard) turns these into a detection time:
//
//   - Every agent probes one peer per ProbeInterval, round robin in a shuffled
//     order, so with n agents the dead one is probed by *someone* about once
//     per ProbeInterval: first probe after ~ProbeInterval/2 on average.
//   - A probe that gets no ack within ProbeTimeout asks IndirectChecks (3)
//     peers to ping the target and tries TCP, waiting until the end of the
//     ProbeInterval; then the prober marks the target suspect and gossips it.
//   - A suspect becomes dead after the suspicion timeout. Its minimum is
//     SuspicionMult * max(1, log10(max(1, n))) * ProbeInterval; Lifeguard
//     starts the timer at SuspicionMaxTimeoutMult times that minimum and
//     shrinks it towards the minimum as k = SuspicionMult-2 other agents
//     independently confirm the suspicion (k = 0 when n-2 < k, i.e. with 3
//     agents the minimum applies directly). A live agent that hears it is
//     suspected refutes it within that window, which is what keeps a slow but
//     live agent from being declared dead.
//   - The dead message then spreads by gossip: every GossipInterval to 3
//     random peers, so O(log3 n) intervals to reach everyone.
//
// With ProbeInterval 200 ms, ProbeTimeout 100 ms, SuspicionMult 4 and
// GossipInterval 100 ms: for n <= 10 the minimum suspicion is 4*1*200 ms =
// 800 ms, confirmations arrive within a few probe intervals, so detection is
// ≈ 0.1 (first probe) + 0.2 (probe round) + 0.8 (suspicion) + 0.1–0.2
// (gossip) ≈ 1.2–1.4 s. For n = 100 the minimum is 4*2*200 ms = 1.6 s, about
// 2–2.5 s in all. memberlist's own LAN defaults (1 s probes, mult 4) give
// 5–6 s for the same n, too slow for the 3 s goal.
//
// SuspicionMaxTimeoutMult stays at Lifeguard's 6: the maximum (4.8 s for
// n <= 10) only applies when no other agent confirms the suspicion, which is
// the case where the prober itself is the likely culprit. Lifeguard's
// AwarenessMaxMultiplier (8, left at memberlist's default) further stretches
// the probe interval of an agent that is itself missing acks (e.g. CPU
// starved), so it does not accuse healthy peers.
//
// Cost: 5 probes per second per agent (two small UDP packets each) and gossip
// only when something changed; negligible on a LAN.
//
// ReconnectTimeout and TombstoneTimeout are serf's 24 h: a failed node stays
// listed (and serf keeps trying to reconnect to it) for a day before it is
// reaped; a node that left is forgotten after the same time.
func DefaultTiming() Timing {
	return Timing{
		ProbeInterval:           200 * time.Millisecond,
		ProbeTimeout:            100 * time.Millisecond,
		GossipInterval:          100 * time.Millisecond,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 6,
		ReconnectTimeout:        24 * time.Hour,
		TombstoneTimeout:        24 * time.Hour,
	}
}

// Timing profiles for `agent run --gossip-profile`.
const (
	// ProfileFast is DefaultTiming: a dead agent is declared failed in
	// about 1–2 s, for hosts whose CPUs are not starved.
	ProfileFast = "fast"
	// ProfileLAN is memberlist's own LAN timing (1 s probes, 500 ms
	// timeout): about 5–6 s, for busy or virtualised hosts.
	ProfileLAN = "lan"
	// ProfileSlow is for hosts that can stall for seconds: VMs under
	// software emulation (no KVM), overcommitted hypervisors, links across
	// sites. About 20–30 s.
	ProfileSlow = "slow"
)

// TimingProfile returns the timing of a named profile (ProfileFast,
// ProfileLAN or ProfileSlow). Fast detection on hosts that cannot answer a
// probe in time makes live agents flap between failed and alive, and every
// flap moves their tasks.
func TimingProfile(name string) (Timing, error) {
	switch name {
	case ProfileFast, "":
		return DefaultTiming(), nil
	case ProfileLAN:
		t := DefaultTiming()
		t.ProbeInterval, t.ProbeTimeout, t.GossipInterval = time.Second, 500*time.Millisecond, 200*time.Millisecond
		return t, nil
	case ProfileSlow:
		t := DefaultTiming()
		t.ProbeInterval, t.ProbeTimeout, t.GossipInterval = 5*time.Second, 3*time.Second, 500*time.Millisecond
		t.SuspicionMult = 6
		return t, nil
	}
	return Timing{}, fmt.Errorf("gossip profile %q: use %s, %s or %s", name, ProfileFast, ProfileLAN, ProfileSlow)
}

// withDefaults fills every zero field of t from DefaultTiming.
func (t Timing) withDefaults() Timing {
	d := DefaultTiming()
	if t.ProbeInterval <= 0 {
		t.ProbeInterval = d.ProbeInterval
	}
	if t.ProbeTimeout <= 0 {
		t.ProbeTimeout = d.ProbeTimeout
	}
	if t.GossipInterval <= 0 {
		t.GossipInterval = d.GossipInterval
	}
	if t.SuspicionMult <= 0 {
		t.SuspicionMult = d.SuspicionMult
	}
	if t.SuspicionMaxTimeoutMult <= 0 {
		t.SuspicionMaxTimeoutMult = d.SuspicionMaxTimeoutMult
	}
	if t.ReconnectTimeout <= 0 {
		t.ReconnectTimeout = d.ReconnectTimeout
	}
	if t.TombstoneTimeout <= 0 {
		t.TombstoneTimeout = d.TombstoneTimeout
	}
	return t
}

// Settings that are not part of Timing because they do not decide how fast
// a failure is seen.
const (
	// pushPullInterval is the full state sync between two random agents; it
	// repairs anything gossip lost (memberlist's LAN default is 30 s, and it
	// scales the interval up by itself above 32 agents).
	pushPullInterval = 15 * time.Second
	// deadNodeReclaimTime lets an agent that restarts under the same ID on a
	// different address take its name back after this long.
	deadNodeReclaimTime = 30 * time.Second
	// reconnectInterval is how often serf tries to reach failed members
	// (serf's default is 30 s). Once a member is failed, memberlist stops
	// probing it, so after a partition heals this dial is how the two
	// sides find each other again. Each agent dials a random failed member
	// with probability failed/alive per interval, so the cluster as a
	// whole tries each failed member about once an interval. At 2 s a
	// healed node is seen alive well inside the voters' failed grace
	// (10 s), so a network blip of a few seconds does not remove a voter;
	// at 10 s it did (the node counted as failed for up to 10 s after
	// the heal). The cost is one dial every 2 s per failed member.
	reconnectInterval = 2 * time.Second
)

// apply writes t (with defaults filled in) into a serf configuration and its
// memberlist configuration.
func (t Timing) apply(sc *serf.Config, mc *memberlist.Config) {
	t = t.withDefaults()
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.GossipInterval = t.GossipInterval
	mc.SuspicionMult = t.SuspicionMult
	mc.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	mc.PushPullInterval = pushPullInterval
	mc.DeadNodeReclaimTime = deadNodeReclaimTime
	sc.ReconnectTimeout = t.ReconnectTimeout
	sc.TombstoneTimeout = t.TombstoneTimeout
	sc.ReconnectInterval = reconnectInterval
}
