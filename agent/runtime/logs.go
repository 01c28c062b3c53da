package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// logPollInterval is how often a following Logs looks for new output.
const logPollInterval = 200 * time.Millisecond

// Logs writes container id's log to w: the last tail lines, or all of it if
// tail <= 0. With follow it then keeps writing new output until ctx is done
// (it returns nil then) or the container no longer runs and all its output
// has been written. The log outlives the container until the agent deletes
// it, so Logs also works on removed containers.
func (r *Runtime) Logs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error {
	f, err := os.Open(r.LogPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("logs of %s: no log file: the container never started on this node", id)
	}
	if err != nil {
		return fmt.Errorf("logs of %s: %w", id, err)
	}
	defer f.Close()
	if tail > 0 {
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("logs of %s: %w", id, err)
		}
		off, err := tailOffset(f, fi.Size(), tail)
		if err != nil {
			return fmt.Errorf("logs of %s: %w", id, err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("logs of %s: %w", id, err)
		}
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("logs of %s: %w", id, err)
	}
	if !follow {
		return nil
	}
	return r.followLog(ctx, id, f, w)
}

// followLog copies what is appended to f until ctx is done or the
// container stops running. The file is read once more after the container
// is seen stopped, so its last words are not lost.
func (r *Runtime) followLog(ctx context.Context, id string, f *os.File, w io.Writer) error {
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
		if _, err := io.Copy(w, f); err != nil {
			return fmt.Errorf("logs of %s: %w", id, err)
		}
		if !st.Running {
			return nil
		}
	}
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
