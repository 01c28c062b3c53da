package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// pollResult is one scripted answer of the agent.
type pollResult struct {
	svc   api.Service
	tasks []api.Task
	err   error
}

// scriptedLoop returns a loop that answers polls from script (repeating
// the last answer) on a fake clock that Sleep advances.
func scriptedLoop(script []pollResult, out *progressWriter) (*progressLoop, *int) {
	now, polls := fixedNow, 0
	return &progressLoop{
		Poll: func(ctx context.Context) (api.Service, []api.Task, error) {
			r := script[min(polls, len(script)-1)]
			polls++
			return r.svc, r.tasks, r.err
		},
		Now: func() time.Time { return now },
		Sleep: func(ctx context.Context, d time.Duration) error {
			now = now.Add(d)
			return ctx.Err()
		},
		Interval:      time.Second,
		Out:           out,
		MaxPollErrors: 3,
	}, &polls
}

func TestProgressLoopLogOutput(t *testing.T) {
	svc := fixtureService(2, 1, nil)
	p := func(id string, slot int, state types.TaskState, at time.Time) api.Task {
		return mkTask(id, slot, 1, tRun, state, at)
	}
	script := []pollResult{
		{svc: svc},
		{svc: svc, tasks: []api.Task{p("a", 1, types.TaskPending, fixedNow), p("b", 2, types.TaskPending, fixedNow)}},
		{err: &api.StatusError{Code: http.StatusServiceUnavailable, Message: "no leader"}},
		{svc: svc, tasks: []api.Task{p("a", 1, tRun, fixedNow.Add(2*time.Second)), p("b", 2, types.TaskPending, fixedNow)}},
		{svc: svc, tasks: []api.Task{p("a", 1, tRun, fixedNow.Add(2*time.Second)), p("b", 2, tRun, fixedNow.Add(4*time.Second))}},
	}
	var buf bytes.Buffer
	loop, polls := scriptedLoop(script, &progressWriter{out: &buf})
	if err := loop.run(context.Background(), &watcher{spec: watchSpec{Op: opCreate}}); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := strings.Join([]string{
		"overall progress: 0 out of 2 tasks",
		"1/2: " + barPending,
		"2/2: " + barPending,
		"overall progress: 1 out of 2 tasks",
		"1/2: " + barRunning,
		"overall progress: 2 out of 2 tasks",
		"2/2: " + barRunning,
		"verify: Waiting 5 seconds to verify that tasks are stable...",
		"verify: Service converged",
	}, "\n") + "\n"
	if buf.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", buf.String(), want)
	}
	// Settled at the 5th poll (fixedNow+4s), converged 5s later at fixedNow+9s.
	if *polls != 10 {
		t.Errorf("polled %d times, want 10", *polls)
	}
}

func TestProgressLoopEnds(t *testing.T) {
	notFound := &api.StatusError{Code: http.StatusNotFound, Message: `service "web" not found`}
	unavailable := &api.StatusError{Code: http.StatusServiceUnavailable, Message: "no leader"}
	paused := fixtureService(1, 2, updStatus(types.UpdatePaused, "update paused due to failure or early termination of task q"))
	tests := []struct {
		name    string
		script  []pollResult
		cancel  bool
		want    string
		printed string
	}{
		{"service removed", []pollResult{{err: notFound}}, false, `service removed while its progress was shown: service "web" not found`, ""},
		{"agent unreachable", []pollResult{{err: unavailable}}, false, "follow progress: no leader (the change was accepted; see 'agentctl service ps')", ""},
		{"paused", []pollResult{{svc: paused}}, false, "service update paused: update paused due to failure or early termination of task q", "overall progress: 0 out of 1 tasks\n"},
		{"interrupted", []pollResult{{svc: fixtureService(1, 1, nil)}}, true, context.Canceled.Error(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			loop, _ := scriptedLoop(tt.script, &progressWriter{out: &buf})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			err := loop.run(ctx, &watcher{spec: watchSpec{Op: opUpdate}})
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %s", err, tt.want)
			}
			if tt.cancel && !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			if buf.String() != tt.printed {
				t.Errorf("printed %q, want %q", buf.String(), tt.printed)
			}
		})
	}
}

func TestProgressWriterTerminal(t *testing.T) {
	var buf bytes.Buffer
	w := &progressWriter{out: &buf, tty: true, width: 20}
	w.write([]progressLine{{"overall progress", "0 out of 1 tasks"}, {"1/1", ""}})
	w.write([]progressLine{{"overall progress", "1 out of 1 tasks"}, {"1/1", "running"}, {"verify", "Service converged"}})
	w.write([]progressLine{{"overall progress", "1 out of 1 tasks"}})
	want := "\x1b[2Koverall progress: 0\n\x1b[2K1/1: \n" +
		"\x1b[2A\x1b[2Koverall progress: 1\n\x1b[2K1/1: running\n\x1b[2Kverify: Service con\n" +
		"\x1b[3A\x1b[2Koverall progress: 1\n\x1b[J"
	if got := buf.String(); got != want {
		t.Errorf("terminal output\n got %q\nwant %q", got, want)
	}
}

func TestTerminalDetection(t *testing.T) {
	if tty, _ := terminal(&bytes.Buffer{}); tty {
		t.Error("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if tty, _ := terminal(f); tty {
		t.Error("a regular file is not a terminal")
	}
	// A real pseudo-terminal, as a shell's stdout would be.
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetWinsize(int(ptmx.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 132}); err != nil {
		t.Fatalf("set window size: %v", err)
	}
	if tty, width := terminal(ptmx); !tty || width != 132 {
		t.Errorf("terminal(pty) = %v, %d; want true, 132", tty, width)
	}
}
