//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/e2e/lab"
)

// nodeRow is one line of `agentctl node ls --format json`.
type nodeRow struct {
	ID, Hostname, Status, Availability, ManagerStatus, EngineVersion string
	Self                                                             bool
}

func nodeLs(t *testing.T, l *lab.Lab, on string) []nodeRow {
	t.Helper()
	out, err := l.Agentctl(context.Background(), on, "node", "ls", "--format", "json")
	if err != nil {
		t.Fatalf("node ls on %s: %v", on, err)
	}
	var rows []nodeRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r nodeRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("node ls on %s: line %q: %v", on, line, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func byHost(rows []nodeRow) map[string]nodeRow {
	m := map[string]nodeRow{}
	for _, r := range rows {
		m[r.Hostname] = r
	}
	return m
}

func leaderOf(rows []nodeRow) string {
	for _, r := range rows {
		if r.ManagerStatus == "Leader" {
			return r.Hostname
		}
	}
	return ""
}

func TestClusterCore(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3, NoContainerd: true, NoRegistry: true})
	ctx := context.Background()

	t.Run("every node sees three Ready nodes and one leader", func(t *testing.T) {
		// The leader promotes joined agents to voters within a round of
		// its voter management (about a second).
		waitUntil(t, 15*time.Second, "three voters", func() (bool, string) {
			rows := nodeLs(t, l, "n1")
			n := 0
			for _, r := range rows {
				if r.ManagerStatus != "" {
					n++
				}
			}
			return n == 3, rowsString(rows)
		})
		for _, on := range []string{"n1", "n2", "n3"} {
			rows := nodeLs(t, l, on)
			if len(rows) != 3 {
				t.Fatalf("node ls on %s: %d rows, want 3: %+v", on, len(rows), rows)
			}
			leaders, reachable := 0, 0
			for _, r := range rows {
				if r.Status != "Ready" {
					t.Errorf("on %s: %s is %s, want Ready", on, r.Hostname, r.Status)
				}
				switch r.ManagerStatus {
				case "Leader":
					leaders++
				case "Reachable":
					reachable++
				}
				if r.Self != (r.Hostname == on) {
					t.Errorf("on %s: %s has Self=%v", on, r.Hostname, r.Self)
				}
			}
			if leaders != 1 || reachable != 2 {
				t.Errorf("on %s: %d leaders and %d reachable, want 1 and 2: %+v", on, leaders, reachable, rows)
			}
		}
	})

	t.Run("a write on n1 is visible on n2 when the command returns", func(t *testing.T) {
		if _, err := l.Agentctl(ctx, "n1", "node", "update", "--label-add", "env=test", "n3"); err != nil {
			t.Fatal(err)
		}
		out, err := l.Agentctl(ctx, "n2", "node", "inspect", "--format", "{{index .Labels \"env\"}}", "n3")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "test" {
			t.Fatalf("label env on n3 as seen from n2 = %q, want test", out)
		}
	})

	t.Run("a partitioned node cannot write and catches up after heal", func(t *testing.T) {
		if err := l.Partition("n3"); err != nil {
			t.Fatal(err)
		}
		healed := false
		defer func() {
			if !healed {
				_ = l.Heal()
			}
		}()
		// n3 notices the loss of its leader within an election timeout.
		waitUntil(t, 15*time.Second, "n3 refuses writes", func() (bool, string) {
			out, err := l.Agentctl(ctx, "n3", "node", "update", "--label-add", "side=minority", "n3")
			return err != nil && strings.Contains(err.Error(), "no leader reachable"), out + errString(err)
		})
		if _, err := l.Agentctl(ctx, "n1", "node", "update", "--label-add", "side=majority", "n2"); err != nil {
			t.Fatalf("majority write on n1: %v", err)
		}
		if _, err := l.Agentctl(ctx, "n2", "node", "update", "--label-add", "zone=a", "n1"); err != nil {
			t.Fatalf("majority write on n2: %v", err)
		}
		if err := l.Heal(); err != nil {
			t.Fatal(err)
		}
		healed = true
		waitUntil(t, 30*time.Second, "n3 sees the majority's writes", func() (bool, string) {
			out, err := l.Agentctl(ctx, "n3", "node", "inspect", "--format", "{{index .Labels \"side\"}}", "n2")
			return err == nil && strings.TrimSpace(out) == "majority", out + errString(err)
		})
		// n3 was away for longer than the voters' failed grace, so it was
		// removed and comes back as a non-voter, promoted a round later.
		// The next subtest kills the leader and needs three voters again.
		waitUntil(t, 30*time.Second, "all three Ready voters again", func() (bool, string) {
			rows := nodeLs(t, l, "n3")
			ok := len(rows) == 3
			for _, r := range rows {
				ok = ok && r.Status == "Ready" && (r.ManagerStatus == "Leader" || r.ManagerStatus == "Reachable")
			}
			return ok, rowsString(rows)
		})
	})

	t.Run("killing the leader elects another; the old one rejoins as a voter", func(t *testing.T) {
		old := leaderOf(nodeLs(t, l, "n1"))
		if old == "" {
			t.Fatal("no leader before the kill")
		}
		other := "n1"
		if old == "n1" {
			other = "n2"
		}
		if err := l.Kill(old, false); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		waitUntil(t, 10*time.Second, "a new leader", func() (bool, string) {
			rows := nodeLs(t, l, other)
			nl := leaderOf(rows)
			return nl != "" && nl != old, rowsString(rows)
		})
		t.Logf("new leader after %v", time.Since(killed).Round(time.Millisecond))
		waitUntil(t, 20*time.Second, old+" shown Down", func() (bool, string) {
			rows := nodeLs(t, l, other)
			return byHost(rows)[old].Status == "Down", rowsString(rows)
		})
		if err := l.Start(old); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 45*time.Second, old+" Ready again as a voter", func() (bool, string) {
			rows := nodeLs(t, l, other)
			r := byHost(rows)[old]
			return r.Status == "Ready" && (r.ManagerStatus == "Reachable" || r.ManagerStatus == "Leader"), rowsString(rows)
		})
	})

	t.Run("a wrong token is refused and the node stays outside", func(t *testing.T) {
		token, _, err := l.Exec(ctx, "n1", "agent", "join-token", "-q")
		if err != nil {
			t.Fatal(err)
		}
		token = strings.TrimSpace(token)
		// A second agent inside n3's namespace, on other ports, not joined.
		dir := t.TempDir()
		sock := filepath.Join(dir, "agent.sock")
		n3 := l.Nodes()[2]
		cmd, err := l.Command(ctx, "n3", filepath.Join(l.Bin(), "agent"), "--api-socket", sock, "run",
			"--data-dir", filepath.Join(dir, "data"), "--name", "intruder", "--bind", n3.Addr,
			"--gossip-port", "8946", "--raft-port", "8947", "--api-port", "8948")
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		waitUntil(t, 10*time.Second, "intruder agent up", func() (bool, string) {
			_, err := os.Stat(sock)
			return err == nil, errString(err)
		})
		bad := token[:len(token)-4] + "zzzz"
		out, _, err := l.Exec(ctx, "n3", "agent", "--api-socket", sock, "join", "--token", bad, l.Nodes()[0].Addr)
		if err == nil || !strings.Contains(err.Error(), "secret") {
			t.Fatalf("join with a wrong secret: err=%v out=%s; want a refusal naming the secret", err, out)
		}
		otherCA := "SHOALTKN-1-" + strings.Repeat("0", 64) + token[len(token)-27:]
		_, _, err = l.Exec(ctx, "n3", "agent", "--api-socket", sock, "join", "--token", otherCA, l.Nodes()[0].Addr)
		if err == nil || !strings.Contains(err.Error(), "does not match the join token") {
			t.Fatalf("join with another cluster's CA digest: err=%v; want a CA mismatch error", err)
		}
		for _, r := range nodeLs(t, l, "n1") {
			if r.Hostname == "intruder" {
				t.Fatalf("intruder appears in node ls: %+v", r)
			}
		}
	})
}

