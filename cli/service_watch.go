package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/api"
)

// progressInterval is how often the display polls the agent.
const progressInterval = 250 * time.Millisecond

// maxPollErrors is how many polls in a row may fail (say, while a new
// leader is elected) before the display gives up.
const maxPollErrors = 20

// pollFunc reads a service and all its tasks.
type pollFunc func(ctx context.Context) (api.Service, []api.Task, error)

// progressLoop polls until the change converges or fails, or ctx ends.
// Clock and sleep are injected so tests run it without waiting.
type progressLoop struct {
	Poll          pollFunc
	Now           func() time.Time
	Sleep         func(ctx context.Context, d time.Duration) error
	Interval      time.Duration
	Out           *progressWriter
	MaxPollErrors int
}

// run drives w until the service converges (nil), a rollout fails (its
// error), polling keeps failing, or ctx ends (ctx.Err()).
func (l *progressLoop) run(ctx context.Context, w *watcher) error {
	fails := 0
	for {
		svc, tasks, err := l.Poll(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case api.IsNotFound(err):
			return fmt.Errorf("service removed while its progress was shown: %w", err)
		case err != nil:
			if fails++; fails >= l.MaxPollErrors {
				return fmt.Errorf("follow progress: %w (the change was accepted; see 'agentctl service ps')", err)
			}
		default:
			fails = 0
			f, done, err := w.observe(svc, tasks, l.Now())
			l.Out.write(render(f, l.Out.tty))
			if err != nil || done {
				return err
			}
		}
		if err := l.Sleep(ctx, l.Interval); err != nil {
			return err
		}
	}
}

// progressWriter shows frames: on a terminal it redraws them in place with
// ANSI cursor movements; elsewhere it prints only the lines that changed,
// so that logs stay readable. Not safe for concurrent use.
type progressWriter struct {
	out   io.Writer
	tty   bool
	width int // terminal columns, 0 if unknown
	drawn int
	last  map[string]string
}

func (p *progressWriter) write(lines []progressLine) {
	var b strings.Builder
	if p.tty {
		if p.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
		}
		for _, l := range lines {
			b.WriteString("\x1b[2K")
			b.WriteString(clip(l.String(), p.width))
			b.WriteByte('\n')
		}
		if len(lines) < p.drawn {
			b.WriteString("\x1b[J")
		}
		p.drawn = len(lines)
	} else {
		if p.last == nil {
			p.last = map[string]string{}
		}
		for _, l := range lines {
			if l.Text == "" || p.last[l.ID] == l.Text {
				continue
			}
			p.last[l.ID] = l.Text
			b.WriteString(l.String())
			b.WriteByte('\n')
		}
	}
	_, _ = io.WriteString(p.out, b.String())
}

// clip cuts s to fit a terminal line, so that redrawing counts lines right.
func clip(s string, width int) string {
	r := []rune(s)
	if width <= 1 || len(r) < width {
		return s
	}
	return string(r[:width-1])
}

// terminal reports whether w is a terminal, and its width.
func terminal(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok {
		return false, 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return false, 0
	}
	return true, int(ws.Col)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// servicePoller reads the service and its tasks from the agent.
func servicePoller(cl *api.Client, id string) pollFunc {
	return func(ctx context.Context) (api.Service, []api.Task, error) {
		svc, err := cl.Service(ctx, id)
		if err != nil {
			return svc, nil, err
		}
		tasks, err := cl.Tasks(ctx, id)
		return svc, tasks, err
	}
}

// followService shows the progress of a change to service id until it
// converges; Ctrl-C leaves the change running and says so.
func followService(g *Globals, cl *api.Client, id string, spec watchSpec, quiet bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	out := g.Out
	if quiet {
		out = io.Discard
	}
	tty, width := terminal(out)
	loop := progressLoop{Poll: servicePoller(cl, id), Now: time.Now, Sleep: sleepCtx, Interval: progressInterval,
		Out: &progressWriter{out: out, tty: tty, width: width}, MaxPollErrors: maxPollErrors}
	err := loop.run(ctx, &watcher{spec: spec})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		fmt.Fprintf(stderr, "\nOperation continuing in background.\nUse `agentctl service ps %s` to check progress.\n", truncID(id))
		return nil
	}
	return err
}
