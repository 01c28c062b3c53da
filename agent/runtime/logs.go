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

// Logs writes container id's log to w as a log of package logrec (its
// Header, then one record a line), filtered by o. With o.Follow it then
// keeps writing new output until ctx is done (it returns nil then) or the
// container no longer runs and all its output has been written. The log
// outlives the container until the agent deletes it, so Logs also works
// on removed containers.
func (r *Runtime) Logs(ctx context.Context, id string, o LogOptions, w io.Writer) error {
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
	lw := &logWriter{w: w, o: o}
	if err := lw.header(); err != nil {
		return fmt.Errorf("logs of %s: %w", id, err)
	}
	rd := logrec.NewReaderAt(f, framed)
	if err := lw.copy(rd); err != nil {
		return fmt.Errorf("logs of %s: %w", id, err)
	}
	if o.Follow {
		if err := r.followLog(ctx, id, rd, lw); err != nil {
			return err
		}
	}
	if rest, ok := rd.Rest(); ok {
		return lw.record(rest)
	}
	return nil
}

// followLog copies what is appended to the log until ctx is done or the
// container stops running. The file is read once more after the container
// is seen stopped, so its last words are not lost.
func (r *Runtime) followLog(ctx context.Context, id string, rd *logrec.Reader, lw *logWriter) error {
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
		if err := lw.copy(rd); err != nil {
			return fmt.Errorf("logs of %s: %w", id, err)
		}
		if !st.Running {
			return nil
		}
	}
}

// logWriter writes the records that pass its options.
type logWriter struct {
	w   io.Writer
	o   LogOptions
	buf []byte
}

func (l *logWriter) header() error {
	_, err := io.WriteString(l.w, logrec.Header)
	return err
}

// copy writes every complete record rd has now.
func (l *logWriter) copy(rd *logrec.Reader) error {
	for {
		rec, err := rd.Next()
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

func (l *logWriter) record(rec logrec.Record) error {
	if !l.o.keep(rec) {
		return nil
	}
	l.buf = logrec.Append(l.buf[:0], rec)
	_, err := l.w.Write(l.buf)
	return err
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
