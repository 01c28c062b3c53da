package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// testAgent is one in-process agent on loopback with its own ports.
type testAgent struct {
	a      *Agent
	c      *api.Client
	cancel context.CancelFunc
	done   chan error
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	// Every port is held until all are found, so that one call never
	// returns the same port twice.
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for len(ports) < n {
		// serf needs the port free for both TCP and UDP.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		p := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		held = append(held, pc)
		ports = append(ports, p)
	}
	return ports
}

func startAgent(t *testing.T, name string) *testAgent {
	t.Helper()
	dir := t.TempDir()
	p := freePorts(t, 3)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sock := filepath.Join(dir, "agent.sock")
	a, err := New(Config{DataDir: filepath.Join(dir, "data"), Name: name, BindAddr: "127.0.0.1",
		GossipPort: p[0], RaftPort: p[1], APIPort: p[2], APISocket: sock, VoterGrace: 2 * time.Second, Logger: logger.With("node", name)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	if ta.c, err = api.NewClient("unix://"+sock, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "API socket of "+name, func() error {
		var info api.Info
		return ta.c.Do(context.Background(), http.MethodGet, "/v1/info", nil, &info)
	})
	t.Cleanup(ta.stop)
	return ta
}

func (ta *testAgent) stop() {
	if ta.cancel == nil {
		return
	}
	ta.cancel()
	<-ta.done
	ta.cancel = nil
}

func (ta *testAgent) do(method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return ta.c.Do(ctx, method, path, in, out)
}

func (ta *testAgent) nodes(t *testing.T) []api.Node {
	t.Helper()
	var ns []api.Node
	if err := ta.do(http.MethodGet, "/v1/nodes", nil, &ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// formCluster inits the first agent and joins the others to it.
func formCluster(t *testing.T, names ...string) []*testAgent {
	t.Helper()
	agents := make([]*testAgent, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() { defer wg.Done(); agents[i] = startAgent(t, n) }()
	}
	wg.Wait()
	var init api.InitResponse
	if err := agents[0].do(http.MethodPost, "/v1/cluster/init", api.InitRequest{}, &init); err != nil {
		t.Fatalf("init: %v", err)
	}
	peer := fmt.Sprintf("127.0.0.1:%d", agents[0].a.cfg.APIPort)
	if !strings.Contains(init.JoinCommand, "agent join --token "+init.Token+" "+peer) {
		t.Fatalf("join command %q does not name the token and %s", init.JoinCommand, peer)
	}
	for _, ta := range agents[1:] {
		if err := ta.do(http.MethodPost, "/v1/cluster/join", api.JoinRequest{Token: init.Token, Peer: peer}, nil); err != nil {
			t.Fatalf("join %s: %v", ta.a.cfg.Name, err)
		}
	}
	return agents
}

func TestInitJoinReplicateLeave(t *testing.T) {
	agents := formCluster(t, "n1", "n2", "n3")
	eventually(t, 15*time.Second, "three voters, one leader", func() error {
		ns := agents[2].nodes(t)
		leaders, voters := 0, 0
		for _, n := range ns {
			if n.ManagerStatus == "Leader" {
				leaders++
			}
			if n.ManagerStatus != "" && n.Status == types.NodeReady {
				voters++
			}
		}
		if len(ns) != 3 || leaders != 1 || voters != 3 {
			return fmt.Errorf("%d nodes, %d leaders, %d ready voters", len(ns), leaders, voters)
		}
		return nil
	})

	// A write through a follower is forwarded, and a read on another
	// follower right after sees it.
	upd := api.NodeUpdate{LabelAdd: map[string]string{"env": "test"}, Availability: "drain"}
	if err := agents[1].do(http.MethodPost, "/v1/nodes/n3/update", upd, nil); err != nil {
		t.Fatalf("update via n2: %v", err)
	}
	var n3 api.Node
	if err := agents[2].do(http.MethodGet, "/v1/nodes/n3", nil, &n3); err != nil {
		t.Fatal(err)
	}
	if n3.Labels["env"] != "test" || n3.Availability != types.AvailabilityDrain {
		t.Fatalf("n3 as seen by n3 right after the write: labels %v availability %s", n3.Labels, n3.Availability)
	}

	dockerEngineAPI(t, agents[1], n3)

	// Bad input is refused and changes nothing.
	err := agents[0].do(http.MethodPost, "/v1/nodes/n3/update", api.NodeUpdate{Availability: "sleep"}, nil)
	if err == nil || !strings.Contains(err.Error(), "use active, pause or drain") {
		t.Fatalf("bad availability: %v", err)
	}
	if err := agents[0].do(http.MethodGet, "/v1/nodes/nosuch", nil, nil); !api.IsNotFound(err) {
		t.Fatalf("unknown node: %v, want not found", err)
	}
	// A Ready node cannot be removed.
	if err := agents[0].do(http.MethodDelete, "/v1/nodes/n2", nil, nil); err == nil || !strings.Contains(err.Error(), "only a Down node") {
		t.Fatalf("removing a Ready node: %v", err)
	}

	// Graceful leave: the node shows Down (left), not failed, and its data
	// dir no longer names the cluster.
	if err := agents[2].do(http.MethodPost, "/v1/cluster/leave", nil, nil); err != nil {
		t.Fatalf("leave: %v", err)
	}
	eventually(t, 10*time.Second, "n3 Down after leaving", func() error {
		for _, n := range agents[0].nodes(t) {
			if n.Hostname == "n3" && n.Status == types.NodeDown && strings.Contains(n.StatusMessage, "left") {
				return nil
			}
		}
		return fmt.Errorf("nodes: %+v", agents[0].nodes(t))
	})
	var info api.Info
	if err := agents[2].do(http.MethodGet, "/v1/info", nil, &info); err != nil || info.InCluster {
		t.Fatalf("after leave: info %+v err %v", info, err)
	}
	if err := agents[0].do(http.MethodDelete, "/v1/nodes/n3", nil, nil); err != nil {
		t.Fatalf("remove the Down node: %v", err)
	}
	if ns := agents[1].nodes(t); len(ns) != 2 {
		t.Fatalf("after rm: %d nodes, want 2", len(ns))
	}
}

func TestJoinRefusals(t *testing.T) {
	agents := formCluster(t, "a1")
	outsider := startAgent(t, "outsider")
	var tok api.TokenResponse
	if err := agents[0].do(http.MethodGet, "/v1/cluster/join-token", nil, &tok); err != nil {
		t.Fatal(err)
	}
	peer := fmt.Sprintf("127.0.0.1:%d", agents[0].a.cfg.APIPort)
	cases := []struct{ name, token, want string }{
		{"malformed", "hello", "malformed"},
		{"wrong secret", tok.Token[:len(tok.Token)-3] + "aaa", "secret"},
		{"other cluster", "SHOALTKN-1-" + strings.Repeat("ab", 32) + tok.Token[len(tok.Token)-27:], "does not match the join token"},
	}
	for _, c := range cases {
		err := outsider.do(http.MethodPost, "/v1/cluster/join", api.JoinRequest{Token: c.token, Peer: peer}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	// Rotation: the old token stops working.
	var rot api.TokenResponse
	if err := agents[0].do(http.MethodPost, "/v1/cluster/join-token/rotate", nil, &rot); err != nil || rot.Token == tok.Token {
		t.Fatalf("rotate: %v (token changed: %v)", err, rot.Token != tok.Token)
	}
	err := outsider.do(http.MethodPost, "/v1/cluster/join", api.JoinRequest{Token: tok.Token, Peer: peer}, nil)
	if err == nil || !strings.Contains(err.Error(), "rotated") {
		t.Fatalf("old token after rotation: %v", err)
	}
	var info api.Info
	if err := outsider.do(http.MethodGet, "/v1/info", nil, &info); err != nil || info.InCluster {
		t.Fatalf("outsider after refusals: %+v %v", info, err)
	}
	if ns := agents[0].nodes(t); len(ns) != 1 {
		t.Fatalf("cluster has %d nodes after refused joins, want 1", len(ns))
	}
	// The refused agent can still join with the current token.
	if err := outsider.do(http.MethodPost, "/v1/cluster/join", api.JoinRequest{Token: rot.Token, Peer: peer}, nil); err != nil {
		t.Fatalf("join with the rotated token: %v", err)
	}
}

func TestRestartRejoinsWithoutFlags(t *testing.T) {
	agents := formCluster(t, "r1", "r2", "r3")
	// Stop r3 only once it is a voter: stopped while the leader is promoting
	// it, the two-voter configuration in between would have no quorum.
	eventually(t, 20*time.Second, "three voters", func() error {
		v := 0
		for _, n := range agents[0].nodes(t) {
			if n.Role == types.RoleVoter {
				v++
			}
		}
		if v != 3 {
			return fmt.Errorf("%d voters", v)
		}
		return nil
	})
	cfg := agents[2].a.cfg
	agents[2].stop()
	eventually(t, 20*time.Second, "r3 Down after its agent stopped", func() error {
		for _, n := range agents[0].nodes(t) {
			if n.Hostname == "r3" && n.Status == types.NodeDown {
				return nil
			}
		}
		return fmt.Errorf("nodes: %+v", agents[0].nodes(t))
	})
	// Same data dir and ports, no join: it must come back by itself.
	restartAgent(t, cfg)
	eventually(t, 20*time.Second, "r3 Ready again", func() error {
		for _, n := range agents[0].nodes(t) {
			if n.Hostname == "r3" && n.Status == types.NodeReady && n.ManagerStatus != "" {
				return nil
			}
		}
		return fmt.Errorf("nodes: %+v", agents[0].nodes(t))
	})
}

// dockerEngineAPI drives the Engine API on a follower's docker.sock (n2:
// n1 founded the cluster and normally leads), as
// the docker CLI does: a node update with a stale ?version= is refused and
// changes nothing; one with the version read is forwarded to the leader's
// TCP listener (Docker paths beside /v1) and applied.
func dockerEngineAPI(t *testing.T, follower *testAgent, n api.Node) {
	t.Helper()
	sock := follower.a.cfg.DockerSocket
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	post := func(version uint64, spec string) (int, string) {
		url := fmt.Sprintf("http://docker/v1.50/nodes/%s/update?version=%d", n.ID, version)
		resp, err := hc.Post(url, "application/json", strings.NewReader(spec))
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The role as it is: n3 may or may not have been promoted yet, and a
	// role change is refused.
	role := "worker"
	if n.Role == types.RoleVoter {
		role = "manager"
	}
	spec := `{"Labels":{"env":"test","docker":"yes"},"Role":"` + role + `","Availability":"drain"}`
	if code, body := post(n.Version-1, spec); code != http.StatusConflict || !strings.Contains(body, "update out of sequence") {
		t.Fatalf("stale version: %d %s", code, body)
	}
	if code, body := post(n.Version, spec); code != http.StatusOK {
		t.Fatalf("update through %s: %d %s", sock, code, body)
	}
	got := follower.nodes(t)
	for _, m := range got {
		if m.ID == n.ID && (m.Labels["docker"] != "yes" || m.Labels["env"] != "test") {
			t.Fatalf("after the Engine API update: labels %v", m.Labels)
		}
	}
}

// TestLoneLeaderRestarts restarts the only agent of a cluster several
// times. Each time it leads again, and its replica must count as caught up
// (the worker and the leader's duties wait for that), although its log
// then ends with the no-op and barrier of its previous term, which no
// store applies: waiting for the log's last index hung every restart
// after the first in a quiet one-node cluster.
func TestLoneLeaderRestarts(t *testing.T) {
	ta := formCluster(t, "lone")[0]
	cfg := ta.a.cfg
	for round := range 3 {
		ta.stop()
		ta = restartAgent(t, cfg)
		eventually(t, 20*time.Second, fmt.Sprintf("restart %d: the replica caught up", round+1), func() error {
			cl, err := ta.a.cluster()
			if err != nil {
				return err
			}
			select {
			case <-cl.caughtUp:
				return nil
			default:
				return fmt.Errorf("store at %d, log at %d", cl.store.Index(), cl.raft.LastIndex())
			}
		})
		eventually(t, 20*time.Second, fmt.Sprintf("restart %d: it leads", round+1), func() error {
			var ns []api.Node
			if err := ta.do(http.MethodGet, "/v1/nodes", nil, &ns); err != nil {
				return err
			}
			if len(ns) != 1 || ns[0].ManagerStatus != "Leader" {
				return fmt.Errorf("nodes: %+v", ns)
			}
			return nil
		})
	}
}
