package membership

import (
	"testing"
	"time"
)

func TestTimingProfile(t *testing.T) {
	fast, err := TimingProfile(ProfileFast)
	if err != nil || fast != DefaultTiming() {
		t.Fatalf("fast = %+v, %v; want DefaultTiming", fast, err)
	}
	prev := fast
	for _, name := range []string{ProfileLAN, ProfileSlow} {
		p, err := TimingProfile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Each profile waits longer than the one before for an ack, and
		// leaves a probe time to complete before the next one.
		if p.ProbeTimeout <= prev.ProbeTimeout || p.ProbeInterval <= prev.ProbeInterval || p.ProbeTimeout >= p.ProbeInterval {
			t.Errorf("%s = %+v after %+v: want longer timeouts, each under its interval", name, p, prev)
		}
		if p.withDefaults() != p {
			t.Errorf("%s leaves fields to the defaults: %+v", name, p)
		}
		prev = p
	}
	if slow, _ := TimingProfile(ProfileSlow); slow.ProbeInterval < 5*time.Second {
		t.Errorf("slow probes every %s: software-emulated VMs stall for seconds", slow.ProbeInterval)
	}
	if _, err := TimingProfile("fastest"); err == nil {
		t.Error("an unknown profile was accepted")
	}
}

// TestRaftTimingProfile: fast keeps raft's defaults; lan and slow stretch
// heartbeat, election and lease together, the lease staying within the
// heartbeat as raft requires; an unknown profile is refused.
func TestRaftTimingProfile(t *testing.T) {
	d := DefaultRaftTiming()
	for name, k := range map[string]time.Duration{ProfileFast: 1, "": 1, ProfileLAN: 2, ProfileSlow: 5} {
		got, err := RaftTimingProfile(name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if got.HeartbeatTimeout != k*d.HeartbeatTimeout || got.ElectionTimeout != k*d.ElectionTimeout ||
			got.LeaderLeaseTimeout != k*d.LeaderLeaseTimeout || got.LeaderLeaseTimeout > got.HeartbeatTimeout {
			t.Errorf("%q: %+v, want the defaults times %d", name, got, k)
		}
	}
	if _, err := RaftTimingProfile("glacial"); err == nil {
		t.Error("unknown profile accepted")
	}
}
