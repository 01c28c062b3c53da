package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/logrec"
	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/internal/testimages"
)

// webAnswer is the web server's GET / line.
type webAnswer struct{ Version, Hostname, Task string }

// getWeb asks the server in netns nsPath for its GET / answer.
func getWeb(ctx context.Context, nsPath string) (webAnswer, string) {
	code, body, err := testenv.HTTPGetIn(ctx, nsPath, "http://127.0.0.1:80/")
	if err != nil {
		return webAnswer{}, err.Error()
	}
	var a webAnswer
	if code != 200 || json.Unmarshal(body, &a) != nil {
		return webAnswer{}, string(body)
	}
	return a, ""
}

// TestContainerLifecycle runs web:v1 through create, start, serve, exec,
// logs, an agent restart (a second Runtime adopting it), stop and remove.
func TestContainerLifecycle(t *testing.T) {
	d := testenv.Containerd(t)
	ctx := context.Background()
	state := t.TempDir()
	r1 := newRuntime(t, d, state)

	names := importImage(t, r1, "web:v1")
	if !slices.Contains(names, testimages.FullName("web", "v1")) {
		t.Fatalf("ImportArchive names = %q", names)
	}
	info, err := r1.EnsureImage(ctx, "web:v1", nil)
	mustNoErr(t, "EnsureImage of an imported image", err)
	if info.Healthcheck == nil || !slices.Equal(info.Healthcheck.Test, []string{"CMD", "/web", "-check", testimages.HealthcheckURL}) ||
		info.Healthcheck.Interval != time.Second || !slices.Equal(info.Entrypoint, []string{"/web"}) {
		t.Fatalf("ImageInfo = %+v (healthcheck %+v)", info, info.Healthcheck)
	}

	ns := testenv.NetNS(t)
	hostDir := t.TempDir()
	labels := map[string]string{"shoal.task": "web-1", "shoal.service": "web"}
	spec := Spec{
		ID: "web-1", Image: "web:v1", NetNSPath: ns, Env: []string{"SHOAL_TASK_ID=web-1"},
		Labels: labels, Hostname: "web-host",
		Limits: types.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
		Mounts: []types.Mount{
			{Type: "volume", Source: "data", Target: "/data"},
			{Type: "bind", Source: hostDir, Target: "/host", ReadOnly: true},
			{Type: "volume", Target: "/scratch"},
			{Type: "tmpfs", Target: "/cache", TmpfsSize: 8 << 20},
		},
	}
	mustNoErr(t, "Create", r1.Create(ctx, spec))
	mustNoErr(t, "Create again (idempotent)", r1.Create(ctx, spec))
	other := spec
	other.Image = "crash:latest"
	if err := r1.Create(ctx, other); !errors.Is(err, ErrConflict) {
		t.Fatalf("Create with another image: %v, want ErrConflict", err)
	}
	checkOCISpec(t, r1, "web-1", state)

	mustNoErr(t, "Start", r1.Start(ctx, "web-1"))
	st, err := r1.Status(ctx, "web-1")
	if err != nil || !st.Exists || !st.Running || st.Pid == 0 {
		t.Fatalf("Status after Start = %+v, %v", st, err)
	}
	waitFor(t, 30*time.Second, "web answers in its netns", func() (bool, string) {
		a, why := getWeb(ctx, ns)
		return a == webAnswer{Version: "v1", Hostname: "web-host", Task: "web-1"}, why
	})

	checkVolumesInUse(t, r1, st.Pid)

	code, out, err := r1.Exec(ctx, "web-1", []string{"/web", "-check", testimages.HealthcheckURL}, 10*time.Second)
	if err != nil || code != 0 || !strings.Contains(out, "200") {
		t.Fatalf("Exec healthcheck = %d %q %v, want 0", code, out, err)
	}
	_, out, err = r1.Exec(ctx, "web-1", []string{"/web", "-listen", "127.0.0.1:8081"}, 300*time.Millisecond)
	if !errors.Is(err, ErrExecTimeout) {
		t.Fatalf("Exec of a command that never ends: %v (output %q), want ErrExecTimeout", err, out)
	}

	logs := logText(t, r1, "web-1", LogOptions{})
	if !strings.Contains(logs, "web v1 listening on [::]:80") {
		t.Fatalf("Logs = %q", logs)
	}
	checkLogFilters(t, r1, "web-1")

	// Agent restart: the container keeps running and a new Runtime adopts it.
	mustNoErr(t, "Close", r1.Close())
	r2 := newRuntime(t, d, state)
	list, err := r2.List(ctx)
	mustNoErr(t, "List", err)
	if len(list) != 1 || list[0].ID != "web-1" || list[0].Image != "web:v1" ||
		!maps.Equal(list[0].Labels, labels) || !list[0].Status.Running || list[0].Status.Pid != st.Pid {
		t.Fatalf("List after restart = %+v, want web-1 running as pid %d with %v", list, st.Pid, labels)
	}
	if a, why := getWeb(ctx, ns); a.Version != "v1" {
		t.Fatalf("web stopped answering across the agent restart: %s", why)
	}

	stopAndRemove(t, r2, "web-1", state)
	checkVolumesAfterRemove(t, r2)
}

