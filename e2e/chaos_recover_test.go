//go:build e2e && chaos

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
)

// TestChaosRecover: 3 agents, web ×3. n2 and n3 lose power, n1 is stopped
// and recovered alone (`agent recover`), then runs web ×3 by itself. The
// old voters come back, one at a time or both at once, each case on a
// fresh lab.
//
// Invariant, checked every ~200 ms from the moment n1 restarts: at most one
// agent that answers reports itself raft leader. End state: one leader, 3
// Ready nodes all at the recovered generation, web at exactly 3 running
// tasks, and exactly those 3 containers running across the nodes'
// containerds. The recovery time (from `agent recover` to one cluster with
// 3 Ready nodes) is logged.
func TestChaosRecover(t *testing.T) {
	t.Run("old voters return one at a time", func(t *testing.T) {
		runRecover(t, true, func(t *testing.T, l *lab.Lab) {
			for _, n := range []string{"n2", "n3"} {
				if err := l.Start(n); err != nil {
					t.Fatalf("start %s: %v", n, err)
				}
				waitRejoined(t, l, n)
			}
		})
	})
	t.Run("old voters return both at once", func(t *testing.T) {
		runRecover(t, true, startOldVoters)
	})
	// The old voters cannot learn of the recovery while n1 is down: they
	// form the old cluster again (and run web ×3 between them). When n1
	// comes back the higher generation wins without a second leader.
	t.Run("old voters return while the recovered node is down", func(t *testing.T) {
		runRecover(t, false, func(t *testing.T, l *lab.Lab) {
			startOldVoters(t, l)
			waitOldCluster(t, l)
		})
	})
}

// waitOldCluster waits until n2 and n3 run the old cluster: one of them
// leads, n1 is Down in its view and web runs 3 tasks on n2 and n3.
func waitOldCluster(t *testing.T, l *lab.Lab) {
	t.Helper()
	waitUntil(t, 2*time.Minute, "the old cluster on n2 and n3 with web ×3", func() (bool, string) {
		info, err := tryInfo(l, "n2")
		if err != nil || (info.LeaderName != "n2" && info.LeaderName != "n3") {
			return false, fmt.Sprintf("n2's leader %q%s", info.LeaderName, errString(err))
		}
		var nodes []api.Node
		var ts []api.Task
		if err := tryGet(l, "n2", "/v1/nodes", &nodes); err != nil {
			return false, err.Error()
		}
		if err := tryGet(l, "n2", "/v1/tasks?service=web", &ts); err != nil {
			return false, err.Error()
		}
		rs := running(ts)
		spread := perNode(rs)
		return len(rs) == 3 && !strings.Contains(spread, "n1=") && !nodeReady(nodes, "n1"), spread + " " + nodesString(nodes)
	})
	t.Logf("the old cluster runs web on n2 and n3, leader %s", infoOf(t, l, "n2").LeaderName)
}

// startOldVoters powers n2 and n3 on at the same time.
func startOldVoters(t *testing.T, l *lab.Lab) {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, n := range []string{"n2", "n3"} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = l.Start(n) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start n%d: %v", i+2, err)
		}
	}
}

