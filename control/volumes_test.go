package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
)

func (f *fakeRuntime) Volumes(context.Context) ([]runtime.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Volume
	for name, cs := range f.vols {
		out = append(out, runtime.Volume{Name: name, Mountpoint: "/state/volumes/" + name, Containers: cs})
	}
	return out, nil
}

func (f *fakeRuntime) RemoveVolume(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cs, ok := f.vols[name]
	switch {
	case !ok:
		return runtime.ErrVolumeNotFound
	case len(cs) > 0:
		return &runtime.VolumeInUseError{Name: name, Containers: cs}
	}
	delete(f.vols, name)
	f.removed = append(f.removed, name)
	return nil
}

// remoteVolumes is another node's agent as the volume endpoints see it:
// it holds volumes (name -> users) and records removals.
type remoteVolumes struct {
	mu      sync.Mutex
	node    api.Node
	vols    map[string][]string
	removed []string
}

func (r *remoteVolumes) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.URL.Query().Get("local") != "true" {
		http.Error(w, `{"message":"want local=true"}`, http.StatusBadRequest)
		return
	}
	switch name, _ := strings.CutPrefix(req.URL.Path, "/v1/volumes/"); {
	case req.Method == http.MethodGet && req.URL.Path == "/v1/volumes":
		var l api.VolumeList
		for name, users := range r.vols {
			l.Volumes = append(l.Volumes, api.Volume{Name: name, Driver: "local", NodeID: r.node.ID, NodeHostname: r.node.Hostname, UsedBy: users})
		}
		_ = json.NewEncoder(w).Encode(l)
	case req.Method == http.MethodDelete && name != "":
		delete(r.vols, name)
		r.removed = append(r.removed, name)
		_ = json.NewEncoder(w).Encode(api.VolumeRemoveResponse{Nodes: []string{r.node.Hostname}})
	default:
		http.NotFound(w, req)
	}
}

// TestVolumes: the list gathers every node's volumes (this node's from its
// runtime, with the tasks that use them; others' from their agents) and
// names a node that is down instead of hiding it; rm refuses a volume in
// use anywhere and changes nothing, removes it from every node that has
// it otherwise, and refuses a bad or unknown name.
func TestVolumes(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	tc.create(t, webSpec("web", "web", 1))
	tc.putTasks(t, tc.Store.View().ServiceByName("web"), "t1")
	rt := &fakeRuntime{vols: map[string][]string{"data": {"t1"}, "cache": nil, "gone": {"c-unknown"}}}
	tc.rt = rt

	n3 := &remoteVolumes{vols: map[string][]string{"data": nil, "cache": nil}}
	srv := httptest.NewServer(n3)
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	n3.node = api.Node{Node: types.Node{ID: "node-3", Hostname: "n3", Addr: host, APIPort: p, Status: types.NodeReady}}
	tc.Dial = func(addr string) *api.Client { return api.NewHTTPClient("http://"+addr, srv.Client()) }
	members := tc.Members()
	tc.Members = func() []membership.Member {
		return append(slices.Clone(members), membership.Member{ID: "node-3", Name: "n3", Addr: host, Status: membership.StatusAlive})
	}
	tc.mustApply(t,
		store.Op{Kind: store.OpCreate, Table: store.TableNodes, Node: &types.Node{ID: "node-2", Hostname: "n2", Addr: "10.0.0.2", APIPort: apiPort,
			Status: types.NodeDown, Availability: types.AvailabilityActive}},
		store.Op{Kind: store.OpCreate, Table: store.TableNodes, Node: &n3.node.Node})

	list, err := tc.ops.Volumes(ctx, api.VolumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range list.Volumes {
		got = append(got, v.Name+"@"+v.NodeHostname+"["+strings.Join(v.UsedBy, ",")+"]")
	}
	want := []string{"cache@n1[]", "cache@n3[]", "data@n1[web.1.t1]", "data@n3[]", "gone@n1[c-unknown]"}
	if !slices.Equal(got, want) {
		t.Errorf("volumes = %v, want %v", got, want)
	}
	if len(list.Warnings) != 1 || !strings.Contains(list.Warnings[0], "node n2 is down") {
		t.Errorf("warnings = %q, want one naming n2 as down", list.Warnings)
	}

	_, err = tc.ops.VolumeRemove(ctx, "data", api.VolumeOptions{})
	refused(t, "rm of a volume in use on n1", err, http.StatusConflict, "volume data is in use by web.1.t1 on n1")
	if len(rt.removed)+len(n3.removed) != 0 {
		t.Fatalf("a refused rm removed %v on n1 and %v on n3", rt.removed, n3.removed)
	}
	resp, err := tc.ops.VolumeRemove(ctx, "cache", api.VolumeOptions{})
	if err != nil || !slices.Equal(resp.Nodes, []string{"n1", "n3"}) || len(resp.Warnings) != 1 {
		t.Errorf("rm cache = %+v, %v; want it gone from n1 and n3, with n2's warning", resp, err)
	}
	if !slices.Equal(rt.removed, []string{"cache"}) || !slices.Equal(n3.removed, []string{"cache"}) {
		t.Errorf("removed: %v on n1, %v on n3", rt.removed, n3.removed)
	}
	resp, err = tc.ops.VolumeRemove(ctx, "data", api.VolumeOptions{Node: "n3"})
	if err != nil || !slices.Equal(resp.Nodes, []string{"n3"}) || len(resp.Warnings) != 0 {
		t.Errorf("rm --node n3 data = %+v, %v", resp, err)
	}
	_, err = tc.ops.VolumeRemove(ctx, "cache", api.VolumeOptions{})
	refused(t, "rm of a volume no node has", err, http.StatusNotFound, "no volume cache on any node")
	_, err = tc.ops.VolumeRemove(ctx, "../etc", api.VolumeOptions{})
	refused(t, "rm of a bad name", err, http.StatusBadRequest, `volume name "../etc" is not a volume name`)
	_, err = tc.ops.VolumeRemove(ctx, "gone", api.VolumeOptions{Local: true})
	refused(t, "a local rm of a volume in use", err, http.StatusConflict, "volume gone is in use by c-unknown on n1")
	_, err = tc.ops.Volumes(ctx, api.VolumeOptions{Node: "n9"})
	refused(t, "volumes of an unknown node", err, http.StatusNotFound, "n9")
}

// CheckLogin knows one account of reg:5001.
func (f *fakeRuntime) CheckLogin(_ context.Context, host string, cred runtime.Credential) error {
	if host == "reg:5001" && cred.User == "deploy" && cred.Password == "s3cret" {
		return nil
	}
	if host != "reg:5001" {
		return &runtime.ImageError{Registry: host, Kind: runtime.ErrRegistryUnreachable, Err: errors.New("connection refused")}
	}
	return fmt.Errorf("registry %s refused the login: %w", host, runtime.ErrUnauthorized)
}