func TestVoterReplacement(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 6, NoContainerd: true, NoRegistry: true})
	ctx := context.Background()
	voters := func(on string) (int, string) {
		rows := nodeLs(t, l, on)
		n := 0
		for _, r := range rows {
			if r.ManagerStatus != "" && r.Status == "Ready" {
				n++
			}
		}
		return n, rowsString(rows)
	}
	waitUntil(t, 30*time.Second, "5 voters among 6 nodes", func() (bool, string) {
		n, rows := voters("n1")
		return n == 5, rows
	})
	// Kill a voter that is not the leader.
	rows := nodeLs(t, l, "n1")
	victim := ""
	for _, r := range rows {
		if r.ManagerStatus == "Reachable" {
			victim = r.Hostname
			break
		}
	}
	if victim == "" {
		t.Fatalf("no non-leader voter: %s", rowsString(rows))
	}
	if err := l.Kill(victim, false); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	watcher := "n1"
	if victim == "n1" {
		watcher = "n2"
	}
	waitUntil(t, 15*time.Second, victim+" seen Down", func() (bool, string) {
		rows := nodeLs(t, l, watcher)
		return byHost(rows)[victim].Status == "Down", rowsString(rows)
	})
	waitUntil(t, 30*time.Second, "voter count back to 5", func() (bool, string) {
		n, rows := voters(watcher)
		return n == 5, rows
	})
	t.Logf("voter %s replaced after %v", victim, time.Since(killed).Round(time.Millisecond))
	out, err := l.Agentctl(ctx, watcher, "info", "--format", "{{.Voters}}")
	if err != nil || strings.TrimSpace(out) != "5" {
		t.Fatalf("raft configuration voters = %q (%v), want 5", out, err)
	}
}
