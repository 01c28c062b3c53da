package engineapi

import (
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/engineapi/convert"
	"github.com/shoal-org/shoal/internal/fault"
)

func (s *Server) serviceList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := parseFilters(q.Get("filters"), "id", "label", "mode", "name")
	if err != nil {
		return err
	}
	status, _ := strconv.ParseBool(q.Get("status"))
	svcs, err := s.b.Services(r.Context())
	if err != nil {
		return err
	}
	idx := s.networkIndex(r.Context())
	out := []swarm.Service{}
	for _, sv := range svcs {
		mode := "replicated"
		if sv.Spec.Mode.Global {
			mode = "global"
		}
		if f.prefix("id", sv.ID) && f.prefix("name", sv.Spec.Name) && f.labels("label", sv.Spec.Labels) &&
			f.any("mode", func(v string) bool { return v == mode }) {
			ds := convert.Service(sv, status)
			idx.service(&ds, sv.VIPs)
			out = append(out, ds)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// serviceInspect answers GET /services/{id}. insertDefaults changes
// nothing: shoal fills the defaults into the spec when it stores it.
func (s *Server) serviceInspect(w http.ResponseWriter, r *http.Request) error {
	sv, err := s.b.Service(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ds := convert.Service(sv, false)
	s.networkIndex(r.Context()).service(&ds, sv.VIPs)
	return writeJSON(w, http.StatusOK, ds)
}

// serviceCreate answers POST /services/create. X-Registry-Auth is not
// used: nodes pull with their own registry settings.
func (s *Server) serviceCreate(w http.ResponseWriter, r *http.Request) error {
	var in swarm.ServiceSpec
	if err := apiserver.ReadJSONLenient(r, &in); err != nil {
		return err
	}
	if err := s.netNames(r.Context(), &in); err != nil {
		return err
	}
	spec, err := convert.FromServiceSpec(in, nil)
	if err != nil {
		return err
	}
	resp, err := s.b.ServiceCreate(r.Context(), api.ServiceCreateRequest{Spec: spec, RegistryAuth: r.Header.Get("X-Registry-Auth")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.ServiceCreateResponse{ID: resp.ID, Warnings: resp.Warnings})
}

// serviceUpdate answers POST /services/{id}/update?version=N with the
// whole new spec; rollback=previous goes back to the previous spec
// instead (the body is then ignored, as Docker's daemon ignores it).
func (s *Server) serviceUpdate(w http.ResponseWriter, r *http.Request) error {
	version, err := versionParam(r, "service")
	if err != nil {
		return err
	}
	var in swarm.ServiceSpec
	if err := apiserver.ReadJSONLenient(r, &in); err != nil {
		return err
	}
	cur, err := s.b.Service(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if version != cur.Version {
		return fault.New(fault.Conflict, "update out of sequence: service %q is at version %d, the update names version %d: "+
			"someone changed it since it was read; inspect it again and retry", cur.Spec.Name, cur.Version, version)
	}
	var resp api.ServiceUpdateResponse
	switch rb := r.URL.Query().Get("rollback"); rb {
	case "previous":
		resp, err = s.b.ServiceRollback(r.Context(), cur.ID, api.ServiceRollbackRequest{})
	case "":
		if err := s.netNames(r.Context(), &in); err != nil {
			return err
		}
		spec, cerr := convert.FromServiceSpec(in, &cur.Spec)
		if cerr != nil {
			return cerr
		}
		// registryAuthFrom=spec|previous-spec (an update, a rollback
		// without new credentials) keeps the stored account: the service
		// has one account, whatever its spec.
		resp, err = s.b.ServiceUpdate(r.Context(), cur.ID, api.ServiceUpdateRequest{Spec: spec, Version: version, Cause: "docker service update",
			RegistryAuth: r.Header.Get("X-Registry-Auth")})
	default:
		return fault.Invalidf("rollback=%q: the only rollback served is rollback=previous", rb)
	}
	if err != nil {
		return err
	}
	warnings := resp.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	return writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{Warnings: warnings})
}

func (s *Server) serviceRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.b.ServiceRemove(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
