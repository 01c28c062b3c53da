//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/e2e/lab"
)

// TestFrontDoorRefusals: the inputs that took a lab down, and a few other
// bad ones, are refused by the leader's front door with an error naming
// the value; nothing changes, the leader stays, and the cluster answers
// right after.
func TestFrontDoorRefusals(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3, NoContainerd: true, NoRegistry: true})
	ctx := context.Background()
	leader := leaderOf(nodeLs(t, l, "n1"))
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "web", "--replicas", "1", "web:v1")
	before := agentctl(t, l, "n2", "service", "inspect", "web")

	refusals := []struct {
		want string
		args []string
	}{
		{"exceeds the limit 10000", []string{"service", "create", "--detach", "--name", "huge", "--replicas", "100000000", "web:v1"}},
		{"exceeds the limit 10000", []string{"service", "scale", "--detach", "web=100000000"}},
		{"Bad Image Ref::", []string{"service", "update", "--detach", "--image", "Bad Image Ref::", "web"}},
		{"WEB", []string{"service", "create", "--detach", "--name", "WEB", "web:v1"}},
		{"7948", []string{"service", "create", "--detach", "--name", "pub", "--publish", "7948:80", "web:v1"}},
		{"127.0.0.0/24", []string{"network", "create", "--subnet", "127.0.0.0/24", "lo"}},
		{"10.77.0.0/24", []string{"network", "create", "--subnet", "10.77.0.0/24", "lan"}},
		{"zone", []string{"node", "update", "--label-rm", "zone", "n2"}},
	}
	for _, r := range refusals {
		out, err := l.Agentctl(ctx, "n3", r.args...)
		if err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("agentctl %s: err = %v, want one naming %q\n%s", strings.Join(r.args, " "), err, r.want, out)
			continue
		}
		start := time.Now()
		if _, err := l.Agentctl(ctx, "n1", "service", "ls"); err != nil {
			t.Fatalf("service ls right after %q: %v", r.args, err)
		}
		t.Logf("%s: %v; service ls answered %v later", strings.Join(r.args, " "), err, time.Since(start).Round(time.Millisecond))
	}
	if after := agentctl(t, l, "n2", "service", "inspect", "web"); after != before {
		t.Errorf("refused requests changed service web:\nbefore %s\nafter  %s", before, after)
	}
	if out := agentctl(t, l, "n1", "service", "ls", "-q"); len(strings.Fields(out)) != 1 {
		t.Errorf("services after the refusals: %q, want web only", out)
	}
	if now := leaderOf(nodeLs(t, l, "n1")); now != leader {
		t.Errorf("leader moved from %s to %s during the refusals", leader, now)
	}
}
