package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
	"github.com/shoal-org/shoal/store/storetest"
)

const (
	nodeA = "node-a" // the node under test
	nodeB = "node-b"
)

var errNoLeader = errors.New("no leader")

// cluster is a store.Store fed through Apply as raft would feed it, plus a
// Report func that plays the leader: it writes reported statuses (and
// addresses) back into the store, as control.Cluster.ApplyTaskUpdates
// does: never backwards (an equal state is accepted, for health changes),
// only for tasks that exist.
type cluster struct {
	t    *testing.T
	feed *storetest.Feed
	st   *store.Store

	mu       sync.Mutex
	calls    int                           // Report calls, failed ones included
	accepted map[string][]types.TaskUpdate // per task, updates of successful calls, in order
	failNext int                           // Report calls to fail before accepting again
}

func newCluster(t *testing.T) *cluster {
	feed := storetest.New(t)
	return &cluster{t: t, feed: feed, st: feed.Store, accepted: map[string][]types.TaskUpdate{}}
}

// apply commits ops as one raft log entry and returns the command's error.
func (c *cluster) apply(ops ...store.Op) error { return c.feed.Apply(store.Command{Ops: ops}) }

func (c *cluster) put(tasks ...*types.Task) {
	c.t.Helper()
	var ops []store.Op
	for _, t := range tasks {
		ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableTasks, Task: t})
	}
	if err := c.apply(ops...); err != nil {
		c.t.Fatalf("put tasks: %v", err)
	}
}

func (c *cluster) del(id string) {
	c.t.Helper()
	if err := c.apply(store.Op{Kind: store.OpDelete, Table: store.TableTasks, ID: id}); err != nil {
		c.t.Fatalf("delete task %s: %v", id, err)
	}
}

// update changes task id as the leader would: read, copy, write back
// conditionally, again on a conflict with a concurrent report.
func (c *cluster) update(id string, change func(*types.Task)) {
	c.t.Helper()
	for range 100 {
		cur := c.st.View().Task(id)
		if cur == nil {
			c.t.Fatalf("update: no task %s", id)
		}
		n := cur.Copy()
		change(n)
		err := c.apply(store.Op{Kind: store.OpPut, Table: store.TableTasks, Task: n, IfVersion: cur.Version})
		if err == nil {
			return
		}
		if !errors.Is(err, store.ErrConflict) {
			c.t.Fatalf("update task %s: %v", id, err)
		}
	}
	c.t.Fatalf("update task %s: conflicts without end", id)
}

// report is the Config.Report of the tests.
func (c *cluster) report(ctx context.Context, ups []types.TaskUpdate) error {
	c.mu.Lock()
	c.calls++
	fail := c.failNext > 0
	if fail {
		c.failNext--
	}
	c.mu.Unlock()
	if fail {
		return errNoLeader
	}
	view := c.st.View()
	var ops []store.Op
	for _, u := range ups {
		t := view.Task(u.TaskID)
		if t == nil || u.Status.State.Rank() < t.Status.State.Rank() {
			continue
		}
		n := t.Copy()
		n.Status = u.Status
		if u.Addresses != nil {
			n.Addresses = u.Addresses
		}
		ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableTasks, Task: n, IfVersion: t.Version})
	}
	if err := c.apply(ops...); err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	c.mu.Lock()
	for _, u := range ups {
		c.accepted[u.TaskID] = append(c.accepted[u.TaskID], u)
	}
	c.mu.Unlock()
	return nil
}

// states returns the states accepted for task id, in order.
func (c *cluster) states(id string) []types.TaskState {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []types.TaskState
	for _, u := range c.accepted[id] {
		out = append(out, u.Status.State)
	}
	return out
}

// updates returns the updates accepted for task id, in order.
func (c *cluster) updates(id string) []types.TaskUpdate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.accepted[id])
}

// health renders the states and health accepted for task id, in order:
// "running", "running healthy", "running unhealthy", "failed".
func (c *cluster) health(id string) []string {
	var out []string
	for _, u := range c.updates(id) {
		s := string(u.Status.State)
		if h := u.Status.Healthy; h != nil && *h {
			s += " healthy"
		} else if h != nil {
			s += " unhealthy"
		}
		out = append(out, s)
	}
	return out
}

func (c *cluster) reportCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// checkForward fails the test if task id was ever reported backwards, or
// twice in a state other than running with a change of health.
func (c *cluster) checkForward(id string) {
	c.t.Helper()
	ups := c.updates(id)
	for i := 1; i < len(ups); i++ {
		prev, cur := ups[i-1].Status, ups[i].Status
		healthChange := cur.State == types.TaskRunning && prev.State == types.TaskRunning &&
			cur.Healthy != nil && (prev.Healthy == nil || *prev.Healthy != *cur.Healthy)
		if cur.State.Rank() < prev.State.Rank() || cur.State == prev.State && !healthChange {
			c.t.Fatalf("task %s reported %v: not forward", id, c.health(id))
		}
	}
}

// waitTask waits until task id in the store satisfies cond.
func (c *cluster) waitTask(id, what string, cond func(*types.Task) bool) *types.Task {
	c.t.Helper()
	var last *types.Task
	waitFor(c.t, fmt.Sprintf("task %s %s", id, what), func() (bool, string) {
		last = c.st.View().Task(id)
		if last == nil {
			return false, "task not in store"
		}
		return cond(last), fmt.Sprintf("desired %s, status %+v", last.DesiredState, last.Status)
	})
	return last
}

func (c *cluster) waitState(id string, st types.TaskState) *types.Task {
	c.t.Helper()
	return c.waitTask(id, "in state "+string(st), func(t *types.Task) bool { return t.Status.State == st })
}

// waitFor polls cond every 10 ms until it holds or a minute passes.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within a minute: %s", what, why)
		}
		<-tick.C
	}
}

// newTask is a task assigned to node with desired state running.
func newTask(id, node string) *types.Task {
	return &types.Task{
		ID: id, ServiceID: "svc-web", ServiceName: "web", Slot: 1, NodeID: node, SpecVersion: 1,
		Spec:         types.TaskTemplate{Image: "web:v1"},
		DesiredState: types.TaskRunning,
		Status:       types.TaskStatus{State: types.TaskAssigned, Message: "assigned"},
	}
}

// startWorker runs a Worker for nodeA until the test ends (or the
// returned stop is called, which waits for Run to return).
func startWorker(t *testing.T, c *cluster, rt Runtime, edit func(*Config)) (stop func()) {
	t.Helper()
	cfg := Config{NodeID: nodeA, Store: c.st, Runtime: rt, Report: c.report, Logger: testLogger(t)}
	if edit != nil {
		edit(&cfg)
	}
	w := New(cfg)
	w.opRetry, w.resyncMin, w.resyncMax = 20*time.Millisecond, 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return within 30s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// removedAfterAccepted makes rt fail the test if it removes the container
// of a task assigned here before the store shows the task's final state.
func removedAfterAccepted(t *testing.T, c *cluster, rt *fakeRuntime) {
	rt.onRemove = func(id string) {
		if tk := c.st.View().Task(id); tk != nil && tk.NodeID == nodeA &&
			tk.Status.State.Rank() >= types.TaskAssigned.Rank() && !tk.Status.State.Terminal() {
			t.Errorf("container %s removed while the store shows its task %s", id, tk.Status.State)
		}
	}
}

func equalCalls(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}
