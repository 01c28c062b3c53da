package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// fakeNetworkName is the agent's rule for network names.
var fakeNetworkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$`)

// fakeImages is what the fake agent reports loading from any archive.
var fakeImages = []string{"registry:5000/web:v2", "registry:5000/api:1.4"}

// routeNetworks adds the network, node list and image load endpoints to
// the fake agent. Networks get IDs "<n>net…", subnets 10.241.<n>.0/24 and
// VNIs 4096+n; their answers and refusals read as the agent's do.
func (f *fakeAgent) routeNetworks(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/networks", f.createNetwork)
	mux.HandleFunc("GET /v1/networks", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		fakeReply(w, 200, f.nets)
	})
	mux.HandleFunc("GET /v1/networks/{ref}", f.withNetwork(func(w http.ResponseWriter, n *types.Network) { fakeReply(w, 200, n) }))
	mux.HandleFunc("DELETE /v1/networks/{ref}", f.withNetwork(f.removeNetwork))
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		fakeReply(w, 200, f.nodes)
	})
	mux.HandleFunc("POST /v1/images/load", f.loadImage)
}

// addNetwork stores a network as the agent would after creating it.
func (f *fakeAgent) addNetwork(name, subnet string, labels map[string]string) *types.Network {
	f.nextID++
	if subnet == "" {
		subnet = fmt.Sprintf("10.241.%d.0/24", f.nextID)
	}
	n := &types.Network{ID: fmt.Sprintf("%dnet%s", f.nextID, strings.Repeat("n", 21)), Name: name, Subnet: subnet,
		VNI: uint32(4096 + f.nextID), Labels: labels}
	n.Version, n.CreatedAt, n.UpdatedAt = 7, fixedNow, fixedNow
	f.nets = append(f.nets, n)
	return n
}

func (f *fakeAgent) createNetwork(w http.ResponseWriter, r *http.Request) {
	var req api.NetworkCreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fakeFail(w, http.StatusBadRequest, "%v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !fakeNetworkName.MatchString(req.Name):
		fakeFail(w, http.StatusBadRequest, "network name %q: use 1-32 letters, digits, '-' or '_', starting with a letter or digit", req.Name)
	case f.findNetwork(req.Name) != nil:
		fakeFail(w, http.StatusConflict, "network %q already exists", req.Name)
	default:
		fakeReply(w, http.StatusCreated, api.NetworkCreateResponse{ID: f.addNetwork(req.Name, req.Subnet, req.Labels).ID})
	}
}

func (f *fakeAgent) findNetwork(ref string) *types.Network {
	for _, n := range f.nets {
		if n.ID == ref || n.Name == ref || (len(ref) >= 3 && strings.HasPrefix(n.ID, ref)) {
			return n
		}
	}
	return nil
}

func (f *fakeAgent) withNetwork(h func(http.ResponseWriter, *types.Network)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := f.findNetwork(r.PathValue("ref"))
		if n == nil {
			fakeFail(w, http.StatusNotFound, "network %q not found", r.PathValue("ref"))
			return
		}
		h(w, n)
	}
}

func (f *fakeAgent) removeNetwork(w http.ResponseWriter, n *types.Network) {
	if n.Default {
		fakeFail(w, http.StatusBadRequest, "network %q is the default network and cannot be removed", n.Name)
		return
	}
	for _, s := range f.svcs {
		if _, ok := s.VIPs[n.Name]; ok || slices.Contains(s.Spec.Task.Networks, n.Name) {
			fakeFail(w, http.StatusConflict, "network %q is in use by service %q: remove the service or update it with --network-rm %s first", n.Name, s.Spec.Name, n.Name)
			return
		}
	}
	f.nets = slices.DeleteFunc(f.nets, func(x *types.Network) bool { return x == n })
	fakeReply(w, 200, struct{}{})
}

// loadImage refuses anything but a non-empty raw body; the bytes it got are
// in f.requests for the test to compare.
func (f *fakeAgent) loadImage(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	switch {
	case r.Header.Get("Content-Type") != "application/octet-stream":
		fakeFail(w, http.StatusUnsupportedMediaType, "content type %q: send the archive as application/octet-stream", r.Header.Get("Content-Type"))
	case len(b) == 0:
		fakeFail(w, http.StatusBadRequest, "load image archive: import image archive: EOF (expected an OCI archive, as `skopeo copy ... oci-archive:FILE` writes)")
	default:
		f.mu.Lock()
		defer f.mu.Unlock()
		fakeReply(w, 200, api.ImageLoadResponse{Images: fakeImages, Node: f.loadNode})
	}
}
