package worker

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

// fakeNetwork is an agent's network hooks for the tests: it records its
// calls in the fake runtime's call log ("network t1", "release t1"), so
// that their order against the runtime's calls shows.
type fakeNetwork struct {
	rt          *fakeRuntime
	mu          sync.Mutex
	failNetwork map[string]error
	failRelease map[string]int // Release calls to fail, per task
	seen        map[string]*types.Task
}

func newFakeNetwork(rt *fakeRuntime) *fakeNetwork {
	return &fakeNetwork{rt: rt, failNetwork: map[string]error{}, failRelease: map[string]int{}, seen: map[string]*types.Task{}}
}

func addrsOf(id string) map[string]string {
	return map[string]string{"web-net": "10.240.1.5", "db-net": "10.241.1.5 of " + id}
}

func (n *fakeNetwork) network(_ context.Context, t *types.Task) (TaskNetwork, error) {
	n.rt.record("network %s", t.ID)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seen[t.ID] = t.Copy()
	if err := n.failNetwork[t.ID]; err != nil {
		return TaskNetwork{}, err
	}
	return TaskNetwork{NetNSPath: "/run/netns/" + t.ID, ResolvConf: "/run/shoal/resolv.conf", Hosts: "/run/shoal/hosts/" + t.ID,
		Addresses: addrsOf(t.ID)}, nil
}

// release fails as failRelease says, after waiting at the fake runtime's
// gate "release:ID" if the test installed one.
func (n *fakeNetwork) release(ctx context.Context, id string) error {
	n.rt.record("release %s", id)
	if err := n.rt.wait(ctx, "release:"+id); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failRelease[id] > 0 {
		n.failRelease[id]--
		return errors.New("netlink: device or resource busy")
	}
	return nil
}

func (n *fakeNetwork) config(cfg *Config) {
	cfg.Network, cfg.Release = n.network, n.release
}

func TestNetworkHook(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	removedAfterAccepted(t, c, rt)
	n := newFakeNetwork(rt)
	n.failNetwork["bad"] = errors.New("no address left on network web-net")
	startWorker(t, c, rt, n.config)
	t1 := newTask("t1", nodeA)
	t1.Spec.Env = []string{"A=1"}
	c.put(t1, newTask("bad", nodeA))

	got := c.waitState("t1", types.TaskRunning)
	equalCalls(t, "calls of t1", rt.callsOf("t1"), []string{"network t1", "create t1", "start t1"})
	if seen := n.seen["t1"]; seen == nil || !slices.Equal(seen.Spec.Env, []string{"A=1"}) || seen.NodeID != nodeA {
		t.Fatalf("Network got task %+v", seen)
	}
	ctr, _ := rt.container("t1")
	if s := ctr.spec; s.NetNSPath != "/run/netns/t1" || s.ResolvConf != "/run/shoal/resolv.conf" || s.Hosts != "/run/shoal/hosts/t1" {
		t.Fatalf("spec netns %q resolv %q hosts %q", s.NetNSPath, s.ResolvConf, s.Hosts)
	}
	// The addresses reached the leader with the first update after
	// preparing (starting, or running if both went in one batch).
	if !maps.Equal(got.Addresses, addrsOf("t1")) {
		t.Fatalf("store addresses %v, want %v", got.Addresses, addrsOf("t1"))
	}
	for _, u := range c.updates("t1") {
		if u.Addresses != nil && u.Status.State != types.TaskStarting && u.Status.State != types.TaskRunning {
			t.Fatalf("addresses sent with %s", u.Status.State)
		}
	}

	bad := c.waitState("bad", types.TaskRejected)
	if bad.Status.Err != "no address left on network web-net" || bad.Addresses != nil {
		t.Fatalf("rejected task: status %+v, addresses %v", bad.Status, bad.Addresses)
	}
	waitFor(t, "bad's network released", func() (bool, string) { return len(rt.callsOf("bad")) == 2, "not yet" })
	equalCalls(t, "calls of bad", rt.callsOf("bad"), []string{"network bad", "release bad"})

	// Released only once the container is removed.
	c.update("t1", func(t *types.Task) { t.DesiredState = types.TaskShutdown })
	waitFor(t, "t1's network released", func() (bool, string) { return len(rt.callsOf("t1")) == 6, "not yet" })
	equalCalls(t, "calls of t1", rt.callsOf("t1"), []string{"network t1", "create t1", "start t1", "stop t1  0s", "remove t1", "release t1"})
}

