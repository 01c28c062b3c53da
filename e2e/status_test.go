//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
)

// noLeaderWarning is the line agentctl prints on stderr for an answer
// given without a live leader.
var noLeaderWarning = regexp.MustCompile(`^warning: no leader is reachable \(since [-0-9: ]+, [0-9hms]+ ago\); statuses not confirmed by gossip show as Unknown\n$`)

// transports are the ways agentctl reaches node's agent: the root-only
// unix socket (the lab's default) and TCP with mutual TLS, authenticated
// by the node's own certificate.
func transports(t *testing.T, l *lab.Lab, node string) map[string][]string {
	t.Helper()
	n, err := l.Node(node)
	if err != nil {
		t.Fatal(err)
	}
	tlsFile := func(name string) string { return filepath.Join(n.DataDir, "tls", name) }
	return map[string][]string{
		"unix": {"--host", "unix://" + n.AgentSock},
		"tcp": {"--host", "tcp://" + net.JoinHostPort(n.Addr, strconv.Itoa(api.DefaultAPIPort)),
			"--tlscacert", tlsFile("ca.pem"), "--tlscert", tlsFile("node.pem"), "--tlskey", tlsFile("node-key.pem")},
	}
}

// agentctlOut runs agentctl on node and returns stdout and stderr apart.
func agentctlOut(t *testing.T, l *lab.Lab, node string, args ...string) (stdout, stderr string) {
	t.Helper()
	out, errOut, err := l.Exec(context.Background(), node, append([]string{filepath.Join(l.Bin(), "agentctl")}, args...)...)
	if err != nil {
		t.Fatalf("agentctl %s on %s: %v", strings.Join(args, " "), node, err)
	}
	return out, errOut
}

// nodeLsVia is `node ls --format json` through one transport, with the
// warning line agentctl wrote on stderr.
func nodeLsVia(t *testing.T, l *lab.Lab, node string, via []string) ([]nodeRow, string) {
	t.Helper()
	out, warn := agentctlOut(t, l, node, append(via, "node", "ls", "--format", "json")...)
	var rows []nodeRow
	for dec := json.NewDecoder(strings.NewReader(out)); dec.More(); {
		var r nodeRow
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("node ls on %s: %q: %v", node, out, err)
		}
		rows = append(rows, r)
	}
	return rows, warn
}

func infoVia(t *testing.T, l *lab.Lab, node string, via []string) api.Info {
	t.Helper()
	out, _ := agentctlOut(t, l, node, append(via, "info", "--format", "json")...)
	var info api.Info
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("info on %s: %q: %v", node, out, err)
	}
	return info
}

// statusOf renders rows as "host Status/ManagerStatus" for comparisons.
func statusOf(rows []nodeRow) string {
	var s []string
	for _, r := range rows {
		s = append(s, fmt.Sprintf("%s %s/%s", r.Hostname, r.Status, r.ManagerStatus))
	}
	return strings.Join(s, ", ")
}

// TestStatusWithoutLeader powers off two of three hosts: the survivor has
// no quorum, so no leader can vouch for its replica's "Ready" of the dead
// nodes. Invariant: on both transports it shows them Unknown and
// Unreachable with one warning line on stderr, and `info` dates the loss
// of the leader; once they are back, everything is Ready with no warning.
func TestStatusWithoutLeader(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3, NoContainerd: true, NoRegistry: true})
	via := transports(t, l, "n1")

	for name, pre := range via {
		rows, warn := nodeLsVia(t, l, "n1", pre)
		if leaderOf(rows) == "" || warn != "" {
			t.Fatalf("%s, healthy cluster: rows %s, stderr %q; want a leader and no warning", name, statusOf(rows), warn)
		}
		if info := infoVia(t, l, "n1", pre); !info.Authoritative || !info.NoLeaderSince.IsZero() {
			t.Fatalf("%s, healthy cluster: info says authoritative=%v, no leader since %v", name, info.Authoritative, info.NoLeaderSince)
		}
	}

	before := time.Now()
	for _, n := range []string{"n2", "n3"} {
		if err := l.Kill(n, true); err != nil {
			t.Fatal(err)
		}
	}
	// Gossip reports the hosts failed after its suspicion timeout.
	want := "n1 Ready/Reachable, n2 Unknown/Unreachable, n3 Unknown/Unreachable"
	waitUntil(t, 60*time.Second, "n2 and n3 Unknown on n1", func() (bool, string) {
		rows, warn := nodeLsVia(t, l, "n1", via["unix"])
		return statusOf(rows) == want && noLeaderWarning.MatchString(warn), statusOf(rows) + " stderr: " + warn
	})
	t.Logf("n2 and n3 shown Unknown on n1 %v after the power-off", time.Since(before).Round(time.Millisecond))
	for name, pre := range via {
		rows, warn := nodeLsVia(t, l, "n1", pre)
		t.Logf("%s, no quorum: %s; stderr: %s", name, statusOf(rows), strings.TrimSpace(warn))
		if got := statusOf(rows); got != want || !noLeaderWarning.MatchString(warn) {
			t.Errorf("%s, no quorum: node ls shows %s with stderr %q; want %s and the warning", name, got, warn, want)
		}
		asked := time.Now()
		info := infoVia(t, l, "n1", pre)
		if info.Authoritative || info.NoLeaderSince.Before(before) || info.NoLeaderSince.After(asked) {
			t.Errorf("%s, no quorum: info says authoritative=%v, no leader since %v; want false and a moment between %v and %v",
				name, info.Authoritative, info.NoLeaderSince, before, asked)
		}
	}
	out, _ := agentctlOut(t, l, "n1", "info")
	t.Logf("info without a leader:\n%s", out)
	if !regexp.MustCompile(`(?m)^Leader: +none reachable since [-0-9: ]+ \([0-9hms]+ ago\)`).MatchString(out) {
		t.Errorf("info without a leader:\n%s\nwant a line `Leader: none reachable since HH:MM:SS (Ns ago)`", out)
	}
	out, _ = agentctlOut(t, l, "n1", "node", "inspect", "--pretty", "n2")
	if !strings.Contains(out, "State:\t\t\tUnknown") || !strings.Contains(out, "last recorded status:") {
		t.Errorf("node inspect --pretty n2 without a leader:\n%s\nwant State Unknown and a message naming the last recorded status", out)
	}

	restarted := time.Now()
	for _, n := range []string{"n2", "n3"} {
		if err := l.Start(n); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 90*time.Second, "quorum back: all Ready with a leader and no warning on n1", func() (bool, string) {
		rows, warn := nodeLsVia(t, l, "n1", via["unix"])
		ok := len(rows) == 3 && leaderOf(rows) != "" && warn == ""
		for _, r := range rows {
			ok = ok && r.Status == "Ready"
		}
		return ok, statusOf(rows) + " stderr: " + warn
	})
	t.Logf("all Ready with a leader again %v after the restart began", time.Since(restarted).Round(time.Millisecond))
	for name, pre := range via {
		rows, warn := nodeLsVia(t, l, "n1", pre)
		if leaderOf(rows) == "" || warn != "" {
			t.Errorf("%s, quorum back: rows %s, stderr %q; want a leader and no warning", name, statusOf(rows), warn)
		}
		if info := infoVia(t, l, "n1", pre); !info.Authoritative || info.LeaderName == "" {
			t.Errorf("%s, quorum back: info says authoritative=%v, leader %q", name, info.Authoritative, info.LeaderName)
		}
	}
}
