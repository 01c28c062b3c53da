package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/testenv"
)

func TestMain(m *testing.M) {
	if runtime.IsLogDriver(os.Args[1:]) { // this test binary is the tests' log driver
		os.Exit(runtime.RunLogDriver(os.Args[1:]))
	}
	code := m.Run()
	testenv.CleanupImages()
	os.Exit(code)
}

// realRuntime connects a runtime.Runtime to d with state in stateDir and
// closes it when the test ends.
func realRuntime(t *testing.T, d *testenv.ContainerdDaemon, stateDir string, insecure ...string) *runtime.Runtime {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("test binary: %v", err)
	}
	r, err := runtime.New(context.Background(), runtime.Config{Address: d.Address, StateDir: stateDir,
		InsecureRegistries: insecure, LogDriver: exe, Logger: testLogger(t)})
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
		f, err := os.Open(testenv.Image(t, ref).Path)
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
		p := testenv.NetNS(t)
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

func (n *netnsPerTask) hook(_ context.Context, t *types.Task) (TaskNetwork, error) {
	if p := n.get(t.ID); p != "" {
		return TaskNetwork{NetNSPath: p}, nil
	}
	return TaskNetwork{}, fmt.Errorf("test gave task %s no network namespace", t.ID)
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
	d := testenv.Containerd(t)
	state := t.TempDir()
	r1 := realRuntime(t, d, state)
	importImages(t, r1, "web:v1", "crash:latest")
	c := newCluster(t)
	ns := &netnsPerTask{paths: map[string]string{}}
	ns.add(t, "web1", "web2", "crash1", "theirs")
	withNS := func(cfg *Config) { cfg.Network = ns.hook }
	ctx := context.Background()

	stop1 := startWorker(t, c, r1, withNS)
	crash := newTask("crash1", nodeA)
	crash.Spec.Image = "crash:latest"
	crash.Spec.Args = []string{"-lines", "100"}
	c.put(newTask("web1", nodeA), crash, newTask("theirs", nodeB))

	// web:v1 runs and serves, with the task's identity in its env.
	running := c.waitState("web1", types.TaskRunning)
	if running.Status.ContainerID != "web1" {
		t.Fatalf("running status = %+v", running.Status)
	}
	st := realStatus(t, r1, "web1")
	if !st.Running || st.Pid == 0 {
		t.Fatalf("container web1: %+v, want running", st)
	}
	waitFor(t, "web1 answers", func() (bool, string) {
		code, body, err := testenv.HTTPGetIn(ctx, ns.get("web1"), "http://127.0.0.1:80/")
		if err != nil {
			return false, err.Error()
		}
		var a struct{ Version, Task string }
		if code != 200 || json.Unmarshal(body, &a) != nil {
			return false, string(body)
		}
		return a.Version == "v1" && a.Task == "web1", string(body)
	})

	// crash prints 100 lines and exits 1 at once: failed with its exit
	// code, all its output in the log by the time the failure is reported,
	// container removed once the store has the failure, log kept.
	failed := c.waitState("crash1", types.TaskFailed)
	if failed.Status.ExitCode != 1 || failed.Status.Err != "task: non-zero exit (1)" {
		t.Fatalf("crash status = %+v", failed.Status)
	}
	if log, err := os.ReadFile(r1.LogPath("crash1")); err != nil ||
		!strings.Contains(string(log), "line 100 of 100\n") || !strings.Contains(string(log), "exiting with status 1\n") {
		// stdout and stderr are two pipes: their order in the log is not kept
		t.Fatalf("log of crash1 when its failure was reported: %q, %v; want 100 lines and the crash message", log, err)
	}
	waitFor(t, "crash1 container removed", func() (bool, string) {
		s := realStatus(t, r1, "crash1")
		return !s.Exists, fmt.Sprintf("%+v", s)
	})
	if _, err := os.Stat(r1.LogPath("crash1")); err != nil {
		t.Fatalf("log of the removed container: %v", err)
	}
	c.checkForward("crash1")

	// web:v1's image carries a healthcheck: web1 turns healthy.
	c.waitTask("web1", "healthy", func(t *types.Task) bool { return t.Status.Healthy != nil && *t.Status.Healthy })
	// preparing and starting may be coalesced into a later report.
	h1 := c.health("web1")
	if len(h1) < 2 || !slices.Equal(h1[len(h1)-2:], []string{"running unhealthy", "running healthy"}) {
		t.Fatalf("web1 reported %q, want it to end running unhealthy, then healthy", h1)
	}

	// Agent restart: a new Worker on a new connection adopts web1, and
	// reports nothing new for it (it stays running and healthy).
	stop1()
	r2 := realRuntime(t, d, state)
	startWorker(t, c, r2, withNS)
	c.put(newTask("web2", nodeA))
	c.waitState("web2", types.TaskRunning) // the new worker has reconciled web1 by now
	if st2 := realStatus(t, r2, "web1"); !st2.Running || st2.Pid != st.Pid {
		t.Fatalf("web1 after the restart: %+v, want still running with pid %d", st2, st.Pid)
	}
	c.waitTask("web2", "healthy", func(t *types.Task) bool { return t.Status.Healthy != nil && *t.Status.Healthy })
	if h := c.health("web1"); len(h) != len(h1) {
		t.Fatalf("web1 reported %q, %q before the restart: more after it?", h, h1)
	}

	// Desired shutdown: stopped, reported shutdown, removed, log kept.
	c.update("web1", func(t *types.Task) { t.DesiredState = types.TaskShutdown })
	c.waitState("web1", types.TaskShutdown)
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
	d := testenv.Containerd(t)
	reg := testenv.Registry(t)
	ref := reg.Push(t, "web:v2")
	r := realRuntime(t, d, t.TempDir(), reg.Host)
	c := newCluster(t)
	ns := &netnsPerTask{paths: map[string]string{}}
	ns.add(t, "pulled", "missing")
	startWorker(t, c, r, func(cfg *Config) { cfg.Network = ns.hook })

	pulled, missing := newTask("pulled", nodeA), newTask("missing", nodeA)
	pulled.Spec.Image, missing.Spec.Image = ref, reg.Host+"/web:v404"
	c.put(pulled, missing)
	c.waitState("pulled", types.TaskRunning)
	rej := c.waitState("missing", types.TaskRejected)
	if want := `image "` + reg.Host + `/web:v404": not found in registry ` + reg.Host; rej.Status.Err != want {
		t.Fatalf("rejected Err = %q, want %q", rej.Status.Err, want)
	}
	if s := realStatus(t, r, "missing"); s.Exists {
		t.Fatalf("container of the rejected task exists: %+v", s)
	}
}

