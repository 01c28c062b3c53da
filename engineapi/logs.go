package engineapi

import (
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	dockertypes "github.com/moby/moby/api/types"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/internal/logrec"
)

// Logs. The docker CLI asks for details and reads each line as
// "[TIME ]DETAILS MESSAGE", where DETAILS names the task, its service and
// its node (com.docker.swarm.task.id=...,...), then looks their names up
// to print "web.1.ID@node    | MESSAGE". The lines travel in Docker's
// multiplexed stream: an 8-byte header (stream, size) before each one,
// the stream being the one the task wrote the line on.

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
	return s.b.ServiceLogs(r.Context(), sv.ID, o, multiplexed(w, o))
}

// taskLogs answers GET /tasks/{id}/logs.
func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) error {
	o, err := dockerLogOptions(r)
	if err != nil {
		return err
	}
	return s.b.TaskLogs(r.Context(), r.PathValue("id"), o, multiplexed(w, o))
}

// dockerLogOptions reads the query of the log endpoints.
func dockerLogOptions(r *http.Request) (api.LogOptions, error) {
	q := r.URL.Query()
	o := api.LogOptions{Tail: -1}
	o.Follow, _ = strconv.ParseBool(q.Get("follow"))
	o.Timestamps, _ = strconv.ParseBool(q.Get("timestamps"))
	stdout, _ := strconv.ParseBool(q.Get("stdout"))
	stderr, _ := strconv.ParseBool(q.Get("stderr"))
	if !stdout && !stderr {
		return o, fault.Invalidf("Bad parameters: you must choose at least one stream")
	}
	o.NoStdout, o.NoStderr = !stdout, !stderr
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"since", &o.Since}, {"until", &o.Until}} {
		t, err := unixTime(q.Get(f.name))
		if err != nil {
			return o, fault.Invalidf("%s %q: %v", f.name, q.Get(f.name), err)
		}
		*f.to = t
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

// unixTime reads docker's SECONDS[.NANOSECONDS] since the epoch ("" and
// "0" are no time).
func unixTime(v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("want seconds since the epoch, such as 1733346000.5")
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, errors.New("want seconds since the epoch, such as 1733346000.5")
		}
	}
	return time.Unix(s, ns).UTC(), nil
}

// multiplexed returns the open func of a log in Docker's multiplexed
// stream, each line framed on its own stream, with its task's details.
func multiplexed(w http.ResponseWriter, o api.LogOptions) func() func(api.LogLine) {
	return func() func(api.LogLine) {
		w.Header().Set("Content-Type", dockertypes.MediaTypeMultiplexedStream)
		w.WriteHeader(http.StatusOK)
		out := &frames{w: w}
		out.flush()
		return func(l api.LogLine) {
			var b []byte
			if o.Timestamps {
				b = append(l.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z07:00"), ' ')
			}
			b = append(append(b, details(l)...), ' ')
			b = append(append(b, l.Line...), '\n')
			stream := stdcopy.Stdout
			if l.Stream == logrec.Stderr {
				stream = stdcopy.Stderr
			}
			out.frame(stream, b)
		}
	}
}

// details is the DETAILS part of a task's log lines, as Docker writes it.
func details(l api.LogLine) string {
	return "com.docker.swarm.node.id=" + url.QueryEscape(l.NodeID) +
		",com.docker.swarm.service.id=" + url.QueryEscape(l.ServiceID) +
		",com.docker.swarm.task.id=" + url.QueryEscape(l.TaskID)
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