// runRecover sets the scene, lets ret bring the old voters back (after n1
// runs recovered if n1First, else before n1 starts again), and checks the
// end state.
func runRecover(t *testing.T, n1First bool, ret func(t *testing.T, l *lab.Lab)) {
	l := upLab(t, lab.Options{Nodes: 3})
	ctx := context.Background()
	img := pushImages(t, l)
	agentctl(t, l, "n1", "service", "create", "--name", "web", "--replicas", "3", img["web:v1"])
	waitRunning(t, l, "web", 3, "n1=1 n2=1 n3=1", 60*time.Second)

	for _, n := range []string{"n2", "n3"} {
		if err := l.Kill(n, true); err != nil {
			t.Fatalf("power off %s: %v", n, err)
		}
	}
	if err := l.Stop("n1"); err != nil {
		t.Fatal(err)
	}
	n1, err := l.Node("n1")
	if err != nil {
		t.Fatal(err)
	}
	checkRecoverRefusesBadInput(t, l, n1)
	out, _, err := l.Exec(ctx, "n1", "agent", "recover", "--data-dir", n1.DataDir, "--advertise", n1.Addr)
	if err != nil {
		t.Fatalf("agent recover: %v", err)
	}
	recovered := time.Now()
	t.Logf("agent recover:\n%s", out)

	watch := watchLeaders(t, l)
	if n1First {
		if err := l.Start("n1"); err != nil {
			t.Fatal(err)
		}
		waitWeb(t, l, "n1", 3, "n1=3", 90*time.Second)
	}
	returned := time.Now()
	ret(t, l)
	if !n1First {
		if err := l.Start("n1"); err != nil {
			t.Fatal(err)
		}
	}
	var gen string
	waitUntil(t, time.Minute, "n1 at generation 2", func() (bool, string) {
		info, err := tryInfo(l, "n1")
		gen = info.Generation
		return err == nil && strings.HasPrefix(gen, "2-"), gen + errString(err)
	})
	waitUntil(t, 3*time.Minute, "one cluster of 3 Ready nodes at generation "+gen, func() (bool, string) {
		return oneCluster(t, l, gen)
	})
	t.Logf("recovery time: %v from `agent recover` to one cluster with 3 Ready nodes (%v after the old voters were started)",
		time.Since(recovered).Round(time.Millisecond), time.Since(returned).Round(time.Millisecond))

	nodes3 := []string{"n1", "n2", "n3"}
	waitUntil(t, 2*time.Minute, "web: 3 running tasks and exactly their 3 containers", func() (bool, string) {
		var all []api.Task
		if err := tryGet(l, "n1", "/v1/tasks?service=web", &all); err != nil {
			return false, err.Error()
		}
		ts := running(all)
		total, where := 0, ""
		for _, n := range nodes3 {
			cs := containers(t, l, n)
			total += len(cs)
			where += fmt.Sprintf(" %s:%v", n, cs)
		}
		var ids []string
		for _, tk := range ts {
			ids = append(ids, tk.NodeHostname+":"+tk.ID)
		}
		return len(ts) == 3 && total == 3, fmt.Sprintf("running tasks %v; containers%s", ids, where)
	})
	containersMatch(t, l, running(serviceTasks(t, l, "n1", "web")), nodes3...)
	for _, n := range []string{"n2", "n3"} {
		node, _ := l.Node(n)
		aside, _ := filepath.Glob(filepath.Join(node.DataDir, "raft.stale-gen1-*"))
		if len(aside) != 1 {
			t.Errorf("%s: stale raft state set aside = %v, want one raft.stale-gen1-* dir", n, aside)
		}
	}
	watch.stop(t)
}

// checkRecoverRefusesBadInput runs `agent recover` with bad flags and checks
// that each is refused, naming the flag, and that node.json is unchanged.
func checkRecoverRefusesBadInput(t *testing.T, l *lab.Lab, n1 lab.Node) {
	t.Helper()
	before, err := os.ReadFile(filepath.Join(n1.DataDir, "node.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ args, want string }{
		{"--advertise banana", "--advertise"},
		{"--advertise " + n1.Addr + " --raft-port 70000", "--raft-port"},
		{"--advertise " + n1.Addr + " --survivor nodeid@banana:7947", "--survivor"},
		{"--advertise " + n1.Addr + " --survivor a@10.77.0.2:7947 --survivor a@10.77.0.3:7947", "named twice"},
	} {
		argv := append([]string{"agent", "recover", "--data-dir", n1.DataDir}, strings.Fields(c.args)...)
		_, stderr, err := l.Exec(context.Background(), "n1", argv...)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("agent recover %s: err %v, stderr %q; want a refusal naming %q", c.args, err, stderr, c.want)
		}
	}
	after, err := os.ReadFile(filepath.Join(n1.DataDir, "node.json"))
	if err != nil || string(after) != string(before) {
		t.Fatalf("refused recover changed node.json:\n%s\n->\n%s (%v)", before, after, err)
	}
}

// waitRejoined waits until node n runs at n1's generation and n1 lists it
// Ready.
func waitRejoined(t *testing.T, l *lab.Lab, n string) {
	t.Helper()
	gen := infoOf(t, l, "n1").Generation
	waitUntil(t, 2*time.Minute, n+" rejoined at generation "+gen, func() (bool, string) {
		info, err := tryInfo(l, n)
		if err != nil {
			return false, err.Error()
		}
		var nodes []api.Node
		if err := tryGet(l, "n1", "/v1/nodes", &nodes); err != nil {
			return false, err.Error()
		}
		return info.Generation == gen && nodeReady(nodes, n), info.Generation + " " + nodesString(nodes)
	})
}