// checkVolumesInUse looks at web-1's mounts from the kernel's side (the
// tmpfs and its size limit) and at the volumes as Volumes and RemoveVolume
// see them while web-1 exists.
func checkVolumesInUse(t *testing.T, r *Runtime, pid uint32) {
	t.Helper()
	ctx := context.Background()
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	mustNoErr(t, "the task's mountinfo", err)
	var cache string
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/cache" {
			cache = line
		}
	}
	if !strings.Contains(cache, " - tmpfs ") || !strings.Contains(cache, "size=8192k") || !strings.Contains(cache, "noexec") {
		t.Fatalf("/cache in the task: %q, want a noexec tmpfs of 8192k", cache)
	}
	vols, err := r.Volumes(ctx)
	mustNoErr(t, "Volumes", err)
	got := map[string][]string{}
	for _, v := range vols {
		got[v.Name] = v.Containers
	}
	if len(got) != 2 || !slices.Equal(got["data"], []string{"web-1"}) || !slices.Equal(got["web-1-2"], []string{"web-1"}) {
		t.Fatalf("Volumes = %+v, want data and the anonymous web-1-2, both used by web-1", vols)
	}
	var inUse *VolumeInUseError
	if err := r.RemoveVolume(ctx, "data"); !errors.As(err, &inUse) || !slices.Equal(inUse.Containers, []string{"web-1"}) {
		t.Fatalf("RemoveVolume of a volume in use: %v, want a VolumeInUseError naming web-1", err)
	}
	if _, err := os.Stat(r.VolumePath("data")); err != nil {
		t.Fatalf("the refused RemoveVolume touched the volume: %v", err)
	}
}

// checkVolumesAfterRemove: the container's anonymous volume went with it,
// the named one stays until RemoveVolume.
func checkVolumesAfterRemove(t *testing.T, r *Runtime) {
	t.Helper()
	ctx := context.Background()
	vols, err := r.Volumes(ctx)
	mustNoErr(t, "Volumes after Remove", err)
	if len(vols) != 1 || vols[0].Name != "data" || len(vols[0].Containers) != 0 {
		t.Fatalf("Volumes after the container's removal = %+v, want data alone, unused", vols)
	}
	mustNoErr(t, "RemoveVolume", r.RemoveVolume(ctx, "data"))
	if _, err := os.Stat(r.VolumePath("data")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volume data still there after RemoveVolume: %v", err)
	}
	if err := r.RemoveVolume(ctx, "data"); !errors.Is(err, ErrVolumeNotFound) {
		t.Fatalf("RemoveVolume of a removed volume: %v, want ErrVolumeNotFound", err)
	}
}

// checkOCISpec verifies that limits, mounts and the netns reached the
// container's OCI spec.
func checkOCISpec(t *testing.T, r *Runtime, id, state string) {
	t.Helper()
	ctx := r.nsCtx(context.Background())
	c, err := r.client.LoadContainer(ctx, id)
	mustNoErr(t, "load container", err)
	s, err := c.Spec(ctx)
	mustNoErr(t, "container spec", err)
	res := s.Linux.Resources
	if res == nil || res.Memory == nil || res.Memory.Limit == nil || *res.Memory.Limit != 64<<20 {
		t.Fatalf("memory limit missing from OCI spec: %+v", res)
	}
	if res.CPU == nil || res.CPU.Quota == nil || *res.CPU.Quota != 50_000 || res.CPU.Period == nil || *res.CPU.Period != 100_000 {
		t.Fatalf("CPU quota missing from OCI spec: %+v", res.CPU)
	}
	mounts := map[string]string{}
	for _, m := range s.Mounts {
		mounts[m.Destination] = m.Source
	}
	if mounts["/data"] != filepath.Join(state, "volumes", "data") || mounts["/host"] == "" || mounts["/etc/hosts"] == "" {
		t.Fatalf("mounts = %v", mounts)
	}
	if _, err := os.Stat(filepath.Join(state, "volumes", "data")); err != nil {
		t.Fatalf("volume directory not created: %v", err)
	}
	if !slices.Equal(s.Process.Args, []string{"/web", "-listen", ":80"}) || !slices.Contains(s.Process.Env, "SHOAL_TASK_ID=web-1") ||
		!slices.Contains(s.Process.Env, "WEB_MODE=serve") {
		t.Fatalf("process = %+v", s.Process)
	}
}

