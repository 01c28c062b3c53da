package agent

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/idgen"
	"github.com/shoal-org/shoal/store"
)

func (a *Agent) handleServiceCreate(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	var req api.ServiceCreateRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := normalizeSpec(&req.Spec); err != nil {
		return err
	}
	now := time.Now().UTC()
	svc := &types.Service{ID: idgen.New(), Spec: req.Spec, SpecVersion: 1,
		Revisions: []types.Revision{{Number: 1, Spec: req.Spec, CreatedAt: now, Cause: "create"}}}
	err = cl.commitService(r.Context(), func(v *store.View) ([]store.Op, error) {
		if v.ServiceByName(svc.Spec.Name) != nil {
			return nil, &httpError{code: http.StatusConflict, msg: fmt.Sprintf(
				"service %q already exists: pick another name, or change it with `agentctl service update`", svc.Spec.Name)}
		}
		guards, err := withVIPs(v, svc)
		return append([]store.Op{{Kind: store.OpCreate, Table: store.TableServices, Service: svc}}, guards...), err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, api.ServiceCreateResponse{ID: svc.ID})
}

// serviceViews adds task counts to services, marked with where they come
// from.
func serviceViews(v *store.View, svcs []*types.Service, fresh api.Freshness) []api.Service {
	out := make([]api.Service, 0, len(svcs))
	for _, s := range svcs {
		as := api.Service{Service: *s, DesiredTasks: s.Spec.Mode.Replicas, Freshness: fresh}
		// A global service wants one task per eligible node: the tasks
		// the leader keeps desired running.
		desired := uint64(0)
		for _, t := range v.TasksByService(s.ID) {
			if t.DesiredState == types.TaskRunning {
				desired++
				if t.Status.State == types.TaskRunning && (t.Status.Healthy == nil || *t.Status.Healthy) {
					as.RunningTasks++
				}
			}
		}
		if s.Spec.Mode.Global {
			as.DesiredTasks = desired
		}
		out = append(out, as)
	}
	return out
}

func (a *Agent) handleServiceList(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	fresh := cl.readFreshness(r.Context())
	v := cl.store.View()
	return writeJSON(w, http.StatusOK, serviceViews(v, v.Services(), fresh))
}

func (a *Agent) handleServiceInspect(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	fresh := cl.readFreshness(r.Context())
	v := cl.store.View()
	s, err := v.FindService(r.PathValue("ref"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, serviceViews(v, []*types.Service{s}, fresh)[0])
}

func (a *Agent) handleServiceUpdate(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	var req api.ServiceUpdateRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	s, err := cl.store.View().FindService(r.PathValue("ref"))
	if err != nil {
		return err
	}
	if req.Version != 0 && req.Version != s.Version {
		return &httpError{code: http.StatusConflict, msg: fmt.Sprintf(
			"service %q changed since it was read (version %d, now %d): run the command again", s.Spec.Name, req.Version, s.Version)}
	}
	if req.Spec.Name != s.Spec.Name {
		return badRequest("service %q: renaming is not supported (create a new service instead)", s.Spec.Name)
	}
	if err := normalizeSpec(&req.Spec); err != nil {
		return err
	}
	if req.Spec.Mode.Global != s.Spec.Mode.Global {
		return badRequest("service %q: the mode (replicated or global) cannot change; create a new service instead", s.Spec.Name)
	}
	cause := req.Cause
	if cause == "" {
		cause = "update"
	}
	return cl.writeSpec(w, r, s, req.Spec, cause, false)
}

// writeSpec commits a new spec for s, guarded by the version it was read at.
func (cl *cluster) writeSpec(w http.ResponseWriter, r *http.Request, s *types.Service, spec types.ServiceSpec, cause string, rollback bool) error {
	cp := s.Copy()
	changeSpec(cp, spec, cause, time.Now().UTC(), rollback)
	guards, err := withVIPs(cl.store.View(), cp)
	if err != nil {
		return err
	}
	ops := append([]store.Op{{Kind: store.OpPut, Table: store.TableServices, Service: cp, IfVersion: s.Version}}, guards...)
	_, err = cl.apply(r.Context(), store.Command{Ops: ops})
	if errors.Is(err, store.ErrConflict) {
		return &httpError{code: http.StatusConflict, msg: fmt.Sprintf("service %q changed during the update: run the command again", s.Spec.Name)}
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.ServiceUpdateResponse{SpecVersion: cp.SpecVersion})
}

func (a *Agent) handleServiceRollback(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	var req api.ServiceRollbackRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	s, err := cl.store.View().FindService(r.PathValue("ref"))
	if err != nil {
		return err
	}
	var spec types.ServiceSpec
	cause := "rollback"
	switch {
	case req.ToRevision != 0:
		if spec, err = revisionSpec(s, req.ToRevision); err != nil {
			return err
		}
		cause = fmt.Sprintf("rollback to revision %d", req.ToRevision)
	case s.PreviousSpec != nil:
		spec = *s.PreviousSpec
	default:
		return badRequest("service %q does not have a previous spec", s.Spec.Name)
	}
	// The replica count and the update and rollback settings stay as they
	// are (swarm's rollback changes the task template and endpoints): the
	// rollback runs under the service's current rollback settings.
	spec.Mode, spec.Update, spec.Rollback = s.Spec.Mode, s.Spec.Update, s.Spec.Rollback
	return cl.writeSpec(w, r, s, spec, cause, true)
}

func (a *Agent) handleServiceHistory(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	cl.syncRead(r.Context())
	s, err := cl.store.View().FindService(r.PathValue("ref"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.Revisions)
}

func (a *Agent) handleServiceRemove(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	s, err := cl.store.View().FindService(r.PathValue("ref"))
	if err != nil {
		return err
	}
	if _, err := cl.apply(r.Context(), store.Command{Ops: []store.Op{{Kind: store.OpDelete, Table: store.TableServices, ID: s.ID}}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct{}{})
}

func (a *Agent) handleTaskList(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	cl.syncRead(r.Context())
	v := cl.store.View()
	var tasks []*types.Task
	if ref := r.URL.Query().Get("service"); ref != "" {
		s, err := v.FindService(ref)
		if err != nil {
			return err
		}
		tasks = v.TasksByService(s.ID)
	} else {
		tasks = v.Tasks()
	}
	out := make([]api.Task, 0, len(tasks))
	for _, t := range tasks {
		at := api.Task{Task: *t}
		if n := v.Node(t.NodeID); n != nil {
			at.NodeHostname = n.Hostname
		}
		out = append(out, at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return writeJSON(w, http.StatusOK, out)
}

func (a *Agent) handleTaskInspect(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	cl.syncRead(r.Context())
	v := cl.store.View()
	t, err := v.FindTask(r.PathValue("id"))
	if err != nil {
		return err
	}
	at := api.Task{Task: *t}
	if n := v.Node(t.NodeID); n != nil {
		at.NodeHostname = n.Hostname
	}
	return writeJSON(w, http.StatusOK, at)
}
