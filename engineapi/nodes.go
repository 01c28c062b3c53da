package engineapi

import (
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/engineapi/convert"
	"github.com/shoal-org/shoal/internal/fault"
)

func (s *Server) nodeList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r.URL.Query().Get("filters"), "id", "label", "membership", "name", "node.label", "role")
	if err != nil {
		return err
	}
	nodes, err := s.b.Nodes(r.Context())
	if err != nil {
		return err
	}
	out := []swarm.Node{}
	for _, n := range nodes {
		dn := convert.Node(n)
		if matchNode(f, dn) {
			out = append(out, dn)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// matchNode applies the node filters Docker accepts. Engine labels
// ("label") are none on shoal; every node is an accepted member.
func matchNode(f filters, n swarm.Node) bool {
	return f.prefix("id", n.ID) && f.prefix("name", n.Description.Hostname) &&
		f.labels("node.label", n.Spec.Labels) && f.labels("label", n.Description.Engine.Labels) &&
		f.any("role", func(v string) bool { return v == string(n.Spec.Role) }) &&
		f.any("membership", func(v string) bool { return v == "accepted" })
}

func (s *Server) nodeInspect(w http.ResponseWriter, r *http.Request) error {
	n, err := s.b.Node(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Node(n))
}

// nodeUpdate takes Docker's whole NodeSpec and the version it was read
// at; the backend refuses a stale version.
func (s *Server) nodeUpdate(w http.ResponseWriter, r *http.Request) error {
	version, err := versionParam(r, "node")
	if err != nil {
		return err
	}
	var spec swarm.NodeSpec
	if err := apiserver.ReadJSONLenient(r, &spec); err != nil {
		return err
	}
	cur, err := s.b.Node(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	upd, err := convert.NodeUpdate(cur, spec, version)
	if err != nil {
		return err
	}
	if _, err := s.b.NodeUpdate(r.Context(), cur.ID, upd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) nodeRemove(w http.ResponseWriter, r *http.Request) error {
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	if err := s.b.NodeRemove(r.Context(), r.PathValue("id"), force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// versionParam is the required ?version= of an update.
func versionParam(r *http.Request, noun string) (uint64, error) {
	raw := r.URL.Query().Get("version")
	v, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, fault.Invalidf("invalid %s version '%s': an update names the Version.Index it read (inspect the %s again)", noun, raw, noun)
	}
	return v, nil
}
