package engineapi

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/engineapi/convert"
	"github.com/shoal-org/shoal/internal/fault"
)

// /secrets and /configs: create, list (filters id, label, name, names),
// inspect, update (labels only, as swarm), delete. A secret's data is
// never returned.

// fileRoutes registers the secret and config endpoints.
func (s *Server) fileRoutes(handle, write func(string, apiserver.HandlerFunc)) {
	handle("GET /secrets", s.secretList)
	handle("GET /secrets/{id}", s.secretInspect)
	handle("GET /configs", s.configList)
	handle("GET /configs/{id}", s.configInspect)
	write("POST /secrets/create", s.secretCreate)
	write("POST /configs/create", s.configCreate)
	for _, kind := range []api.FileKind{api.KindSecret, api.KindConfig} {
		base := "/" + string(kind) + "s/{id}"
		write("POST "+base+"/update", func(w http.ResponseWriter, r *http.Request) error { return s.fileUpdate(w, r, kind) })
		write("DELETE "+base, func(w http.ResponseWriter, r *http.Request) error {
			if err := s.b.FileRemove(r.Context(), kind, r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
	}
}

// fileFilter reports whether an object passes list filters f.
func fileFilter(f filters, id, name string, labels map[string]string) bool {
	return f.prefix("id", id) && f.labels("label", labels) &&
		f.any("name", func(v string) bool { return strings.HasPrefix(name, v) }) &&
		f.any("names", func(v string) bool { return name == v })
}

func (s *Server) secretList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r.URL.Query().Get("filters"), "id", "label", "name", "names")
	if err != nil {
		return err
	}
	secrets, err := s.b.Secrets(r.Context())
	if err != nil {
		return err
	}
	out := []swarm.Secret{}
	for _, sec := range secrets {
		if fileFilter(f, sec.ID, sec.Spec.Name, sec.Spec.Labels) {
			out = append(out, convert.Secret(sec))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) configList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r.URL.Query().Get("filters"), "id", "label", "name", "names")
	if err != nil {
		return err
	}
	configs, err := s.b.Configs(r.Context())
	if err != nil {
		return err
	}
	out := []swarm.Config{}
	for _, c := range configs {
		if fileFilter(f, c.ID, c.Spec.Name, c.Spec.Labels) {
			out = append(out, convert.Config(c))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) secretInspect(w http.ResponseWriter, r *http.Request) error {
	sec, err := s.b.Secret(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Secret(sec))
}

func (s *Server) configInspect(w http.ResponseWriter, r *http.Request) error {
	c, err := s.b.Config(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Config(c))
}

func (s *Server) secretCreate(w http.ResponseWriter, r *http.Request) error {
	var in swarm.SecretSpec
	if err := apiserver.ReadJSONLenient(r, &in); err != nil {
		return err
	}
	req, err := convert.SecretCreate(in)
	if err != nil {
		return err
	}
	resp, err := s.b.FileCreate(r.Context(), api.KindSecret, req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.SecretCreateResponse{ID: resp.ID})
}

func (s *Server) configCreate(w http.ResponseWriter, r *http.Request) error {
	var in swarm.ConfigSpec
	if err := apiserver.ReadJSONLenient(r, &in); err != nil {
		return err
	}
	req, err := convert.ConfigCreate(in)
	if err != nil {
		return err
	}
	resp, err := s.b.FileCreate(r.Context(), api.KindConfig, req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, swarm.ConfigCreateResponse{ID: resp.ID})
}

// fileUpdate changes labels only: a spec whose name or data differs from
// the object's is refused, as swarm does.
func (s *Server) fileUpdate(w http.ResponseWriter, r *http.Request, kind api.FileKind) error {
	version, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
	if err != nil {
		return fault.Invalidf("%s update: the version query parameter is required (the object's Version.Index)", kind)
	}
	var in swarm.ConfigSpec // a SecretSpec's Driver aside, the same fields
	if err := apiserver.ReadJSONLenient(r, &in); err != nil {
		return err
	}
	ref := r.PathValue("id")
	name, data := "", []byte(nil)
	if kind == api.KindSecret {
		sec, err := s.b.Secret(r.Context(), ref)
		if err != nil {
			return err
		}
		name, data = sec.Spec.Name, in.Data // a secret's data cannot be compared: any is refused
		if len(data) > 0 {
			return fault.Invalidf("secret %q: only its labels can be updated: create a new secret to change the data", name)
		}
	} else {
		c, err := s.b.Config(r.Context(), ref)
		if err != nil {
			return err
		}
		name = c.Spec.Name
		if len(in.Data) > 0 && !bytes.Equal(in.Data, c.Spec.Data) {
			return fault.Invalidf("config %q: only its labels can be updated: create a new config to change the data", name)
		}
	}
	if in.Name != "" && in.Name != name {
		return fault.Invalidf("%s %q: only its labels can be updated, not its name", kind, name)
	}
	if err := s.b.FileUpdate(r.Context(), kind, ref, api.FileUpdate{Version: version, Labels: in.Labels}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
