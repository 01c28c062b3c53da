package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-org/shoal/internal/logrec"
)

// logDriverKey is the first argument the shim starts the log driver with;
// the second is the log file's path (see cio.BinaryIO: the shim turns each
// key of the URI's query into an argument followed by its value).
const logDriverKey = "shoal-log-driver"

// logDrainAfterTerm bounds how long the log driver goes on copying after
// the shim asks it to end (the task was deleted): output still in the
// pipes is saved, but a leftover process that keeps a pipe open cannot
// hold the deletion up (the shim itself would kill the driver after 12 s).
const logDrainAfterTerm = 2 * time.Second

// IsLogDriver reports whether args (os.Args[1:]) are those the shim starts
// the log driver with. An executable named as Config.LogDriver calls it
// first thing in main and, if so, runs RunLogDriver instead.
func IsLogDriver(args []string) bool { return len(args) == 2 && args[0] == logDriverKey }

// RunLogDriver is a task's log driver, run by containerd's shim as a
// process of its own for the life of the task (args as IsLogDriver
// accepts them): it appends the task's stdout (fd 3) and stderr (fd 4) to
// the log file named in args, as records of package logrec (a line each,
// with the time it was read and its stream), and ends once both reach end
// of file, that is once the task's processes are gone. It returns the
// exit status.
//
// The shim's own copy (cio.LogFile) is not used because it loses output:
// its stdout and stderr copiers share one file, and the stdout copier
// closes it when stdout ends, so stderr output still in its pipe at the
// task's exit (a crashing task's last words) is dropped (see
// containerd's pkg/process/io.go, copyPipes, up to containerd 1.7).
func RunLogDriver(args []string) int {
	if !IsLogDriver(args) {
		fmt.Fprintf(os.Stderr, "usage: %s %s LOGFILE (run by containerd's shim)\n", os.Args[0], logDriverKey)
		return 2
	}
	ready := os.NewFile(5, "ready")
	f, err := os.OpenFile(args[1], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		_ = ready.Close()
		return 1 // nobody reads this process's stderr; the task's log stays empty
	}
	defer f.Close()
	out := &recordFile{f: f}
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		out.write([]byte(logrec.Header))
	}
	pipes := []*os.File{pollable(3, "stdout"), pollable(4, "stderr")}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	_ = ready.Close() // the shim starts the task once this end is closed
	var wg sync.WaitGroup
	for i, p := range pipes {
		if p == nil {
			continue
		}
		wg.Go(func() { copyLog(out, logrec.Stream(i+1), p) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-term:
		for _, p := range pipes {
			if p != nil {
				_ = p.SetReadDeadline(time.Now().Add(logDrainAfterTerm))
			}
		}
		<-done
	}
	return 0
}

// pollable returns inherited file descriptor fd as a file whose reads can
// be given a deadline, or nil if the shim passed none.
func pollable(fd int, name string) *os.File {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil
	}
	return os.NewFile(uintptr(fd), name)
}

// recordFile is the log file, shared by the stdout and stderr copiers;
// each write holds whole records.
type recordFile struct {
	mu sync.Mutex
	f  io.Writer
}

func (r *recordFile) write(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.f.Write(b) // see copyLog: the task must not block on its log
}

// copyLog writes what is read from p to f as records of stream s, each
// stamped when its first byte was read, until p ends (or its deadline
// passes); output left without a newline is a last, partial record. The
// records of one read go out in one write, not one a line. A write error
// does not stop the reading: the task must never block on a full pipe
// because its log cannot be written.
func copyLog(f *recordFile, s logrec.Stream, p *os.File) {
	split := logrec.Splitter{Stream: s}
	buf := make([]byte, 32*1024)
	var out []byte
	add := func(rec logrec.Record) { out = logrec.Append(out, rec) }
	for {
		n, err := p.Read(buf)
		if n > 0 {
			split.Feed(buf[:n], time.Now(), add)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				_ = p.Close()
			}
			split.Flush(add)
		}
		if len(out) > 0 {
			f.write(out)
			out = out[:0]
		}
		if err != nil {
			return
		}
	}
}
