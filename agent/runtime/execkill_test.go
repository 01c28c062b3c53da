package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/internal/testimages"
)

// execLoopEnv makes the test binary a healthcheck prober (see
// runExecLoop) instead of running tests: "ADDRESS STATEDIR ID".
const execLoopEnv = "SHOAL_TEST_EXEC_LOOP"

// runExecLoop probes container id with Exec as fast as it can, forever:
// an agent whose healthchecks are in flight when it is killed.
func runExecLoop(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 3 {
		return 2
	}
	ctx := context.Background()
	r, err := New(ctx, Config{Address: f[0], Namespace: "shoal", StateDir: f[1],
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("probing")
	for {
		_, _, _ = r.Exec(ctx, f[2], []string{"/web", "-check", testimages.HealthcheckURL}, 10*time.Second)
	}
}

// TestExecCallerKilled kills, again and again, a process whose
// healthcheck Exec is in flight (as when systemd restarts a killed agent)
// and checks that the container's shim keeps answering and its task keeps
// running: an exec whose I/O needed its caller alive wedged the shim
// (containerd 1.6's exec Start waited for a reader of its stdout FIFO
// while holding the lock every exit and then every State call waits for:
// the task showed as "UNKNOWN", PID 0).
func TestExecCallerKilled(t *testing.T) {
	d := testenv.Containerd(t)
	ctx := context.Background()
	state := t.TempDir()
	r := newRuntime(t, d, state)
	importImage(t, r, "web:v1")
	mustNoErr(t, "Create", r.Create(ctx, Spec{ID: "probed", Image: "web:v1", NetNSPath: testenv.NetNS(t)}))
	mustNoErr(t, "Start", r.Start(ctx, "probed"))
	st0, err := r.Status(ctx, "probed")
	if err != nil || !st0.Running {
		t.Fatalf("Status after Start = %+v, %v", st0, err)
	}
	exe := testLogDriver(t)
	for round := range 12 {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), execLoopEnv+"="+d.Address+" "+state+" probed")
		out, err := cmd.StdoutPipe()
		mustNoErr(t, "pipe", err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		mustNoErr(t, "start prober", cmd.Start())
		line := make([]byte, len("probing\n"))
		if _, err := io.ReadFull(out, line); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("prober did not start: %v: %s", err, stderr.String())
		}
		// Spread the kills over the phases of a probe.
		time.Sleep(time.Duration(50+round*37) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		st, err := r.Status(sctx, "probed")
		cancel()
		if err != nil || !st.Running || st.Pid != st0.Pid {
			t.Fatalf("round %d: after a prober was killed mid-exec, Status = %+v, %v; want running as PID %d", round, st, err, st0.Pid)
		}
		ectx, cancel := context.WithTimeout(ctx, 20*time.Second)
		code, eout, err := r.Exec(ectx, "probed", []string{"/web", "-check", testimages.HealthcheckURL}, 10*time.Second)
		cancel()
		if err != nil || code != 0 {
			t.Fatalf("round %d: a probe after a prober was killed mid-exec: %d %q %v", round, code, eout, err)
		}
	}
}
