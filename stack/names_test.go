package stack

import (
	"strings"
	"testing"

	"github.com/shoal-org/shoal/spec"
)

// TestNamesAgreeWithSpec: the stack's name checks accept exactly what the
// leader's do (spec is imported by this test only: agentctl must not link
// it).
func TestNamesAgreeWithSpec(t *testing.T) {
	for _, name := range []string{"s_web", "s_web-2", "s__web", "s_web_", "s_web.v2", "s-", "_s", "tasks", "TASKS", "a",
		strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("a", 63), strings.Repeat("a", 64), "s_wéb"} {
		if got, want := checkServiceName("f", name) == nil, spec.ValidateServiceName(name) == nil; got != want {
			t.Errorf("service name %q: stack accepts=%v, spec accepts=%v", name, got, want)
		}
		if got, want := checkNetworkName("f", name) == nil, spec.ValidateNetworkName(name) == nil; got != want {
			t.Errorf("network name %q: stack accepts=%v, spec accepts=%v", name, got, want)
		}
	}
}
