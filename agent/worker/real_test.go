package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/agent/runtime/runtimetest"
	"github.com/shoal-org/shoal/e2e/testimages"
	"github.com/shoal-org/shoal/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	runtimetest.CleanupImages()
	os.Exit(code)
}

// realRuntime connects a runtime.Runtime to d with state in stateDir and
// closes it when the test ends.
func realRuntime(t *testing.T, d *runtimetest.Daemon, stateDir string, insecure ...string) *runtime.Runtime {
	t.Helper()
	r, err := runtime.New(context.Background(), runtime.Config{Address: d.Address, StateDir: stateDir,
		InsecureRegistries: insecure, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close runtime: %v", err)
		}
	})
	return r
}

func importImages(t *testing.T, r *runtime.Runtime, refs ...string) {
	t.Helper()
	for _, ref := range refs {
		f, err := os.Open(runtimetest.Image(t, ref).Path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.ImportArchive(context.Background(), f)
		f.Close()
		if err != nil {
			t.Fatalf("import %s: %v", ref, err)
		}
	}
}

// netnsPerTask gives every task a fresh network namespace of its own,
// made in advance by the test, so that the web servers never listen in
// the host's namespace.
type netnsPerTask struct {
	mu    sync.Mutex
	paths map[string]string
}

func (n *netnsPerTask) add(t *testing.T, ids ...string) {
	for _, id := range ids {
		p := runtimetest.NewNetNS(t)
		n.mu.Lock()
		n.paths[id] = p
		n.mu.Unlock()
	}
}

func (n *netnsPerTask) get(id string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paths[id]
}

func (n *netnsPerTask) hook(_ context.Context, t *store.Task) (string, string, error) {
	if p := n.get(t.ID); p != "" {
		return p, "", nil
	}
	return "", "", fmt.Errorf("test gave task %s no network namespace", t.ID)
}

func realStatus(t *testing.T, r *runtime.Runtime, id string) runtime.Status {
	t.Helper()
	st, err := r.Status(context.Background(), id)
	if err != nil {
		t.Fatalf("Status %s: %v", id, err)
	}
	return st
}

// TestWithContainerd runs the worker against a real containerd, with a
// store fed through Apply and a Report that writes statuses back as the
// leader does.
func TestWithContainerd(t *testing.T) {
	d := runtimetest.StartContainerd(t)
	state := t.TempDir()
	r1 := realRuntime(t, d, state)
	importImages(t, r1, "web:v1", "crash:latest")
	c := newCluster(t)
	ns := &netnsPerTask{paths: map[string]string{}}
	ns.add(t, "web1", "web2", "crash1", "theirs")
	withNS := func(cfg *Config) { cfg.NetNS = ns.hook }
	ctx := context.Background()

	stop1 := startWorker(t, c, r1, withNS)
	crash := newTask("crash1", nodeA)
	crash.Spec.Image = "crash:latest"
	c.put(newTask("web1", nodeA), crash, newTask("theirs", nodeB))

	// web:v1 runs and serves, with the task's identity in its env.
	running := c.waitState("web1", store.TaskRunning)
	if running.Status.ContainerID != "web1" {
		t.Fatalf("running status = %+v", running.Status)
	}
	st := realStatus(t, r1, "web1")
	if !st.Running || st.Pid == 0 {
		t.Fatalf("container web1: %+v, want running", st)
	}
	waitFor(t, "web1 answers", func() (bool, string) {
		code, body, err := runtimetest.HTTPGetIn(ctx, ns.get("web1"), "http://127.0.0.1:80/")
		if err != nil {
			return false, err.Error()
		}
		var a struct{ Version, Task string }
		if code != 200 || json.Unmarshal(body, &a) != nil {
			return false, string(body)
		}
		return a.Version == "v1" && a.Task == "web1", string(body)
	})

	// crash exits 1 at once: failed with its exit code, container removed
	// once the store has the failure, log kept.
	failed := c.waitState("crash1", store.TaskFailed)
	if failed.Status.ExitCode != 1 || failed.Status.Err != "task: non-zero exit (1)" {
		t.Fatalf("crash status = %+v", failed.Status)
	}
	waitFor(t, "crash1 container removed", func() (bool, string) {
		s := realStatus(t, r1, "crash1")
		return !s.Exists, fmt.Sprintf("%+v", s)
	})
	if _, err := os.Stat(r1.LogPath("crash1")); err != nil {
		t.Fatalf("log of the removed container: %v", err)
	}
	c.checkForward("crash1")

	// Agent restart: a new Worker on a new connection adopts web1.
	stop1()
	r2 := realRuntime(t, d, state)
	startWorker(t, c, r2, withNS)
	c.put(newTask("web2", nodeA))
	c.waitState("web2", store.TaskRunning) // the new worker has reconciled web1 by now
	if st2 := realStatus(t, r2, "web1"); !st2.Running || st2.Pid != st.Pid {
		t.Fatalf("web1 after the restart: %+v, want still running with pid %d", st2, st.Pid)
	}
	if s := c.states("web1"); slices.Index(s, store.TaskRunning) != len(s)-1 {
		t.Fatalf("web1 reported %v: running again after the restart?", s)
	}

	// Desired shutdown: stopped, reported shutdown, removed, log kept.
	c.update("web1", func(t *store.Task) { t.DesiredState = store.TaskShutdown })
	c.waitState("web1", store.TaskShutdown)
	waitFor(t, "web1 container removed", func() (bool, string) {
		s := realStatus(t, r2, "web1")
		return !s.Exists, fmt.Sprintf("%+v", s)
	})
	if _, err := os.Stat(r2.LogPath("web1")); err != nil {
		t.Fatalf("log of the removed container: %v", err)
	}
	c.checkForward("web1")

	// The task of another node was never created here.
	list, err := r2.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var ids []string
	for _, ctr := range list {
		ids = append(ids, ctr.ID)
	}
	if !slices.Equal(ids, []string{"web2"}) {
		t.Fatalf("containers = %q, want only web2", ids)
	}
	if s := c.states("theirs"); len(s) != 0 {
		t.Fatalf("reported %v for another node's task", s)
	}
}

// TestPullFromRegistry pulls a task's image from a real registry, and
// rejects a task whose image the registry does not have with the
// runtime's message.
func TestPullFromRegistry(t *testing.T) {
	d := runtimetest.StartContainerd(t)
	reg := runtimetest.StartRegistryT(t)
	ref, err := testimages.Push(context.Background(), runtimetest.Image(t, "web:v2"), reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	r := realRuntime(t, d, t.TempDir(), reg.Host)
	c := newCluster(t)
	ns := &netnsPerTask{paths: map[string]string{}}
	ns.add(t, "pulled", "missing")
	startWorker(t, c, r, func(cfg *Config) { cfg.NetNS = ns.hook })

	pulled, missing := newTask("pulled", nodeA), newTask("missing", nodeA)
	pulled.Spec.Image, missing.Spec.Image = ref, reg.Host+"/web:v404"
	c.put(pulled, missing)
	c.waitState("pulled", store.TaskRunning)
	rej := c.waitState("missing", store.TaskRejected)
	if want := `image "` + reg.Host + `/web:v404": not found in registry ` + reg.Host; rej.Status.Err != want {
		t.Fatalf("rejected Err = %q, want %q", rej.Status.Err, want)
	}
	if s := realStatus(t, r, "missing"); s.Exists {
		t.Fatalf("container of the rejected task exists: %+v", s)
	}
}
