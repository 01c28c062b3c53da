package engineapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/engineapi/convert"
	"github.com/shoal-org/shoal/internal/fault"
)

// taskFilters are the filters of GET /tasks, as Docker accepts them.
var taskFilters = []string{"id", "name", "label", "service", "node", "desired-state", "_up-to-date", "runtime"}

// taskList answers GET /tasks. A service or node filter names objects the
// way every reference does (ID, name, unique ID prefix) and an unknown one
// is a 404, as with Docker; label matches the service's labels, as
// swarmkit's task filter does (docker stack ps asks for the tasks of
// com.docker.stack.namespace=STACK); _up-to-date keeps the tasks made from
// their service's current spec (the progress display's question).
func (s *Server) taskList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := parseFilters(r.URL.Query().Get("filters"), taskFilters...)
	if err != nil {
		return err
	}
	for _, st := range f["desired-state"] {
		if !validTaskState(st) {
			return fault.Invalidf("Invalid task desired state: %s", st)
		}
	}
	svcIDs, err := resolve(f["service"], func(ref string) (string, error) {
		sv, err := s.b.Service(ctx, ref)
		return sv.ID, err
	})
	if err != nil {
		return err
	}
	nodeIDs, err := resolve(f["node"], func(ref string) (string, error) {
		n, err := s.b.Node(ctx, ref)
		return n.ID, err
	})
	if err != nil {
		return err
	}
	svcs, err := s.b.Services(ctx)
	if err != nil {
		return err
	}
	byID := make(map[string]api.Service, len(svcs))
	for _, sv := range svcs {
		byID[sv.ID] = sv
	}
	tasks, err := s.b.Tasks(ctx, "")
	if err != nil {
		return err
	}
	idx := s.networkIndex(ctx)
	out := []swarm.Task{}
	for _, t := range tasks {
		sv, ok := byID[t.ServiceID]
		if !ok {
			continue // its service is being removed
		}
		if matchTask(f, t, sv, svcIDs, nodeIDs) {
			dt := convert.Task(t)
			idx.ids(&dt.Spec)
			out = append(out, dt)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func matchTask(f filters, t api.Task, sv api.Service, svcIDs, nodeIDs map[string]bool) bool {
	upToDate := t.SpecVersion == sv.SpecVersion
	return f.prefix("id", t.ID) && f.prefix("name", taskName(t, sv)) &&
		(svcIDs == nil || svcIDs[t.ServiceID]) && (nodeIDs == nil || nodeIDs[t.NodeID]) &&
		f.labels("label", sv.Spec.Labels) &&
		f.any("desired-state", func(v string) bool { return strings.EqualFold(v, string(t.DesiredState)) }) &&
		f.any("runtime", func(v string) bool { return v == string(swarm.RuntimeContainer) }) &&
		(!f.has("_up-to-date") || upToDate)
}

// taskName is the name swarm gives a task: SERVICE.SLOT, or SERVICE.NODE
// for a global service.
func taskName(t api.Task, sv api.Service) string {
	if sv.Spec.Mode.Global {
		return sv.Spec.Name + "." + t.NodeID
	}
	return sv.Spec.Name + "." + strconv.Itoa(t.Slot)
}

// resolve maps each reference to an ID with find; nil when refs is empty
// (no filter).
func resolve(refs []string, find func(string) (string, error)) (map[string]bool, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids := map[string]bool{}
	for _, ref := range refs {
		id, err := find(ref)
		if err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, nil
}

func validTaskState(s string) bool {
	switch swarm.TaskState(strings.ToLower(s)) {
	case swarm.TaskStateNew, swarm.TaskStateAllocated, swarm.TaskStatePending, swarm.TaskStateAssigned, swarm.TaskStateAccepted,
		swarm.TaskStatePreparing, swarm.TaskStateReady, swarm.TaskStateStarting, swarm.TaskStateRunning, swarm.TaskStateComplete,
		swarm.TaskStateShutdown, swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateRemove, swarm.TaskStateOrphaned:
		return true
	}
	return false
}

func (s *Server) taskInspect(w http.ResponseWriter, r *http.Request) error {
	t, err := s.b.Task(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	dt := convert.Task(t)
	s.networkIndex(r.Context()).ids(&dt.Spec)
	return writeJSON(w, http.StatusOK, dt)
}