func TestReleaseAfterFailedCreate(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	n := newFakeNetwork(rt)
	rt.createErr["t1"] = errors.New(`create container t1: bind mount source /srv: no such file (create it on the node or fix the mount)`)
	startWorker(t, c, rt, n.config)
	c.put(newTask("t1", nodeA))
	got := c.waitState("t1", types.TaskRejected)
	if got.Status.Err != rt.createErr["t1"].Error() {
		t.Fatalf("status = %+v", got.Status)
	}
	waitFor(t, "network released", func() (bool, string) { return len(rt.callsOf("t1")) == 3, "not yet" })
	equalCalls(t, "calls", rt.callsOf("t1"), []string{"network t1", "create t1", "release t1"})
}

// TestAddressesWhenStartingIsNotNew: a start redone after an agent
// restart finds the store at starting already, so starting is not
// reported again; the addresses go with running instead.
func TestAddressesWhenStartingIsNotNew(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	n := newFakeNetwork(rt)
	tk := newTask("t1", nodeA)
	tk.Status = types.TaskStatus{State: types.TaskStarting}
	c.put(tk)
	startWorker(t, c, rt, n.config)
	got := c.waitState("t1", types.TaskRunning)
	if !maps.Equal(got.Addresses, addrsOf("t1")) {
		t.Fatalf("store addresses %v", got.Addresses)
	}
	ups := c.updates("t1")
	if len(ups) != 1 || ups[0].Status.State != types.TaskRunning || !maps.Equal(ups[0].Addresses, addrsOf("t1")) {
		t.Fatalf("updates %+v, want running with the addresses", ups)
	}
}

// TestReleaseRetriesAndLeftovers: a failing Release is retried without
// holding up other tasks; the networks of leftovers and of adopted
// containers whose task is gone are released too; nothing wanted is.
func TestReleaseRetriesAndLeftovers(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	n := newFakeNetwork(rt)
	n.failRelease["a"] = 2
	n.failNetwork["a"] = errors.New("no address left")
	rt.add("gone", map[string]string{LabelTaskID: "gone"}, true, 0) // no task: stopped, removed, released
	rt.add("kept", map[string]string{LabelTaskID: "kept"}, true, 0) // running task: kept, not released
	kept := newTask("kept", nodeA)
	kept.Status = types.TaskStatus{State: types.TaskRunning, ContainerID: "kept"}
	starting := newTask("restart", nodeA) // leftover whose task is to start again: not released
	c.put(kept, starting)
	startWorker(t, c, rt, func(cfg *Config) {
		n.config(cfg)
		cfg.Leftovers = func() []string { return []string{"old", "restart"} }
	})
	openRelease := rt.gate("release:a")
	c.put(newTask("a", nodeA))
	c.waitState("a", types.TaskRejected)
	waitFor(t, "a's release begins", func() (bool, string) { return len(rt.callsOf("a")) == 2, "not yet" })
	c.put(newTask("b", nodeA))
	c.waitState("b", types.TaskRunning) // while a's release hangs
	openRelease()

	waitFor(t, "a released at the third try", func() (bool, string) { return len(rt.callsOf("a")) == 4, "not yet" })
	equalCalls(t, "calls of a", rt.callsOf("a"), []string{"network a", "release a", "release a", "release a"})
	waitFor(t, "leftover and adopted released", func() (bool, string) {
		return len(rt.callsOf("old")) == 1 && len(rt.callsOf("gone")) == 3, "not yet"
	})
	equalCalls(t, "calls of old", rt.callsOf("old"), []string{"release old"})
	equalCalls(t, "calls of gone", rt.callsOf("gone"), []string{"stop gone  0s", "remove gone", "release gone"})
	c.waitState("restart", types.TaskRunning)
	equalCalls(t, "calls of restart", rt.callsOf("restart"), []string{"network restart", "create restart", "start restart"})
	equalCalls(t, "calls of kept", rt.callsOf("kept"), nil)
	equalCalls(t, "calls of b", rt.callsOf("b"), []string{"network b", "create b", "start b"})
}
