package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// atFixedNow sets the CLI's clock to fixedNow for the rest of the test.
func atFixedNow(t *testing.T) {
	old := nowFunc
	nowFunc = func() time.Time { return fixedNow }
	t.Cleanup(func() { nowFunc = old })
}

// fixtureNodes are three voters as `GET /v1/nodes` on n1 returns them:
// with fresh set, from a live leader (n2); otherwise from n1's replica
// after n2 and n3 were powered off, since 41 s before fixedNow.
func fixtureNodes(fresh bool) []api.Node {
	mk := func(id, host string, self bool, ms string) api.Node {
		n := api.Node{Self: self, ManagerStatus: ms, Freshness: api.Freshness{Authoritative: true}}
		n.ID, n.Hostname, n.Status, n.Availability, n.EngineVersion = id, host, types.NodeReady, types.AvailabilityActive, "0.1.0"
		return n
	}
	nodes := []api.Node{
		mk("n3x7d0k2q9w4e8r5t1y6u3i0p", "n3", false, "Reachable"),
		mk("n1a2b3c4d5e6f7g8h9i0j1k2l", "n1", true, "Reachable"),
		mk("n2z9y8x7w6v5u4t3s2r1q0p9o", "n2", false, "Leader"),
	}
	if fresh {
		return nodes
	}
	stale := api.Freshness{NoLeaderSince: fixedNow.Add(-41 * time.Second)}
	for i := range nodes {
		nodes[i].Freshness = stale
		if !nodes[i].Self {
			nodes[i].ReplicaStatus, nodes[i].Status, nodes[i].ManagerStatus = types.NodeReady, types.NodeUnknown, "Unreachable"
		}
	}
	return nodes
}

// runOutput runs agentctl ARGS against a fake agent holding nodes and
// services and returns its stdout, then its stderr after a marker line.
func runOutput(t *testing.T, nodes []api.Node, svcs []api.Service, args ...string) string {
	t.Helper()
	f, g, out := newFakeAgent(t)
	errOut := captureStderr(t)
	f.nodes = nodes
	for i := range svcs {
		f.svcs = append(f.svcs, &svcs[i])
	}
	if err := runCtl(t, g, args...); err != nil {
		t.Fatalf("agentctl %s: %v", strings.Join(args, " "), err)
	}
	return out.String() + "--- stderr\n" + errOut.String()
}

func TestNodeLsOutput(t *testing.T) {
	atFixedNow(t)
	for _, tt := range []struct {
		name  string
		fresh bool
		args  []string
	}{
		{"node_ls", true, nil},
		{"node_ls_noleader", false, nil},
		{"node_ls_noleader_json", false, []string{"--format", "json"}},
		{"node_ls_noleader_quiet", false, []string{"-q"}},
	} {
		got := runOutput(t, fixtureNodes(tt.fresh), nil, append([]string{"node", "ls"}, tt.args...)...)
		golden(t, tt.name, got)
	}
}

func TestServiceLsNoLeaderOutput(t *testing.T) {
	atFixedNow(t)
	svcs := fixtureServices()
	for i := range svcs {
		svcs[i].Freshness = api.Freshness{NoLeaderSince: fixedNow.Add(-2*time.Hour - 5*time.Minute)}
	}
	golden(t, "service_ls_noleader", runOutput(t, nil, svcs, "service", "ls"))
	// With a live leader nothing is written on stderr.
	for i := range svcs {
		svcs[i].Freshness = api.Freshness{Authoritative: true}
	}
	if got := runOutput(t, nil, svcs, "service", "ls", "-q"); !strings.HasSuffix(got, "--- stderr\n") {
		t.Errorf("service ls with a leader wrote on stderr:\n%s", got)
	}
}

func TestInfoOutput(t *testing.T) {
	info := api.Info{NodeID: "n1a2b3c4d5e6f7g8h9i0j1k2l", Name: "n1", ClusterID: "c0ffee0000000000000000000", InCluster: true,
		Addr: "10.77.0.1", APIPort: 7948, RaftState: "Leader", LeaderID: "n1a2b3c4d5e6f7g8h9i0j1k2l", LeaderName: "n1",
		Role: "voter", Voters: 3, Nodes: 3, AppliedIdx: 1234, Dataplane: "nftables", Version: "0.1.0",
		Freshness: api.Freshness{Authoritative: true}}
	var buf bytes.Buffer
	writeInfo(&buf, info, fixedNow)
	buf.WriteString("--- quorum lost 41s ago, raft still names the old leader\n")
	info.RaftState, info.LeaderID, info.LeaderName = "Follower", "n2z9y8x7w6v5u4t3s2r1q0p9o", "n2"
	info.Freshness = api.Freshness{NoLeaderSince: fixedNow.Add(-41 * time.Second)}
	writeInfo(&buf, info, fixedNow)
	buf.WriteString("--- no leader since yesterday, raft names none\n")
	info.RaftState, info.LeaderID, info.LeaderName = "Candidate", "", ""
	info.NoLeaderSince = fixedNow.Add(-25 * time.Hour)
	writeInfo(&buf, info, fixedNow)
	golden(t, "info", buf.String())
}
