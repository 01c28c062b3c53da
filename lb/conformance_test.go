package lb_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/lb"
	"github.com/shoal-org/shoal/lb/lbtest"
)

// testLogger sends the dataplane's logs to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func newDP(kind string) lbtest.NewDataplane {
	return func(t *testing.T, ns string) lb.Dataplane {
		dp, err := lb.New(kind, lb.Options{NetNS: ns, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("new %s dataplane: %v", kind, err)
		}
		t.Cleanup(func() {
			if err := dp.Close(); err != nil {
				t.Errorf("Close %s dataplane: %v", kind, err)
			}
		})
		return dp
	}
}

// TestConformanceNftables runs the conformance suite against the nftables
// dataplane, with real traffic in fresh network namespaces.
func TestConformanceNftables(t *testing.T) {
	lbtest.Run(t, newDP(lb.KindNftables), lbtest.Env{})
}

// TestConformanceIPVS runs the conformance suite against the IPVS dataplane
// where the kernel has IPVS; elsewhere TestIPVSInVM (lb/ipvsvm) runs it in a
// VM.
func TestConformanceIPVS(t *testing.T) {
	if lb.Detect() != lb.KindIPVS {
		t.Skip("kernel has no IPVS; lb/ipvsvm's TestIPVSInVM runs this test in a VM")
	}
	lbtest.Run(t, newDP(lb.KindIPVS), lbtest.Env{})
}
