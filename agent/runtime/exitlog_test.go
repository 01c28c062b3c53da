package runtime

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
)

// TestExitAfterLastLog starts, again and again, a task that prints many
// lines and exits at once, and reads its log the moment its exit is
// observed, through each way the runtime reports one (the exit event,
// Status, List): every line must be there, stdout's and the final one on
// stderr. Two faults made this fail now and then: the shim publishes an
// exit before its copy of the output has drained (hence reap), and the
// shim's own copier drops stderr output left when stdout ends first
// (hence the log driver).
func TestExitAfterLastLog(t *testing.T) {
	d := testenv.Containerd(t)
	ctx := context.Background()
	r := newRuntime(t, d, t.TempDir())
	importImage(t, r, "crash:latest")
	exits, err := r.Exits(ctx)
	mustNoErr(t, "Exits", err)
	const lines, attempts = 200, 30
	ns := testenv.NetNS(t)
	check := func(t *testing.T, id, how string) {
		t.Helper()
		logs := logText(t, r, id, LogOptions{})
		if missing := missingLines(logs, lines); missing != "" {
			t.Fatalf("%s: log read when the exit was seen (%s) lacks %s; it holds %d bytes ending %q",
				id, how, missing, len(logs), lastBytes(logs, 120))
		}
	}
	for i := range attempts {
		id := fmt.Sprintf("talk-%d", i)
		mustNoErr(t, "Create", r.Create(ctx, Spec{ID: id, Image: "crash:latest", NetNSPath: ns,
			Args: []string{"-lines", fmt.Sprint(lines)}}))
		mustNoErr(t, "Start", r.Start(ctx, id))
		switch i % 3 {
		case 0: // the exit event
			if e := waitExit(t, exits, id); e.Code != 1 {
				t.Fatalf("%s: exit %+v, want code 1", id, e)
			}
			check(t, id, "exit event")
		case 1: // Status polled until it says exited
			waitFor(t, time.Minute, id+" exited", func() (bool, string) {
				st, err := r.Status(ctx, id)
				return err == nil && !st.Running && !st.ExitedAt.IsZero(), fmt.Sprintf("%+v %v", st, err)
			})
			check(t, id, "Status")
			waitExit(t, exits, id)
		case 2: // List polled until it shows the container exited
			waitFor(t, time.Minute, id+" listed exited", func() (bool, string) {
				cs, err := r.List(ctx)
				for _, c := range cs {
					if c.ID == id {
						return !c.Status.Running && !c.Status.ExitedAt.IsZero(), fmt.Sprintf("%+v", c.Status)
					}
				}
				return false, fmt.Sprintf("not listed (%v)", err)
			})
			check(t, id, "List")
			waitExit(t, exits, id)
		}
		st, err := r.Status(ctx, id)
		if err != nil || st.Running || st.ExitCode != 1 || st.ExitedAt.IsZero() {
			t.Fatalf("%s: Status after exit = %+v, %v; want exited with code 1", id, st, err)
		}
		mustNoErr(t, "Remove", r.Remove(ctx, id))
	}
}

// missingLines names what a crash -lines n log lacks: a numbered line or
// the final crash message; "" when nothing.
func missingLines(log string, n int) string {
	for i := 1; i <= n; i++ {
		if !strings.Contains(log, fmt.Sprintf("line %d of %d\n", i, n)) {
			return fmt.Sprintf("line %d of %d", i, n)
		}
	}
	if !strings.Contains(log, "crash mode: exiting with status 1\n") {
		return "the final crash message"
	}
	return ""
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
