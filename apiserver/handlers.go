package apiserver

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/internal/logrec"
)

// Each handler decodes what the request carries, calls the backend and
// writes its answer; nothing else happens here.

// answer writes v as JSON with code, or returns err.
func answer(w http.ResponseWriter, code int, v any, err error) error {
	if err != nil {
		return err
	}
	return writeJSON(w, code, v)
}

// empty answers a write that returns nothing with {}.
func empty(w http.ResponseWriter, err error) error { return answer(w, http.StatusOK, struct{}{}, err) }

// decoded reads r's JSON body into a new T.
func decoded[T any](r *http.Request) (T, error) {
	var v T
	return v, readJSON(r, &v)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.b.Info(r.Context()))
}

func (s *Server) members(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Members(r.Context())
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) clusterInit(w http.ResponseWriter, r *http.Request) error {
	req, err := decoded[api.InitRequest](r)
	if err != nil {
		return err
	}
	resp, err := s.b.ClusterInit(r.Context(), req)
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) clusterJoin(w http.ResponseWriter, r *http.Request) error {
	req, err := decoded[api.JoinRequest](r)
	if err != nil {
		return err
	}
	resp, err := s.b.ClusterJoin(r.Context(), req)
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) clusterLeave(w http.ResponseWriter, r *http.Request) error {
	return empty(w, s.b.ClusterLeave(r.Context()))
}

func (s *Server) joinToken(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.JoinToken(r.Context())
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) joinTokenRotate(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.RotateJoinToken(r.Context())
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) signClientCert(w http.ResponseWriter, r *http.Request) error {
	req, err := decoded[api.CertRequest](r)
	if err != nil {
		return err
	}
	resp, err := s.b.SignClientCert(r.Context(), req)
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) limits(w http.ResponseWriter, r *http.Request) error {
	rows, err := s.b.Limits(r.Context())
	return answer(w, http.StatusOK, rows, err)
}

func (s *Server) limitsUpdate(w http.ResponseWriter, r *http.Request) error {
	upd, err := decoded[api.LimitsUpdate](r)
	if err != nil {
		return err
	}
	rows, err := s.b.UpdateLimits(r.Context(), upd)
	return answer(w, http.StatusOK, rows, err)
}

// imageLoad streams the body (an archive, not JSON) to the backend.
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.ImageLoad(r.Context(), r.Body)
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) nodeList(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Nodes(r.Context())
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) nodeInspect(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Node(r.Context(), r.PathValue("ref"))
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) nodeUpdate(w http.ResponseWriter, r *http.Request) error {
	upd, err := decoded[api.NodeUpdate](r)
	if err != nil {
		return err
	}
	out, err := s.b.NodeUpdate(r.Context(), r.PathValue("ref"), upd)
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) nodeRemove(w http.ResponseWriter, r *http.Request) error {
	return empty(w, s.b.NodeRemove(r.Context(), r.PathValue("ref"), r.URL.Query().Get("force") == "true"))
}

func (s *Server) serviceList(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Services(r.Context())
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) serviceInspect(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Service(r.Context(), r.PathValue("ref"))
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) serviceCreate(w http.ResponseWriter, r *http.Request) error {
	req, err := decoded[api.ServiceCreateRequest](r)
	if err != nil {
		return err
	}
	resp, err := s.b.ServiceCreate(r.Context(), req)
	return answer(w, http.StatusCreated, resp, err)
}

func (s *Server) serviceUpdate(w http.ResponseWriter, r *http.Request) error {
	req, err := decoded[api.ServiceUpdateRequest](r)
	if err != nil {
		return err
	}
	resp, err := s.b.ServiceUpdate(r.Context(), r.PathValue("ref"), req)
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) serviceRollback(w http.ResponseWriter, r *http.Request) error {
	req, err := decoded[api.ServiceRollbackRequest](r)
	if err != nil {
		return err
	}
	resp, err := s.b.ServiceRollback(r.Context(), r.PathValue("ref"), req)
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) serviceRemove(w http.ResponseWriter, r *http.Request) error {
	return empty(w, s.b.ServiceRemove(r.Context(), r.PathValue("ref")))
}

func (s *Server) serviceHistory(w http.ResponseWriter, r *http.Request) error {
	revs, err := s.b.ServiceHistory(r.Context(), r.PathValue("ref"))
	return answer(w, http.StatusOK, revs, err)
}

func (s *Server) taskList(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Tasks(r.Context(), r.URL.Query().Get("service"))
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) taskInspect(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Task(r.Context(), r.PathValue("id"))
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Networks(r.Context())
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Network(r.Context(), r.PathValue("ref"))
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	req, err := decoded[api.NetworkCreateRequest](r)
	if err != nil {
		return err
	}
	resp, err := s.b.NetworkCreate(r.Context(), req)
	return answer(w, http.StatusCreated, resp, err)
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	return empty(w, s.b.NetworkRemove(r.Context(), r.PathValue("ref")))
}

