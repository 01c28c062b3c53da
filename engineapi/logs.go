package engineapi

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
	dockertypes "github.com/moby/moby/api/types"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

// Logs. The docker CLI asks for details and reads each line as
// "DETAILS MESSAGE", where DETAILS names the task, its service and its
// node (com.docker.swarm.task.id=...,...), then looks their names up to
// print "web.1.ID@node    | MESSAGE". The lines travel in Docker's
// multiplexed stream: an 8-byte header (stream, size) before each one.
// Each task's log is read with Backend.TaskLogs, which prefixes lines
// with shoal's own "NAME@NODE    | "; that prefix is cut off here.

// shoalPrefixEnd ends the prefix shoal puts on each merged log line.
const shoalPrefixEnd = "    | "

// serviceLogs answers GET /services/{id}/logs with the logs of the
// service's tasks that have started.
func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) error {
	o, err := dockerLogOptions(r)
	if err != nil {
		return err
	}
	sv, err := s.b.Service(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	tasks, err := s.b.Tasks(r.Context(), "")
	if err != nil {
		return err
	}
	var started []api.Task
	for _, t := range tasks {
		if t.ServiceID == sv.ID && t.NodeID != "" && t.Status.State.Rank() >= types.TaskStarting.Rank() {
			started = append(started, t)
		}
	}
	s.streamLogs(w, r, started, o)
	return nil
}

// taskLogs answers GET /tasks/{id}/logs.
func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) error {
	o, err := dockerLogOptions(r)
	if err != nil {
		return err
	}
	t, err := s.b.Task(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.streamLogs(w, r, []api.Task{t}, o)
	return nil
}

// dockerLogOptions reads the query of the log endpoints. What shoal's logs
// cannot do yet (timestamps, since, until) is refused, not ignored.
func dockerLogOptions(r *http.Request) (api.LogOptions, error) {
	q := r.URL.Query()
	o := api.LogOptions{Tail: -1}
	o.Follow, _ = strconv.ParseBool(q.Get("follow"))
	stdout, _ := strconv.ParseBool(q.Get("stdout"))
	stderr, _ := strconv.ParseBool(q.Get("stderr"))
	if !stdout && !stderr {
		return o, fault.Invalidf("Bad parameters: you must choose at least one stream")
	}
	for _, k := range []string{"timestamps", "since", "until"} {
		if v := q.Get(k); v != "" && v != "0" && v != "false" {
			return o, fault.Invalidf("logs with %s are not served by shoal yet: leave out --%s", k, k)
		}
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return o, fault.Invalidf("tail %q: use a number of lines or all", t)
		}
		o.Tail = n
	}
	return o, nil
}

// streamLogs writes the logs of tasks, read at once, to w as Docker's
// multiplexed stream, each line with its task's details.
func (s *Server) streamLogs(w http.ResponseWriter, r *http.Request, tasks []api.Task, o api.LogOptions) {
	w.Header().Set("Content-Type", dockertypes.MediaTypeMultiplexedStream)
	w.WriteHeader(http.StatusOK)
	out := &frames{w: w}
	out.flush()
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lw := &taskLines{out: out, details: details(t)}
			if err := s.b.TaskLogs(r.Context(), t.ID, o, func() io.Writer { return lw }); err != nil && r.Context().Err() == nil {
				out.frame(stdcopy.Stderr, []byte(lw.details+" shoal: log of task "+t.ID+": "+err.Error()+"\n"))
			}
			lw.close()
		}()
	}
	wg.Wait()
}

// details is the DETAILS part of a task's log lines, as Docker writes it.
func details(t api.Task) string {
	return "com.docker.swarm.node.id=" + url.QueryEscape(t.NodeID) +
		",com.docker.swarm.service.id=" + url.QueryEscape(t.ServiceID) +
		",com.docker.swarm.task.id=" + url.QueryEscape(t.ID)
}

// frames writes whole frames of the multiplexed stream to w, one at a
// time (the tasks' logs are written concurrently), flushing each.
type frames struct {
	mu sync.Mutex
	w  http.ResponseWriter
}

func (f *frames) frame(stream stdcopy.StdType, p []byte) {
	var hdr [8]byte
	hdr[0] = byte(stream)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	f.mu.Lock()
	defer f.mu.Unlock()
	_, _ = f.w.Write(hdr[:])
	_, _ = f.w.Write(p)
	f.flush()
}

func (f *frames) flush() {
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
}

// taskLines turns one task's log, as Backend.TaskLogs writes it, into
// frames: one per line, shoal's prefix replaced by the task's details.
type taskLines struct {
	out     *frames
	details string
	buf     []byte
}

func (l *taskLines) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.line(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
}

// close sends a last line that had no newline.
func (l *taskLines) close() {
	if len(l.buf) > 0 {
		l.line(append(l.buf, '\n'))
		l.buf = nil
	}
}

func (l *taskLines) line(b []byte) {
	if _, msg, ok := bytes.Cut(b, []byte(shoalPrefixEnd)); ok {
		b = msg
	}
	l.out.frame(stdcopy.Stdout, append([]byte(l.details+" "), b...))
}