// stopAndRemove stops a running web container gracefully, sees its exit
// event, then removes it and checks the log file is kept.
func stopAndRemove(t *testing.T, r *Runtime, id, state string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exits, err := r.Exits(ctx)
	mustNoErr(t, "Exits", err)
	// A following Logs ends by itself once the container has stopped.
	followed := []byte(logrec.Header)
	followDone := make(chan error, 1)
	go func() {
		followDone <- r.Logs(ctx, id, LogOptions{Tail: 1, Follow: true}, func(rec logrec.Record) error {
			followed = logrec.Append(followed, rec)
			return nil
		})
	}()
	mustNoErr(t, "Stop", r.Stop(ctx, id, "", 20*time.Second))
	select {
	case err := <-followDone:
		if text := logrec.Text(bytes.NewReader(followed), 0); err != nil || !strings.HasSuffix(text, "web v1: shutting down\n") {
			t.Fatalf("Logs follow = %q, %v; want it to end with the shutdown line", text, err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Logs follow did not return after the container stopped")
	}
	st, err := r.Status(ctx, id)
	if err != nil || !st.Exists || st.Running || st.ExitCode != 0 || st.ExitedAt.IsZero() {
		t.Fatalf("Status after Stop = %+v, %v; want exited with 0", st, err)
	}
	if e := waitExit(t, exits, id); e.Code != 0 || e.At.IsZero() {
		t.Fatalf("exit event = %+v, want code 0", e)
	}
	mustNoErr(t, "Stop of a stopped container", r.Stop(ctx, id, "", time.Second))
	mustNoErr(t, "Remove", r.Remove(ctx, id))
	if st, err := r.Status(ctx, id); err != nil || st.Exists {
		t.Fatalf("Status after Remove = %+v, %v", st, err)
	}
	mustNoErr(t, "Remove again", r.Remove(ctx, id))
	if _, err := os.Stat(filepath.Join(state, "logs", id+".log")); err != nil {
		t.Fatalf("log file gone after Remove: %v", err)
	}
	if got := logText(t, r, id, LogOptions{Tail: 1}); got != "web v1: shutting down\n" {
		t.Fatalf("last log line = %q", got)
	}
	cancel()
	for range exits { // the channel closes once ctx is done
	}
}

// TestCrashUnhealthyAndStopGrace covers the failing images and SIGKILL
// after the grace period.
func TestCrashUnhealthyAndStopGrace(t *testing.T) {
	d := testenv.Containerd(t)
	ctx := context.Background()
	r := newRuntime(t, d, t.TempDir())
	for _, ref := range []string{"web:v1", "crash:latest", "unhealthy:latest"} {
		importImage(t, r, ref)
	}
	exits, err := r.Exits(ctx)
	mustNoErr(t, "Exits", err)

	t.Run("crash", func(t *testing.T) {
		mustNoErr(t, "Create", r.Create(ctx, Spec{ID: "crash-1", Image: "crash:latest", NetNSPath: testenv.NetNS(t)}))
		mustNoErr(t, "Start", r.Start(ctx, "crash-1"))
		if e := waitExit(t, exits, "crash-1"); e.Code != 1 {
			t.Fatalf("crash exit = %+v, want code 1", e)
		}
		st, err := r.Status(ctx, "crash-1")
		if err != nil || st.Running || st.ExitCode != 1 {
			t.Fatalf("Status = %+v, %v", st, err)
		}
		if logs := logText(t, r, "crash-1", LogOptions{Tail: 10, NoStdout: true}); !strings.Contains(logs, "crash mode: exiting with status 1") {
			t.Fatalf("Logs of stderr = %q", logs)
		}
		mustNoErr(t, "Remove", r.Remove(ctx, "crash-1"))
	})

	t.Run("unhealthy", func(t *testing.T) {
		ns := testenv.NetNS(t)
		mustNoErr(t, "Create", r.Create(ctx, Spec{ID: "sick-1", Image: "unhealthy:latest", NetNSPath: ns}))
		mustNoErr(t, "Start", r.Start(ctx, "sick-1"))
		waitFor(t, 30*time.Second, "unhealthy serves /", func() (bool, string) {
			a, why := getWeb(ctx, ns)
			return a.Version == "v1", why
		})
		// The check says why on stderr, and exits: every probe must keep
		// those last words (the shim's own file copy dropped them now and
		// then when stdout closed first).
		for i := range 20 {
			code, out, err := r.Exec(ctx, "sick-1", []string{"/web", "-check", testimages.HealthcheckURL}, 10*time.Second)
			if err != nil || code == 0 || !strings.Contains(out, "500") {
				t.Fatalf("probe %d: Exec healthcheck = %d %q %v, want non-zero with a 500", i, code, out, err)
			}
		}
		mustNoErr(t, "Remove of a running container", r.Remove(ctx, "sick-1"))
	})

	t.Run("stop grace then SIGKILL", func(t *testing.T) {
		spec := Spec{ID: "stubborn-1", Image: "web:v1", NetNSPath: testenv.NetNS(t),
			Args: []string{"-listen", ":80", "-ignore-term"}, StopGrace: 300 * time.Millisecond}
		mustNoErr(t, "Create", r.Create(ctx, spec))
		mustNoErr(t, "Start", r.Start(ctx, "stubborn-1"))
		waitFor(t, 30*time.Second, "server up", func() (bool, string) {
			logs := logText(t, r, "stubborn-1", LogOptions{})
			return strings.Contains(logs, "listening"), logs
		})
		mustNoErr(t, "Stop", r.Stop(ctx, "stubborn-1", "", 0)) // grace from the spec
		if e := waitExit(t, exits, "stubborn-1"); e.Code != 137 {
			t.Fatalf("exit = %+v, want 137 (SIGKILL)", e)
		}
		mustNoErr(t, "Remove", r.Remove(ctx, "stubborn-1"))
	})

	mustNoErr(t, "Close", r.Close())
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	for open := true; open; {
		select {
		case _, open = <-exits:
		case <-timer.C:
			t.Fatal("Exits channel still open after Close")
		}
	}
}

func TestNewWithoutContainerd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nothing.sock")
	_, err := New(context.Background(), Config{Address: sock, StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "is containerd running") {
		t.Fatalf("New without containerd = %v, want an error naming %s", err, sock)
	}
}

// logText is container id's log as text, through Logs with o.
func logText(t *testing.T, r *Runtime, id string, o LogOptions) string {
	t.Helper()
	recs := logRecords(t, r, id, o)
	return logrec.Text(bytes.NewReader(recs), 0)
}

// logRecords is container id's log through Logs with o, encoded as a log
// file is (Header, then a record a line).
func logRecords(t *testing.T, r *Runtime, id string, o LogOptions) []byte {
	t.Helper()
	b := []byte(logrec.Header)
	mustNoErr(t, "Logs", r.Logs(context.Background(), id, o, func(rec logrec.Record) error {
		b = logrec.Append(b, rec)
		return nil
	}))
	return b
}

// checkLogFilters reads web container id's log (its listening line, on
// stdout) through each filter of LogOptions.
func checkLogFilters(t *testing.T, r *Runtime, id string) {
	t.Helper()
	rd := logrec.NewReader(bytes.NewReader(logRecords(t, r, id, LogOptions{})))
	first, err := rd.Next()
	if err != nil || first.Stream != logrec.Stdout || first.Time.IsZero() || time.Since(first.Time) > time.Hour {
		t.Fatalf("first record: %+v, %v; want a stdout line with the time it was written", first, err)
	}
	for name, tc := range map[string]struct {
		o    LogOptions
		want bool
	}{
		"no stderr":          {LogOptions{NoStderr: true}, true},
		"no stdout":          {LogOptions{NoStdout: true}, false},
		"since its time":     {LogOptions{Since: first.Time}, true},
		"since after it":     {LogOptions{Since: first.Time.Add(time.Nanosecond)}, false},
		"until after it":     {LogOptions{Until: first.Time.Add(time.Nanosecond)}, true},
		"until its own time": {LogOptions{Until: first.Time}, false},
	} {
		if got := strings.Contains(logText(t, r, id, tc.o), "listening"); got != tc.want {
			t.Errorf("%s: the listening line shown = %v, want %v", name, got, tc.want)
		}
	}
}
