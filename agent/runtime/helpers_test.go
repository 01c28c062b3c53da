package runtime

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
)

func TestMain(m *testing.M) {
	if IsLogDriver(os.Args[1:]) { // this test binary is the tests' log driver
		os.Exit(RunLogDriver(os.Args[1:]))
	}
	if spec := os.Getenv(execLoopEnv); spec != "" { // TestExecCallerKilled's prober
		os.Exit(runExecLoop(spec))
	}
	code := m.Run()
	testenv.CleanupImages()
	os.Exit(code)
}

// newRuntime connects a Runtime to d with state in stateDir; it is closed
// in t.Cleanup (Close is idempotent, so a test may close it earlier).
func newRuntime(t *testing.T, d *testenv.ContainerdDaemon, stateDir string, insecure ...string) *Runtime {
	t.Helper()
	r, err := New(context.Background(), Config{
		Address: d.Address, Namespace: "shoal", StateDir: stateDir,
		InsecureRegistries: insecure, LogDriver: testLogDriver(t),
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// importImage loads ref's archive into r.
func importImage(t testing.TB, r *Runtime, ref string) []string {
	t.Helper()
	f, err := os.Open(testenv.Image(t, ref).Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := r.ImportArchive(context.Background(), f)
	if err != nil {
		t.Fatalf("ImportArchive %s: %v", ref, err)
	}
	return names
}

// waitFor polls cond until it holds or the deadline passes; the last
// reason is reported on failure.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: %s", what, timeout, why)
		}
		<-tick.C
	}
}

// waitExit reads exits until one for id arrives.
func waitExit(t *testing.T, exits <-chan Exit, id string) Exit {
	t.Helper()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-exits:
			if !ok {
				t.Fatalf("exit channel closed before %s exited", id)
			}
			if e.ID == id {
				return e
			}
		case <-timer.C:
			t.Fatalf("no exit event for %s within a minute", id)
		}
	}
}

func mustNoErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// testLogDriver is the test binary itself, which TestMain turns into the
// log driver when the shim starts it so.
func testLogDriver(t testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("test binary: %v", err)
	}
	return exe
}
