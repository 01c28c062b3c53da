package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// fakeAgent implements the service endpoints minimally, in memory, and
// records every request, so tests can assert exactly what agentctl sends.
// Tasks it makes have been running for an hour, so progress displays
// converge on their first poll.
type fakeAgent struct {
	mu       sync.Mutex
	svcs     []*api.Service
	tasks    map[string][]api.Task
	requests []recorded
	nextID   int
	// nets, nodes and loadNode (the node image loads report) serve the
	// network and image endpoints (fake_network_test.go).
	nets     []*types.Network
	nodes    []api.Node
	loadNode string
}

type recorded struct {
	Method, Path string
	Body         []byte
}

func (r recorded) String() string { return r.Method + " " + r.Path }

func newFakeAgent(t *testing.T) (*fakeAgent, *Globals, *bytes.Buffer) {
	f := &fakeAgent{tasks: map[string][]api.Task{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/services", f.create)
	mux.HandleFunc("GET /v1/services", f.list)
	mux.HandleFunc("GET /v1/services/{ref}", f.withService(func(w http.ResponseWriter, _ *http.Request, s *api.Service) { fakeReply(w, 200, s) }))
	mux.HandleFunc("POST /v1/services/{ref}/update", f.withService(f.update))
	mux.HandleFunc("POST /v1/services/{ref}/rollback", f.withService(f.rollback))
	mux.HandleFunc("DELETE /v1/services/{ref}", f.withService(f.remove))
	mux.HandleFunc("GET /v1/services/{ref}/history", f.withService(func(w http.ResponseWriter, _ *http.Request, s *api.Service) { fakeReply(w, 200, s.Revisions) }))
	mux.HandleFunc("GET /v1/services/{ref}/logs", f.withService(func(w http.ResponseWriter, r *http.Request, s *api.Service) {
		fmt.Fprintf(w, "%s.1@worker1    | hello (%s)\n", s.Spec.Name, r.URL.RawQuery)
	}))
	mux.HandleFunc("GET /v1/tasks", f.listTasks)
	mux.HandleFunc("GET /v1/tasks/{id}", f.getTask)
	mux.HandleFunc("GET /v1/tasks/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "task %s | line\n", r.PathValue("id"))
	})
	f.routeNetworks(mux)
	// No secrets or configs: listed empty, creates answered with an ID.
	for _, kind := range []string{"secrets", "configs"} {
		mux.HandleFunc("GET /v1/"+kind, func(w http.ResponseWriter, _ *http.Request) { fakeReply(w, 200, []struct{}{}) })
		mux.HandleFunc("POST /v1/"+kind, func(w http.ResponseWriter, _ *http.Request) { fakeReply(w, 200, api.FileCreateResponse{ID: "f1"}) })
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		f.requests = append(f.requests, recorded{r.Method, r.URL.RequestURI(), body})
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	g := &Globals{Out: &out, Client: func() (*api.Client, error) { return api.NewHTTPClient(srv.URL, srv.Client()), nil }}
	return f, g, &out
}

func fakeReply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fakeFail(w http.ResponseWriter, code int, format string, args ...any) {
	fakeReply(w, code, api.Error{Message: fmt.Sprintf(format, args...)})
}

// add stores a service as the agent would after creating it.
func (f *fakeAgent) add(spec types.ServiceSpec) *api.Service {
	f.nextID++
	s := &api.Service{}
	s.ID = fmt.Sprintf("%dsvc%s", f.nextID, strings.Repeat("x", 21))
	s.Spec, s.Version, s.SpecVersion = spec, 10, 1
	s.Revisions = []types.Revision{{Number: 1, Spec: spec, CreatedAt: fixedNow, Cause: "create"}}
	f.svcs = append(f.svcs, s)
	f.runTasks(s)
	return s
}

// runTasks replaces s's tasks by running ones of its current spec.
func (f *fakeAgent) runTasks(s *api.Service) {
	since := time.Now().Add(-time.Hour)
	var ts []api.Task
	n := int(s.Spec.Mode.Replicas)
	if s.Spec.Mode.Global {
		n = 2
	}
	for i := 1; i <= n; i++ {
		t := mkTask(fmt.Sprintf("%s-t%d-v%d", s.ID[:4], i, s.SpecVersion), i, s.SpecVersion, tRun, tRun, since)
		t.ServiceID, t.Spec = s.ID, s.Spec.Task
		if s.Spec.Mode.Global {
			t = onNode(t, fmt.Sprintf("node%d", i))
		}
		ts = append(ts, t)
	}
	f.tasks[s.ID] = ts
	s.RunningTasks, s.DesiredTasks = uint64(n), uint64(n)
}

func (f *fakeAgent) find(ref string) *api.Service {
	for _, s := range f.svcs {
		if s.ID == ref || s.Spec.Name == ref || (len(ref) >= 3 && strings.HasPrefix(s.ID, ref)) {
			return s
		}
	}
	return nil
}

func (f *fakeAgent) withService(h func(http.ResponseWriter, *http.Request, *api.Service)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		s := f.find(r.PathValue("ref"))
		if s == nil {
			fakeFail(w, http.StatusNotFound, "service %q not found", r.PathValue("ref"))
			return
		}
		h(w, r, s)
	}
}

func (f *fakeAgent) create(w http.ResponseWriter, r *http.Request) {
	var req api.ServiceCreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fakeFail(w, http.StatusBadRequest, "%v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(req.Spec.Name) != nil {
		fakeFail(w, http.StatusConflict, "service %q already exists", req.Spec.Name)
		return
	}
	fakeReply(w, http.StatusCreated, api.ServiceCreateResponse{ID: f.add(req.Spec).ID})
}

func (f *fakeAgent) list(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fakeReply(w, 200, f.svcs)
}

func (f *fakeAgent) update(w http.ResponseWriter, r *http.Request, s *api.Service) {
	var req api.ServiceUpdateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fakeFail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if req.Version != s.Version {
		fakeFail(w, http.StatusConflict, "service %q changed since it was read", s.Spec.Name)
		return
	}
	f.setSpec(s, req.Spec, req.Cause)
	fakeReply(w, 200, api.ServiceUpdateResponse{SpecVersion: s.SpecVersion})
}

func (f *fakeAgent) setSpec(s *api.Service, spec types.ServiceSpec, cause string) {
	prev := s.Spec
	s.Spec = spec
	s.Version++
	if !reflect.DeepEqual(prev.Task, spec.Task) {
		s.PreviousSpec = &prev
		s.SpecVersion++
		s.Revisions = append(s.Revisions, types.Revision{Number: uint64(len(s.Revisions) + 1), Spec: spec, CreatedAt: fixedNow, Cause: cause})
	}
	f.runTasks(s)
}

func (f *fakeAgent) rollback(w http.ResponseWriter, r *http.Request, s *api.Service) {
	var req api.ServiceRollbackRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fakeFail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if s.PreviousSpec == nil {
		fakeFail(w, http.StatusBadRequest, "service %q does not have a previous spec", s.Spec.Name)
		return
	}
	f.setSpec(s, *s.PreviousSpec, "rollback")
	s.UpdateStatus = &types.UpdateStatus{State: types.UpdateRollbackCompleted, StartedAt: time.Now(), Message: "rollback completed"}
	fakeReply(w, 200, api.ServiceUpdateResponse{SpecVersion: s.SpecVersion})
}

func (f *fakeAgent) remove(w http.ResponseWriter, _ *http.Request, s *api.Service) {
	for i, x := range f.svcs {
		if x == s {
			f.svcs = append(f.svcs[:i], f.svcs[i+1:]...)
		}
	}
	fakeReply(w, 200, struct{}{})
}

func (f *fakeAgent) listTasks(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(r.URL.Query().Get("service"))
	if s == nil {
		fakeFail(w, http.StatusNotFound, "service %q not found", r.URL.Query().Get("service"))
		return
	}
	fakeReply(w, 200, f.tasks[s.ID])
}

func (f *fakeAgent) getTask(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ts := range f.tasks {
		for _, t := range ts {
			if strings.HasPrefix(t.ID, r.PathValue("id")) {
				fakeReply(w, 200, t)
				return
			}
		}
	}
	fakeFail(w, http.StatusNotFound, "task %q not found", r.PathValue("id"))
}

// writes are the requests that change something.
func (f *fakeAgent) writes() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.requests {
		if r.Method != http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

// run parses and runs `agentctl service ARGS`.
func runService(t *testing.T, g *Globals, args ...string) error {
	t.Helper()
	kctx, _, err := parseArgs(t, args...)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return kctx.Run(g)
}
