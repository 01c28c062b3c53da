package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shoal-org/shoal/internal/logrec"
)

// logPollInterval is how often a following Logs looks for new output.
const logPollInterval = 200 * time.Millisecond

// LogOptions selects what Logs writes.
type LogOptions struct {
	// Tail is how many of the last lines to write; all when <= 0. It
	// counts before Since, Until and the streams filter, as docker's.
	Tail int
	// Follow keeps writing new output until ctx ends or the container
	// stops.
	Follow bool
	// Since and Until keep the lines read in [Since, Until); zero is
	// unbounded. Lines of a log written without times (by an older
	// agent) have none and are kept only when both are zero.
	Since, Until time.Time
	// NoStdout and NoStderr leave a stream out.
	NoStdout, NoStderr bool
}

// keep says whether rec passes o's filters.
func (o LogOptions) keep(rec logrec.Record) bool {
	switch {
	case rec.Stream == logrec.Stdout && o.NoStdout, rec.Stream == logrec.Stderr && o.NoStderr:
		return false
	case !o.Since.IsZero() && rec.Time.Before(o.Since), !o.Until.IsZero() && !rec.Time.Before(o.Until):
		return false
	}
	return true
}

// Logs hands container id's log to emit, a record at a time (package
// logrec; a record's Line is valid only during the call), filtered by o.
// With o.Follow it then keeps handing new output until ctx is done (it
// returns nil then) or the container no longer runs and all its output
// has been handed. An error from emit ends it. The log outlives the
// container until the agent deletes it, so Logs also works on removed
// containers.
func (r *Runtime) Logs(ctx context.Context, id string, o LogOptions, emit func(logrec.Record) error) error {
	f, err := os.Open(r.LogPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("logs of %s: no log file: the container never started on this node", id)
	}
	if err != nil {
		return fmt.Errorf("logs of %s: %w", id, err)
	}
	defer f.Close()
	head := make([]byte, len(logrec.Header))
	n, _ := io.ReadFull(f, head)
	framed := bytes.Equal(head[:n], []byte(logrec.Header))
	start := int64(0)
	if framed {
		start = int64(len(logrec.Header))
	}
	if o.Tail > 0 {
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("logs of %s: %w", id, err)
		}
		off, err := tailOffset(f, fi.Size(), o.Tail)
		if err != nil {
			return fmt.Errorf("logs of %s: %w", id, err)
		}
		start = max(start, off)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("logs of %s: %w", id, err)
	}
	lr := &logReader{rd: logrec.NewReaderAt(f, framed), o: o, emit: emit}
	if err := lr.copy(); err != nil {
		return fmt.Errorf("logs of %s: %w", id, err)
	}
	if o.Follow {
		if err := r.followLog(ctx, id, lr); err != nil {
			return err
		}
	}
	if rest, ok := lr.rd.Rest(); ok {
		return lr.record(rest)
	}
	return nil
}

// followLog hands what is appended to the log until ctx is done or the
// container stops running. The file is read once more after the container
// is seen stopped, so its last words are not lost.
func (r *Runtime) followLog(ctx context.Context, id string, lr *logReader) error {
	tick := time.NewTicker(logPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st, err := r.Status(ctx, id)
		if err != nil && ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("logs of %s: %w", id, err)
		}
		if err := lr.copy(); err != nil {
			return fmt.Errorf("logs of %s: %w", id, err)
		}
		if !st.Running {
			return nil
		}
	}
}

// logReader hands the records of a log that pass its options to emit.
type logReader struct {
	rd   *logrec.Reader
	o    LogOptions
	emit func(logrec.Record) error
}

// copy hands every complete record the log has now.
func (l *logReader) copy() error {
	for {
		rec, err := l.rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := l.record(rec); err != nil {
			return err
		}
	}
}

func (l *logReader) record(rec logrec.Record) error {
	if !l.o.keep(rec) {
		return nil
	}
	return l.emit(rec)
}

// tailOffset returns where the last n lines of a file of the given size
// start. A final line without a newline counts as a line.
func tailOffset(r io.ReaderAt, size int64, n int) (int64, error) {
	const chunk = 8192
	buf := make([]byte, chunk)
	end := size
	seen := 0
	for end > 0 {
		start := max(end-chunk, 0)
		p := buf[:end-start]
		if _, err := r.ReadAt(p, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(p) - 1; i >= 0; i-- {
			if p[i] != '\n' || start+int64(i) == size-1 {
				continue // the file's last byte ends the last line, it does not start one
			}
			if seen++; seen == n {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}
