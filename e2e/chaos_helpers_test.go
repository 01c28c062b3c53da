//go:build e2e && chaos

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/e2e/lab"
)

// apiClients returns an API client per node, on each agent's unix socket:
// usable from any goroutine and unaffected by partitions (a partition cuts
// the lab's LAN, not the local socket).
func apiClients(t *testing.T, l *lab.Lab) map[string]*api.Client {
	t.Helper()
	cs := map[string]*api.Client{}
	for _, n := range l.Nodes() {
		c, err := api.NewClient("unix://"+n.AgentSock, nil)
		if err != nil {
			t.Fatal(err)
		}
		cs[n.Name] = c
	}
	return cs
}

// getJSON reads path with a timeout; it never fails the test, so samplers
// can call it from their own goroutines.
func getJSON(c *api.Client, path string, d time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// sampler calls fn every period in a goroutine of its own until stop,
// which waits for the last call and returns how many calls ran.
type sampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	n      int
}

func startSampler(period time.Duration, fn func(now time.Time)) *sampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			fn(time.Now())
			s.n++
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() int {
	s.cancel()
	<-s.done
	return s.n
}

// violations collects what samplers saw break an invariant: the count and
// the first few, with their time.
type violations struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (v *violations) add(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.n++
	if len(v.first) < 8 {
		v.first = append(v.first, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	}
}

// check fails the test if anything was added.
func (v *violations) check(t *testing.T, what string) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.n > 0 {
		t.Errorf("%s: violated in %d samples; first:\n  %s", what, v.n, strings.Join(v.first, "\n  "))
	}
}

// live reports whether the store counts a task as possibly having a
// container: created and not yet terminal.
func live(tk api.Task) bool {
	switch tk.Status.State {
	case types.TaskComplete, types.TaskFailed, types.TaskShutdown, types.TaskRejected,
		types.TaskOrphaned, types.TaskRemove:
		return false
	}
	return true
}

// liveBySlot maps each slot to its live tasks, described as
// "ID[:8]@node state/desired image".
func liveBySlot(ts []api.Task) map[int][]string {
	m := map[int][]string{}
	for _, tk := range ts {
		if live(tk) {
			m[tk.Slot] = append(m[tk.Slot], fmt.Sprintf("%s@%s %s/%s %s", tk.ID[:8], tk.NodeHostname,
				tk.Status.State, tk.DesiredState, tk.Spec.Image[strings.LastIndex(tk.Spec.Image, "/")+1:]))
		}
	}
	return m
}

// leaderInfo polls every node's /v1/info at once and returns the names of
// the nodes whose raft state is Leader, and each node's view as text.
func leaderInfo(cs map[string]*api.Client) (leaders []string, views string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var parts []string
	for name, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var info api.Info
			err := getJSON(c, "/v1/info", time.Second, &info)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				parts = append(parts, name+": "+err.Error())
				return
			}
			if info.RaftState == "Leader" {
				leaders = append(leaders, name)
			}
			parts = append(parts, fmt.Sprintf("%s: %s, leader %q", name, info.RaftState, info.LeaderName))
		}()
	}
	wg.Wait()
	sort.Strings(leaders)
	sort.Strings(parts)
	return leaders, strings.Join(parts, "; ")
}

// theLeader waits until every node names the same leader and returns it.
func theLeader(t *testing.T, cs map[string]*api.Client) string {
	t.Helper()
	var leader string
	waitUntil(t, 30*time.Second, "one leader named by every node", func() (bool, string) {
		leader = ""
		agree := true
		for _, c := range cs {
			var info api.Info
			if err := getJSON(c, "/v1/info", 2*time.Second, &info); err != nil {
				return false, err.Error()
			}
			if leader == "" {
				leader = info.LeaderName
			}
			agree = agree && info.LeaderName != "" && info.LeaderName == leader
		}
		_, views := leaderInfo(cs)
		return agree, views
	})
	return leader
}

// ctrTasks lists node's running containerd tasks as container ID -> PID.
func ctrTasks(t *testing.T, l *lab.Lab, node string) map[string]string {
	t.Helper()
	out, stderr, err := l.Exec(context.Background(), node, "ctr", "-n", "shoal", "task", "ls")
	if err != nil {
		t.Fatalf("ctr task ls on %s: %v: %s", node, err, stderr)
	}
	return parseCtrTasks(out)
}

// parseCtrTasks parses `ctr task ls` (TASK PID STATUS) into running
// container ID -> PID.
func parseCtrTasks(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "RUNNING" {
			m[f[0]] = f[1]
		}
	}
	return m
}

// others returns the lab's node names except skip.
func others(l *lab.Lab, skip ...string) []string {
	var out []string
	for _, n := range l.Nodes() {
		if !slices.Contains(skip, n.Name) {
			out = append(out, n.Name)
		}
	}
	return out
}

// logWall logs how long the test took, for the tier's time budget.
func logWall(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() { t.Logf("wall time: %v", time.Since(start).Round(time.Second)) })
}

// sortTasks sorts tasks by creation time.
func sortTasks(ts []api.Task) {
	slices.SortFunc(ts, func(a, b api.Task) int { return a.CreatedAt.Compare(b.CreatedAt) })
}

// sorted returns a sorted copy of s.
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// partition cuts node off from the others and returns when; the partition
// is healed when the test ends, if the test did not heal it.
func partition(t *testing.T, l *lab.Lab, node string) time.Time {
	t.Helper()
	if err := l.Partition(node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Heal() })
	return time.Now()
}

func heal(t *testing.T, l *lab.Lab) {
	t.Helper()
	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
}

// logWindow logs the lines of node's agent log stamped between from and
// to that contain one of words: the evidence behind a surprise.
func logWindow(t *testing.T, l *lab.Lab, node string, from, to time.Time, words ...string) {
	t.Helper()
	n, err := l.Node(node)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(n.AgentLog)
	if err != nil {
		t.Logf("%s's agent log: %v", node, err)
		return
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		stamp, _, ok := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if !ok || err != nil || at.Before(from) || at.After(to) {
			continue
		}
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	t.Logf("%s's agent log %s–%s (%v):\n%s", node, from.Format("15:04:05.000"), to.Format("15:04:05.000"), words, strings.Join(out, "\n"))
}