// oneCluster reports whether every agent answers at generation gen, they
// agree on one leader, and n1 lists 3 Ready nodes.
func oneCluster(t *testing.T, l *lab.Lab, gen string) (bool, string) {
	leaders := map[string]bool{}
	var detail []string
	for _, n := range []string{"n1", "n2", "n3"} {
		info, err := tryInfo(l, n)
		if err != nil {
			return false, n + ": " + err.Error()
		}
		leaders[info.LeaderName] = true
		detail = append(detail, fmt.Sprintf("%s gen %s leader %q", n, info.Generation, info.LeaderName))
		if info.Generation != gen || info.LeaderName == "" {
			return false, strings.Join(detail, "; ")
		}
	}
	var nodes []api.Node
	if err := tryGet(l, "n1", "/v1/nodes", &nodes); err != nil {
		return false, err.Error()
	}
	ready := 0
	for _, n := range []string{"n1", "n2", "n3"} {
		if nodeReady(nodes, n) {
			ready++
		}
	}
	return len(leaders) == 1 && ready == 3, strings.Join(detail, "; ") + " " + nodesString(nodes)
}

func nodeReady(nodes []api.Node, host string) bool {
	for _, n := range nodes {
		if n.Hostname == host {
			return n.Status == "ready"
		}
	}
	return false
}

func nodesString(nodes []api.Node) string {
	var b strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&b, "[%s %s %s] ", n.Hostname, n.Status, n.StatusMessage)
	}
	return b.String()
}

// leadersWatch samples every agent's view of itself.
type leadersWatch struct {
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	samples int
	bad     []string
}

// watchLeaders polls /v1/info on every agent every 200 ms and records each
// moment at which more than one answering agent says it is the leader.
func watchLeaders(t *testing.T, l *lab.Lab) *leadersWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &leadersWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			var leaders []string
			for _, n := range []string{"n1", "n2", "n3"} {
				if info, err := tryInfo(l, n); err == nil && info.RaftState == "Leader" {
					leaders = append(leaders, fmt.Sprintf("%s(gen %s)", n, info.Generation))
				}
			}
			w.mu.Lock()
			w.samples++
			if len(leaders) > 1 {
				w.bad = append(w.bad, time.Now().Format("15:04:05.000")+" "+strings.Join(leaders, ", "))
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

// stop ends the sampling and fails the test if two leaders were ever seen.
func (w *leadersWatch) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("leader samples: %d, with more than one leader: %d", w.samples, len(w.bad))
	if len(w.bad) > 0 {
		t.Errorf("more than one leader at %d sampled moments: %s", len(w.bad), strings.Join(w.bad, "; "))
	}
}

// tryInfo reads /v1/info from n's agent (see tryGet).
func tryInfo(l *lab.Lab, n string) (api.Info, error) {
	var info api.Info
	return info, tryGet(l, n, "/v1/info", &info)
}

// tryGet reads an API path from n's agent over its unix socket (a file on
// this host, reachable without entering the namespace), within 2 s; unlike
// apiGet it returns errors, for polling an agent that may be restarting.
func tryGet(l *lab.Lab, n, path string, out any) error {
	node, err := l.Node(n)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", node.AgentSock)
		}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://agent" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s on %s: %s", path, n, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// waitWeb waits until node on reports exactly want running web tasks
// spread as spread (a perNode string, "" for any), tolerating an agent that
// is still starting.
func waitWeb(t *testing.T, l *lab.Lab, on string, want int, spread string, d time.Duration) {
	t.Helper()
	waitUntil(t, d, fmt.Sprintf("web on %s: %d running tasks %s", on, want, spread), func() (bool, string) {
		var ts []api.Task
		if err := tryGet(l, on, "/v1/tasks?service=web", &ts); err != nil {
			return false, err.Error()
		}
		rs := running(ts)
		return len(rs) == want && (spread == "" || perNode(rs) == spread), perNode(rs) + " " + taskErrors(ts)
	})
}

func infoOf(t *testing.T, l *lab.Lab, n string) api.Info {
	t.Helper()
	info, err := tryInfo(l, n)
	if err != nil {
		t.Fatalf("info on %s: %v", n, err)
	}
	return info
}