// volumeOptions reads ?node= and ?local=true.
func volumeOptions(r *http.Request) api.VolumeOptions {
	q := r.URL.Query()
	return api.VolumeOptions{Node: q.Get("node"), Local: q.Get("local") == "true"}
}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.Volumes(r.Context(), volumeOptions(r))
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) error {
	out, err := s.b.VolumeRemove(r.Context(), r.PathValue("name"), volumeOptions(r))
	return answer(w, http.StatusOK, out, err)
}

func (s *Server) admit(w http.ResponseWriter, r *http.Request) error {
	req, err := decoded[api.AdmitRequest](r)
	if err != nil {
		return err
	}
	resp, err := s.b.Admit(r.Context(), req)
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) readIndex(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.ReadIndex(r.Context())
	return answer(w, http.StatusOK, resp, err)
}

func (s *Server) taskStatus(w http.ResponseWriter, r *http.Request) error {
	ups, err := decoded[[]types.TaskUpdate](r)
	if err != nil {
		return err
	}
	return empty(w, s.b.ReportTaskStatus(r.Context(), ups))
}

func (s *Server) removePeer(w http.ResponseWriter, r *http.Request) error {
	req, err := decoded[api.LeaveRequest](r)
	if err != nil {
		return err
	}
	return empty(w, s.b.RemovePeer(r.Context(), req))
}

func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) error {
	o, err := logOptions(r)
	if err != nil {
		return err
	}
	return s.b.ServiceLogs(r.Context(), r.PathValue("ref"), o, textLog(w, o))
}

func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) error {
	o, err := logOptions(r)
	if err != nil {
		return err
	}
	open := textLog(w, o)
	switch {
	case o.Local && r.URL.Query().Get("format") == "records":
		open = recordLog(w)
	case o.Local:
		open = plainLog(w) // an agent of an earlier version asking
	}
	return s.b.TaskLogs(r.Context(), r.PathValue("id"), o, open)
}

// logOptions parses the query of the log endpoints.
func logOptions(r *http.Request) (api.LogOptions, error) {
	q := r.URL.Query()
	o := api.LogOptions{Tail: -1, Follow: q.Get("follow") == "true", Local: q.Get("local") == "true",
		Timestamps: q.Get("timestamps") == "true", NoStdout: q.Get("no-stdout") == "true", NoStderr: q.Get("no-stderr") == "true"}
	if s := q.Get("tail"); s != "" && s != "all" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return o, fault.Invalidf("--tail %q: use a number of lines or all", s)
		}
		o.Tail = n
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"since", &o.Since}, {"until", &o.Until}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return o, fault.Invalidf("--%s %q: use a time such as 2026-12-04T21:00:00Z", f.name, v)
			}
			*f.to = t
		}
	}
	return o, nil
}

// textLog returns the open func of a log shown as text: it starts a 200
// answer and returns a sink that writes each line as docker's `service
// logs` prints it ("[TIME ]web.1.abc@n2    | LINE"), one whole line per
// write, flushed at once.
func textLog(w http.ResponseWriter, o api.LogOptions) func() func(api.LogLine) {
	return func() func(api.LogLine) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fw := &flushWriter{w: w}
		return func(l api.LogLine) {
			var b []byte
			if o.Timestamps {
				b = append(l.Time.UTC().AppendFormat(b, logTimeLayout), ' ')
			}
			b = append(append(append(b, l.Task...), '@'), l.NodeName...)
			b = append(append(b, "    | "...), l.Line...)
			_, _ = fw.Write(append(b, '\n'))
		}
	}
}

// logTimeLayout is docker's RFC3339NanoFixed.
const logTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// recordLog returns the open func of a log sent to another agent: its
// records as package logrec writes them.
func recordLog(w http.ResponseWriter) func() func(api.LogLine) {
	return func() func(api.LogLine) {
		w.Header().Set("Content-Type", "application/x-shoal-log")
		w.WriteHeader(http.StatusOK)
		fw := &flushWriter{w: w}
		_, _ = fw.Write([]byte(logrec.Header))
		return func(l api.LogLine) { _, _ = fw.Write(logrec.Append(nil, l.Record)) }
	}
}

// plainLog returns the open func of a log sent to an agent of an earlier
// version, which expects the task's output as it was written.
func plainLog(w http.ResponseWriter) func() func(api.LogLine) {
	return func() func(api.LogLine) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fw := &flushWriter{w: w}
		return func(l api.LogLine) { _, _ = fw.Write(append(append([]byte(nil), l.Line...), '\n')) }
	}
}

// flushWriter writes to an HTTP response under a lock and flushes every
// write, so that followed logs show at once.
type flushWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
