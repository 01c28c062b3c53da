package engineapi

import (
	"context"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/engineapi/convert"
)

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r.URL.Query().Get("filters"), "dangling", "driver", "id", "label", "name", "scope", "type")
	if err != nil {
		return err
	}
	nets, err := s.b.Networks(r.Context())
	if err != nil {
		return err
	}
	out := []network.Summary{}
	for _, n := range nets {
		dn := convert.Network(n)
		if f.prefix("id", dn.ID) && f.any("name", func(v string) bool { return strings.Contains(dn.Name, v) }) &&
			f.labels("label", dn.Labels) && f.any("driver", func(v string) bool { return v == dn.Driver }) &&
			f.any("scope", func(v string) bool { return v == dn.Scope }) &&
			f.any("type", func(v string) bool { return v == "custom" }) &&
			f.any("dangling", func(v string) bool { return v == "false" || v == "0" }) {
			out = append(out, network.Summary{Network: dn.Network})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	n, err := s.b.Network(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Network(n))
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var in network.CreateRequest
	if err := apiserver.ReadJSONLenient(r, &in); err != nil {
		return err
	}
	req, err := convert.NetworkCreate(in)
	if err != nil {
		return err
	}
	resp, err := s.b.NetworkCreate(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, network.CreateResponse{ID: resp.ID})
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.b.NetworkRemove(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// netNames turns the network targets of a Docker spec (the docker CLI
// sends IDs; stack files and older clients send names) into the names
// shoal's specs hold. An unknown network is a 404.
func (s *Server) netNames(ctx context.Context, spec *swarm.ServiceSpec) error {
	for i, a := range spec.TaskTemplate.Networks {
		n, err := s.b.Network(ctx, a.Target)
		if err != nil {
			return err
		}
		spec.TaskTemplate.Networks[i].Target = n.Name
	}
	return nil
}

// networkIndex maps network names to networks, and secret and config
// names to their IDs, to show Docker IDs.
type networkIndex struct {
	nets             map[string]*types.Network
	secrets, configs map[string]string
}

func (s *Server) networkIndex(ctx context.Context) networkIndex {
	nets, _ := s.b.Networks(ctx) // outside a cluster: names stay names
	idx := networkIndex{nets: map[string]*types.Network{}, secrets: map[string]string{}, configs: map[string]string{}}
	for _, n := range nets {
		idx.nets[n.Name] = n
	}
	secrets, _ := s.b.Secrets(ctx)
	for _, sec := range secrets {
		idx.secrets[sec.Spec.Name] = sec.ID
	}
	configs, _ := s.b.Configs(ctx)
	for _, c := range configs {
		idx.configs[c.Spec.Name] = c.ID
	}
	return idx
}

// ids turns the network names of a spec shown to Docker into IDs, and
// fills the IDs of its secrets and configs.
func (idx networkIndex) ids(spec *swarm.TaskSpec) {
	for i, a := range spec.Networks {
		if n := idx.nets[a.Target]; n != nil {
			spec.Networks[i].Target = n.ID
		}
	}
	if cs := spec.ContainerSpec; cs != nil {
		for _, r := range cs.Secrets {
			r.SecretID = idx.secrets[r.SecretName]
		}
		for _, r := range cs.Configs {
			r.ConfigID = idx.configs[r.ConfigName]
		}
	}
}

// service shows sv's networks by ID and its VIPs, as Docker does.
func (idx networkIndex) service(sv *swarm.Service, vips map[string]string) {
	idx.ids(&sv.Spec.TaskTemplate)
	if sv.PreviousSpec != nil {
		idx.ids(&sv.PreviousSpec.TaskTemplate)
	}
	for _, name := range slices.Sorted(maps.Keys(vips)) {
		n := idx.nets[name]
		if n == nil {
			continue
		}
		a, err := netip.ParseAddr(vips[name])
		p, perr := netip.ParsePrefix(n.Subnet)
		if err != nil || perr != nil {
			continue
		}
		sv.Endpoint.VirtualIPs = append(sv.Endpoint.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: n.ID, Addr: netip.PrefixFrom(a, p.Bits())})
	}
}
