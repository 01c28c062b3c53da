//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/e2e/lab"
)

// apiGet reads an API path from node's agent through its unix socket.
func apiGet(t *testing.T, l *lab.Lab, node, path string, out any) {
	t.Helper()
	n, err := l.Node(node)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := l.Exec(context.Background(), node, "curl", "-sS", "--fail-with-body", "--unix-socket", n.AgentSock, "http://agent"+path)
	if err != nil {
		t.Fatalf("GET %s on %s: %v: %s %s", path, node, err, stdout, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("GET %s on %s: %v: %s", path, node, err, stdout)
	}
}

// pushImages pushes the test images into the lab registry and returns
// their references by NAME:TAG ("web:v1" -> "10.77.0.254:5000/web:v1").
func pushImages(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	refs, err := l.PushTestImages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	img := map[string]string{}
	for _, r := range refs {
		img[r[strings.LastIndex(r, "/")+1:]] = r
	}
	return img
}

// serviceTasks lists every task of svc (history included), as node sees them.
func serviceTasks(t *testing.T, l *lab.Lab, node, svc string) []api.Task {
	t.Helper()
	var ts []api.Task
	apiGet(t, l, node, "/v1/tasks?service="+svc, &ts)
	return ts
}

// running returns the tasks that are wanted and observed running, and
// healthy if they have a healthcheck (the web images do): those that
// `service ls` counts, and that the VIP and DNS serve.
func running(ts []api.Task) []api.Task {
	var out []api.Task
	for _, t := range ts {
		if t.DesiredState == types.TaskRunning && t.Status.State == types.TaskRunning &&
			(t.Status.Healthy == nil || *t.Status.Healthy) {
			out = append(out, t)
		}
	}
	return out
}

// perNode counts tasks by node hostname, as "n1=2 n2=2" sorted by name.
func perNode(ts []api.Task) string {
	m := map[string]int{}
	for _, t := range ts {
		m[t.NodeHostname]++
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// waitRunning waits until svc has exactly n running tasks, spread as want
// (a perNode string) unless want is empty, and returns them.
func waitRunning(t *testing.T, l *lab.Lab, svc string, n int, want string, d time.Duration) []api.Task {
	t.Helper()
	var rs []api.Task
	waitUntil(t, d, fmt.Sprintf("%s: %d running tasks %s", svc, n, want), func() (bool, string) {
		rs = running(serviceTasks(t, l, "n1", svc))
		got := perNode(rs)
		return len(rs) == n && (want == "" || got == want), got + " " + taskErrors(serviceTasks(t, l, "n1", svc))
	})
	return rs
}

// taskErrors summarises the errors of tasks, for failure messages.
func taskErrors(ts []api.Task) string {
	var errs []string
	for _, t := range ts {
		if t.Status.Err != "" {
			errs = append(errs, t.ID[:8]+": "+t.Status.Err)
		}
	}
	return strings.Join(errs, "; ")
}

// containers lists the IDs of the running tasks in node's containerd.
func containers(t *testing.T, l *lab.Lab, node string) []string {
	t.Helper()
	out, stderr, err := l.Exec(context.Background(), node, "ctr", "-n", "shoal", "task", "ls")
	if err != nil {
		t.Fatalf("ctr task ls on %s: %v: %s", node, err, stderr)
	}
	var ids []string
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "RUNNING" {
			ids = append(ids, f[0])
		}
	}
	slices.Sort(ids)
	return ids
}

// containersMatch checks that each node's containerd runs exactly the
// containers of the running tasks assigned to it, and nothing else.
func containersMatch(t *testing.T, l *lab.Lab, ts []api.Task, nodes ...string) {
	t.Helper()
	for _, node := range nodes {
		var want []string
		for _, tk := range ts {
			if tk.NodeHostname == node {
				want = append(want, tk.ID)
			}
		}
		slices.Sort(want)
		got := containers(t, l, node)
		if !slices.Equal(got, want) {
			t.Errorf("containers running on %s = %v, want the tasks %v", node, got, want)
		}
	}
}

// agentctl runs agentctl on node and fails the test on error.
func agentctl(t *testing.T, l *lab.Lab, node string, args ...string) string {
	t.Helper()
	out, err := l.Agentctl(context.Background(), node, args...)
	if err != nil {
		t.Fatalf("agentctl %s on %s: %v\n%s", strings.Join(args, " "), node, err, out)
	}
	return out
}

// agentctlErr runs agentctl on node, expecting it to fail with an error
// containing want.
func agentctlErr(t *testing.T, l *lab.Lab, node, want string, args ...string) {
	t.Helper()
	out, err := l.Agentctl(context.Background(), node, args...)
	if err == nil {
		t.Fatalf("agentctl %s succeeded, want an error containing %q:\n%s", strings.Join(args, " "), want, out)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("agentctl %s: error %q does not contain %q", strings.Join(args, " "), err, want)
	}
}

// median of durations.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
