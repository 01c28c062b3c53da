//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
	"github.com/shoal-org/shoal/pki"
)

// clusterState fetches services, networks, nodes and tasks from node's
// agent as JSON and returns them in canonical form (keys sorted, no
// insignificant space), so two states compare byte for byte.
//
// No field is excluded: the test takes its baseline only once two
// snapshots a second apart are identical (the tasks running and healthy,
// the nodes Ready), which shows that nothing in these records changes on
// its own in a quiet cluster — node records hold no heartbeat time and a
// task's status changes only when its state or health does. Every query
// goes to the same node, so "Self" is stable too.
func clusterState(t *testing.T, c *api.Client) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, path := range []string{"/v1/services", "/v1/networks", "/v1/nodes", "/v1/tasks"} {
		var v any
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Do(ctx, http.MethodGet, path, nil, &v)
		cancel()
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		canon, err := json.Marshal(v) // maps marshal with sorted keys
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", path, canon)
	}
	return b.Bytes()
}

// quietState waits until two snapshots a second apart are equal and
// returns that state.
func quietState(t *testing.T, c *api.Client) []byte {
	t.Helper()
	prev := clusterState(t, c)
	var cur []byte
	waitUntil(t, 60*time.Second, "two equal snapshots of the cluster state a second apart", func() (bool, string) {
		time.Sleep(time.Second)
		cur = clusterState(t, c)
		same := bytes.Equal(prev, cur)
		prev = cur
		return same, firstDiff(prev, cur)
	})
	return cur
}

// firstDiff shows where two states part, for failure messages.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-150)
	return fmt.Sprintf("at byte %d:\n  before: %.300s\n  after:  %.300s", i, a[min(lo, len(a)):], b[min(lo, len(b)):])
}

// leaderWatch polls an agent's view of the leader until stop, recording
// every leader it saw and every failed poll.
type leaderWatch struct {
	mu      sync.Mutex
	leaders map[string]int
	fails   []string
	polls   int
	stop    chan struct{}
	done    chan struct{}
}

func watchLeader(c *api.Client) *leaderWatch {
	w := &leaderWatch{leaders: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			var info api.Info
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.Do(ctx, http.MethodGet, "/v1/info", nil, &info)
			cancel()
			w.mu.Lock()
			w.polls++
			if err != nil {
				w.fails = append(w.fails, err.Error())
			} else {
				w.leaders[info.LeaderID]++
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// check stops the watch and fails the test unless every poll answered
// and named the same, non-empty leader.
func (w *leaderWatch) check(t *testing.T, want string) {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("leader watch: %d polls, leaders seen %v", w.polls, w.leaders)
	if len(w.fails) > 0 {
		t.Errorf("the leader poll failed %d times, first: %s", len(w.fails), w.fails[0])
	}
	if len(w.leaders) != 1 || w.leaders[want] == 0 {
		t.Errorf("leaders seen during the bad inputs: %v, want only %s", w.leaders, want)
	}
}

// rawClient sends arbitrary requests to one agent's API: over its unix
// socket, or over mutual TLS with the node's own certificate.
type rawClient struct {
	name string
	base string
	hc   *http.Client
}

func unixRaw(n lab.Node) rawClient {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", n.AgentSock)
	}}
	tr.ExpectContinueTimeout = 5 * time.Second
	return rawClient{name: n.Name + " (unix socket)", base: "http://agent", hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func tlsRaw(t *testing.T, l *lab.Lab, n lab.Node) rawClient {
	t.Helper()
	var files [3][]byte
	for i, f := range []string{"ca.pem", "node.pem", "node-key.pem"} {
		b, err := os.ReadFile(filepath.Join(n.DataDir, "tls", f))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
	}
	conf, err := pki.ClientTLS(files[0], files[1], files[2])
	if err != nil {
		t.Fatal(err)
	}
	hc, err := l.HTTPClient(lab.HubName)
	if err != nil {
		t.Fatal(err)
	}
	tr := hc.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig, tr.ExpectContinueTimeout = conf, 5*time.Second
	hc.Transport = tr
	return rawClient{name: n.Name + " (mTLS)", base: "https://" + net.JoinHostPort(n.Addr, fmt.Sprint(api.DefaultAPIPort)), hc: hc}
}

// do sends one request and returns the status and the error message of
// the JSON answer.
func (r rawClient) do(method, path string, body []byte) (int, string, error) {
	req, err := http.NewRequest(method, r.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if len(body) > 1<<20 {
		// As curl does for large bodies: the agent can refuse one by its
		// Content-Length before the client sends it, instead of closing
		// the connection under a client that is still writing.
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e api.Error
	if err := json.Unmarshal(b, &e); err != nil {
		return resp.StatusCode, "", fmt.Errorf("answer %d is not a JSON error: %.200q", resp.StatusCode, b)
	}
	if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
		return resp.StatusCode, e.Message, errors.New("405 without an Allow header")
	}
	return resp.StatusCode, e.Message, nil
}

// runBounded runs argv on node with a deadline, so a command that should
// have been refused but started a daemon is caught rather than waited for.
func runBounded(l *lab.Lab, node string, d time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd, err := l.Command(ctx, node, argv...)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("still running after %v: the input was not refused", d)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return out.String(), err
	}
	if err == nil {
		return out.String(), errors.New("exit status 0")
	}
	return strings.TrimSpace(out.String()), nil
}

// answersWithin measures how long the agent takes to answer a read after
// a refused input.
func answersWithin(t *testing.T, c *api.Client, what string) {
	t.Helper()
	start := time.Now()
	var svcs []api.Service
	if err := c.Do(context.Background(), http.MethodGet, "/v1/services", nil, &svcs); err != nil {
		t.Errorf("after %s the cluster does not answer: %v", what, err)
		return
	}
	t.Logf("after %s: the cluster answered `service ls` in %v", what, time.Since(start).Round(time.Millisecond))
}
