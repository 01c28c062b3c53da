//go:build e2e

// Package e2e holds the end-to-end tests: they bring up a lab (several hosts
// as network namespaces on this machine, see e2e/lab) and drive it with the
// real binaries from bin/ (`make build`). They need root.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/e2e/lab"
	"github.com/shoal-org/shoal/internal/testenv"
)

// binDir is the repository's bin/, built by `make build`.
func binDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "bin")
	for _, b := range []string{"agent", "agentctl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("%s not built: run `make build` first (%v)", b, err)
		}
	}
	return dir
}

// upLab brings a fresh lab up and tears it down when the test ends. The
// agents' logs are copied into the test output if the test failed.
func upLab(t *testing.T, o lab.Options) *lab.Lab {
	t.Helper()
	testenv.RequireRoot(t, "the lab creates network namespaces and runs containerd")
	o.Bin = binDir(t)
	o.Config = labConfig()
	_ = lab.Teardown(o.Config) // a lab left over by an interrupted run
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, o)
	if err != nil {
		dumpLogs(t, nil)
		_ = lab.Teardown(o.Config)
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, l)
		}
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// labConfig is the default lab, or with SHOAL_LAB_PREFIX=P set a lab of its
// own (namespaces P-hub, P-nK, files under /run/shoal-lab-P and
// /var/lib/shoal-lab-P), so that two checkouts can run e2e tests side by
// side on one machine.
func labConfig() lab.Config {
	p := os.Getenv("SHOAL_LAB_PREFIX")
	if p == "" {
		return lab.Config{}
	}
	return lab.Config{Prefix: p, RunDir: lab.DefaultRunDir + "-" + p, DataDir: lab.DefaultDataDir + "-" + p}
}

func dumpLogs(t *testing.T, l *lab.Lab) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes() {
		b, err := os.ReadFile(n.AgentLog)
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		t.Logf("--- last lines of %s's agent log:\n%s", n.Name, strings.Join(lines, "\n"))
	}
}

// waitUntil polls cond every 100 ms until it holds, failing the test with
// the last detail if it does not within d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var detail string
	for {
		var ok bool
		if ok, detail = cond(); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; last: %s", what, d, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return " error: " + err.Error()
}

func rowsString(rows []nodeRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "[%s %s %s %s] ", r.Hostname, r.Status, r.Availability, r.ManagerStatus)
	}
	return b.String()
}

// followerLag bounds how long a check waits for a node other than the
// leader to act on what the leader reported: a follower applies a commit
// within raft's commit timeout (50 ms), then programs its dataplane or
// answers from its replica. Checks that look at another node right after
// the leader saw something give it this long (seconds, for a loaded CI
// machine), never a fixed sleep.
const followerLag = 5 * time.Second
