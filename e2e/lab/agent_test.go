package lab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestAgentLifecycle drives the agent half of the lab (Up's init/join and
// readiness waits, Kill, Stop, Start, Agentctl) against the fake agent of
// fakeagent_test.go, which follows the agent's command-line contract.
func TestAgentLifecycle(t *testing.T) {
	needRoot(t)
	l := newTestLab(t, "shoalagent", Options{Nodes: 3, Bin: fakeBin(t), NoContainerd: true, NoRegistry: true})
	ctx := context.Background()
	bin, nodes := l.Bin(), l.Nodes()
	for _, n := range nodes {
		if s := nodeStatus(t, l, n.Name); s.Agent != StateRunning || s.AgentPID != n.AgentPID || s.AgentPID == 0 {
			t.Errorf("%s after Up: %+v (recorded pid %d)", n.Name, s, n.AgentPID)
		}
	}
	out, err := l.Agentctl(ctx, "n1", "node", "ls", "--format", "json")
	if ok, detail := clusterReady(out, 3); err != nil || !ok {
		t.Fatalf("node ls on n1: %v %s\n%s", err, detail, out)
	}
	if out, _, err := l.Exec(ctx, "n2", "agentctl", "info"); err != nil || out != "n2\n" {
		t.Errorf("agentctl from PATH with SHOAL_HOST on n2 = %q, %v", out, err)
	}

	must(t, l.Kill("n2", false))
	if s := nodeStatus(t, l, "n2"); s.Agent != StateKilled || s.AgentPID != 0 || procAlive(nodes[1].AgentPID) {
		t.Errorf("n2 after Kill: %+v", s)
	}
	waitUntil(t, 10*time.Second, "n1 sees n2 down", func() bool {
		out, err := l.Agentctl(ctx, "n1", "node", "ls", "--format", "json")
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, `"Hostname":"n2"`) && strings.Contains(line, `"Status":"down"`) {
				return err == nil
			}
		}
		return false
	})
	must(t, l.Start("n2"))
	if s := nodeStatus(t, l, "n2"); s.Agent != StateRunning || s.AgentPID == nodes[1].AgentPID {
		t.Errorf("n2 after Start: %+v", s)
	}
	must(t, waitClusterReady(ctx, bin, l.Nodes(), 10*time.Second))

	must(t, l.Stop("n3"))
	if s := nodeStatus(t, l, "n3"); s.Agent != StateStopped {
		t.Errorf("n3 after Stop: %+v", s)
	}
	if b, _ := os.ReadFile(nodes[2].AgentLog); !strings.Contains(string(b), "fake agent: terminated") {
		t.Errorf("n3's agent did not exit through its SIGTERM handler; log:\n%s", b)
	}
	if err := l.Stop("n3"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("second Stop = %v, want not running", err)
	}
	must(t, l.Start("n3"))
	if err := l.Start("n3"); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("Start of a running agent = %v, want already running", err)
	}

	must(t, l.Kill("n1", true))
	if s := nodeStatus(t, l, "n1"); s.Agent != StateKilled || !s.LinkDown {
		t.Errorf("n1 after kill --host: %+v", s)
	}
	must(t, l.Start("n1"))
	must(t, waitClusterReady(ctx, bin, l.Nodes(), 10*time.Second))
	args, err := os.ReadFile(nodes[0].AgentLog)
	if err != nil || strings.Contains(string(args), "missing or inconsistent flags") {
		t.Errorf("agent log of n1: %v\n%s", err, args)
	}
}
