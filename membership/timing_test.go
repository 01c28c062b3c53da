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