// TestHealthcheckWithContainerd runs healthchecks through a real
// containerd: web:v1 probed by a task healthcheck that reaches the server
// by a name only the hosts file from the Network hook knows (so it also
// proves Hosts is mounted), and unhealthy:latest, whose image healthcheck
// (timings shortened by the task) fails until the task is failed. Each
// network is released once its container is gone.
func TestHealthcheckWithContainerd(t *testing.T) {
	d := testenv.Containerd(t)
	r := realRuntime(t, d, t.TempDir())
	importImages(t, r, "web:v1", "unhealthy:latest")
	c := newCluster(t)
	ns := &netnsPerTask{paths: map[string]string{}}
	ns.add(t, "web", "sick")
	files := t.TempDir()
	hosts, resolv := files+"/hosts", files+"/resolv.conf"
	if err := os.WriteFile(hosts, []byte("127.0.0.1\tlocalhost health.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var released []string
	startWorker(t, c, r, func(cfg *Config) {
		cfg.Network = func(ctx context.Context, tk *types.Task) (TaskNetwork, error) {
			tn, err := ns.hook(ctx, tk)
			tn.Hosts, tn.ResolvConf, tn.Addresses = hosts, resolv, map[string]string{"web-net": "10.240.1.7"}
			return tn, err
		}
		cfg.Release = func(ctx context.Context, id string) error {
			if s, err := r.Status(ctx, id); err != nil || s.Exists {
				t.Errorf("Release of %s while its container exists (%+v, %v)", id, s, err)
			}
			mu.Lock()
			released = append(released, id)
			mu.Unlock()
			return nil
		}
	})

	web := newTask("web", nodeA)
	web.Spec.Healthcheck = &types.HealthConfig{Test: []string{"CMD", "/web", "-check", "http://health.test/health"},
		Interval: 200 * time.Millisecond, Retries: 50}
	sick := newTask("sick", nodeA)
	sick.Spec.Image = "unhealthy:latest"
	sick.Spec.Healthcheck = &types.HealthConfig{Interval: 200 * time.Millisecond}
	c.put(web, sick)

	got := c.waitTask("web", "healthy", isHealthy(true))
	if got.Addresses["web-net"] != "10.240.1.7" {
		t.Fatalf("web addresses = %v", got.Addresses)
	}
	failed := c.waitState("sick", types.TaskFailed)
	if failed.Status.Err != "task: container unhealthy" || failed.Status.ContainerID != "sick" {
		t.Fatalf("sick status = %+v", failed.Status)
	}
	if h := c.health("sick"); slices.Contains(h, "running healthy") {
		t.Fatalf("sick reported %q", h)
	}
	waitFor(t, "sick removed and released", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return !realStatus(t, r, "sick").Exists && slices.Contains(released, "sick"), fmt.Sprint("released ", released)
	})
	if tk := c.st.View().Task("web"); !isHealthy(true)(tk) {
		t.Fatalf("web after sick failed: %+v", tk.Status)
	}
	c.update("web", func(t *types.Task) { t.DesiredState = types.TaskShutdown })
	c.waitState("web", types.TaskShutdown)
	waitFor(t, "web removed and released", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return !realStatus(t, r, "web").Exists && slices.Contains(released, "web"), fmt.Sprint("released ", released)
	})
}
