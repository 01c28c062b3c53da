package engineapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"

	"github.com/shoal-org/shoal/api"
)

type reply struct {
	code   int
	header http.Header
	body   string
}

// call sends one request to the Engine API over b.
func call(t *testing.T, b *fakeBackend, method, path, body string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	New(b).Handler(false).ServeHTTP(rec, req)
	return reply{rec.Code, rec.Header(), rec.Body.String()}
}

// decode decodes r's body into a new T, failing the test on a non-2xx.
func decode[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	if r.code/100 != 2 {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

// message is the message of an error answer with status want.
func message(t *testing.T, r reply, want int) string {
	t.Helper()
	var e struct{ Message string }
	if r.code != want || json.Unmarshal([]byte(r.body), &e) != nil || e.Message == "" {
		t.Fatalf("got %d %s, want %d with a JSON message", r.code, r.body, want)
	}
	return e.Message
}

func filtersQuery(f map[string][]string) string {
	sets := map[string]map[string]bool{}
	for k, vs := range f {
		sets[k] = map[string]bool{}
		for _, v := range vs {
			sets[k][v] = true
		}
	}
	b, _ := json.Marshal(sets)
	return "filters=" + url.QueryEscape(string(b))
}

func TestPingAndVersions(t *testing.T) {
	b := newFake()
	for _, method := range []string{"GET", "HEAD"} {
		r := call(t, b, method, "/_ping", "")
		if r.code != 200 || r.header.Get("API-Version") != MaxAPIVersion || r.header.Get("Swarm") != "active/manager" || r.header.Get("OSType") != "linux" {
			t.Fatalf("%s /_ping: %d %v", method, r.code, r.header)
		}
		if (method == "GET") != (r.body == "OK") {
			t.Fatalf("%s /_ping body %q", method, r.body)
		}
	}
	for _, tt := range []struct {
		path string
		code int
		msg  string
	}{
		{"/version", 200, ""}, {"/v1.41/version", 200, ""}, {"/v1.50/version", 200, ""}, {"/v" + MaxAPIVersion + "/version", 200, ""},
		{"/v1.41/_ping", 200, ""},
		{"/v1.40/version", 400, "Minimum supported API version is 1.41"},
		{"/v1.58/version", 400, "Maximum supported API version is " + MaxAPIVersion},
		{"/v2.0/nodes", 400, "too new"},
	} {
		r := call(t, b, "GET", tt.path, "")
		if tt.code != 200 {
			if m := message(t, r, tt.code); !strings.Contains(m, tt.msg) {
				t.Errorf("GET %s: %q, want %q", tt.path, m, tt.msg)
			}
			continue
		}
		if r.code != 200 {
			t.Errorf("GET %s: %d %s", tt.path, r.code, r.body)
		}
	}
	v := decode[system.VersionResponse](t, call(t, b, "GET", "/v1.41/version", ""))
	if v.APIVersion != MaxAPIVersion || v.MinAPIVersion != MinAPIVersion || v.Version != api.Version || v.Os != "linux" {
		t.Fatalf("version %+v", v)
	}
}

func TestInfoAndSwarm(t *testing.T) {
	b := newFake()
	info := decode[system.Info](t, call(t, b, "GET", "/v1.50/info", ""))
	sw := info.Swarm
	if sw.LocalNodeState != swarm.LocalNodeStateActive || !sw.ControlAvailable || sw.NodeID != b.nodes[0].ID ||
		sw.Cluster == nil || sw.Cluster.ID != "cluster1" || sw.Nodes != 3 || sw.Managers != 2 {
		t.Fatalf("Swarm block %+v", sw)
	}
	if s := decode[swarm.Swarm](t, call(t, b, "GET", "/swarm", "")); s.ID != "cluster1" {
		t.Fatalf("swarm %+v", s)
	}
	for path, want := range map[string]string{"/swarm/init": "agent init", "/swarm/join": "agent join", "/v1.50/swarm/leave": "agent leave", "/swarm/update": "not served"} {
		if m := message(t, call(t, b, "POST", path, "{}"), 501); !strings.Contains(m, want) {
			t.Errorf("POST %s: %q, want %q", path, m, want)
		}
	}
}

func TestNotServed(t *testing.T) {
	b := newFake()
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/v1.50/containers/json", "use `docker service create`"},
		{"POST", "/containers/create", "use `docker service create`"},
		{"POST", "/v1.41/build", "use `docker service create`"},
		{"POST", "/v1.50/volumes/create", "a node makes a named volume when the first task there mounts it"},
		{"GET", "/v1.50/plugins", "use `docker service create`"},
		{"GET", "/v1.50/system/df", "/nodes, /services (and their logs), /tasks"},
		{"PUT", "/services", "not served by shoal"},
	} {
		if m := message(t, call(t, b, tt.method, tt.path, ""), 501); !strings.Contains(m, tt.want) {
			t.Errorf("%s %s: %q, want %q", tt.method, tt.path, m, tt.want)
		}
	}
}

func TestNodes(t *testing.T) {
	b := newFake()
	list := func(f map[string][]string) []string {
		var names []string
		for _, n := range decode[[]swarm.Node](t, call(t, b, "GET", "/v1.50/nodes?"+filtersQuery(f), "")) {
			names = append(names, n.Description.Hostname)
		}
		return names
	}
	for _, tt := range []struct {
		f    map[string][]string
		want string
	}{
		{nil, "alpha beta gamma"},
		{map[string][]string{"role": {"manager"}}, "alpha beta"},
		{map[string][]string{"role": {"worker"}}, "gamma"},
		{map[string][]string{"name": {"ga"}}, "gamma"},
		{map[string][]string{"id": {"node2"}}, "beta"},
		{map[string][]string{"node.label": {"zone=a"}}, "beta"},
		{map[string][]string{"node.label": {"zone=b"}}, ""},
		{map[string][]string{"membership": {"accepted"}}, "alpha beta gamma"},
	} {
		if got := strings.Join(list(tt.f), " "); got != tt.want {
			t.Errorf("filters %v: %q, want %q", tt.f, got, tt.want)
		}
	}
	if m := message(t, call(t, b, "GET", "/nodes?"+filtersQuery(map[string][]string{"colour": {"x"}}), ""), 400); !strings.Contains(m, "invalid filter 'colour'") {
		t.Errorf("unknown filter: %q", m)
	}
	// Legacy filters ({"key":["value"]}) from clients before 1.22.
	if r := call(t, b, "GET", "/nodes?filters="+url.QueryEscape(`{"role":["worker"]}`), ""); len(decode[[]swarm.Node](t, r)) != 1 {
		t.Errorf("legacy filters: %s", r.body)
	}
	// Lookup by ID, hostname and ID prefix; unknown is a 404.
	for _, ref := range []string{b.nodes[1].ID, "beta", "node2"} {
		if n := decode[swarm.Node](t, call(t, b, "GET", "/nodes/"+ref, "")); n.ID != b.nodes[1].ID {
			t.Errorf("GET /nodes/%s: %s", ref, n.ID)
		}
	}
	message(t, call(t, b, "GET", "/nodes/nosuch", ""), 404)
}

func TestNodeUpdate(t *testing.T) {
	b := newFake()
	n := decode[swarm.Node](t, call(t, b, "GET", "/nodes/gamma", ""))
	spec := n.Spec
	spec.Availability, spec.Labels = swarm.NodeAvailabilityDrain, map[string]string{"env": "test"}
	body, _ := json.Marshal(spec)
	path := "/v1.50/nodes/" + n.ID + "/update?version=" + n.Version.String()
	if r := call(t, b, "POST", path, string(body)); r.code != 200 {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	got := decode[swarm.Node](t, call(t, b, "GET", "/nodes/gamma", ""))
	if got.Spec.Availability != swarm.NodeAvailabilityDrain || got.Spec.Labels["env"] != "test" {
		t.Fatalf("after update: %+v", got.Spec)
	}
	// The same version again is out of sequence and changes nothing.
	spec.Labels = map[string]string{}
	body, _ = json.Marshal(spec)
	message(t, call(t, b, "POST", path, string(body)), 409)
	if got := decode[swarm.Node](t, call(t, b, "GET", "/nodes/gamma", "")); got.Spec.Labels["env"] != "test" {
		t.Fatalf("a refused update changed the node: %+v", got.Spec)
	}
	// A promotion is refused, naming why.
	spec, spec.Role = got.Spec, swarm.NodeRoleManager
	body, _ = json.Marshal(spec)
	if m := message(t, call(t, b, "POST", "/nodes/gamma/update?version="+got.Version.String(), string(body)), 400); !strings.Contains(m, "automatically") {
		t.Errorf("promotion: %q", m)
	}
	message(t, call(t, b, "POST", "/nodes/gamma/update", string(body)), 400)                          // no version
	message(t, call(t, b, "POST", "/nodes/gamma/update?version=1", `{"Availability": `), 400)         // broken JSON
	message(t, call(t, b, "POST", "/nodes/nosuch/update?version=1", `{"Availability":"drain"}`), 404) // unknown node
	if r := call(t, b, "DELETE", "/nodes/gamma?force=1", ""); r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	if w := b.writes(); len(w) != 2 || w[1] != "node rm gamma force=true" {
		t.Fatalf("writes %q", w)
	}
}

// createWeb creates the service web with 3 replicas through the API.
func createWeb(t *testing.T, b *fakeBackend) string {
	t.Helper()
	spec := `{"Name":"web","Labels":{"app":"web"},"TaskTemplate":{"ContainerSpec":{"Image":"reg:5000/web:v1","DNSConfig":{}},"Runtime":"container"},
		"Mode":{"Replicated":{"Replicas":3}},"UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Order":"stop-first"},"SomeFutureField":1}`
	r := call(t, b, "POST", "/v1.50/services/create", spec)
	if r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	return decode[swarm.ServiceCreateResponse](t, r).ID
}

func TestServices(t *testing.T) {
	b := newFake()
	id := createWeb(t, b)
	message(t, call(t, b, "POST", "/services/create", `{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}`), 409)
	if m := message(t, call(t, b, "POST", "/services/create", `{"Name":"t","TaskTemplate":{"ContainerSpec":{"Image":"x","TTY":true}}}`), 400); !strings.Contains(m, "TTY") {
		t.Errorf("tty: %q", m)
	}
	message(t, call(t, b, "POST", "/services/create", `{"Name":`), 400)
	if r := call(t, b, "POST", "/services/create", strings.Repeat(" ", 9<<20)+"{}"); r.code != 413 {
		t.Errorf("huge body: %d", r.code)
	}
	if w := b.writes(); len(w) != 1 {
		t.Fatalf("refused creates wrote: %q", w)
	}
	svcs := decode[[]swarm.Service](t, call(t, b, "GET", "/services?status=true", ""))
	if len(svcs) != 1 || svcs[0].ServiceStatus == nil || svcs[0].ServiceStatus.DesiredTasks != 3 || *svcs[0].Spec.Mode.Replicated.Replicas != 3 {
		t.Fatalf("list %+v", svcs)
	}
	if svcs := decode[[]swarm.Service](t, call(t, b, "GET", "/services", "")); svcs[0].ServiceStatus != nil {
		t.Fatal("ServiceStatus without status=true")
	}
	for f, want := range map[string]int{`{"name":{"we":true}}`: 1, `{"name":{"x":true}}`: 0, `{"mode":{"global":true}}`: 0,
		`{"label":{"app=web":true}}`: 1, `{"label":{"app":true}}`: 1, `{"label":{"app=x":true}}`: 0, `{"id":{"svc1":true}}`: 1} {
		if got := len(decode[[]swarm.Service](t, call(t, b, "GET", "/services?filters="+url.QueryEscape(f), ""))); got != want {
			t.Errorf("filters %s: %d services, want %d", f, got, want)
		}
	}
	for _, ref := range []string{id, "web", id[:5]} {
		if s := decode[swarm.Service](t, call(t, b, "GET", "/v1.41/services/"+ref+"?insertDefaults=true", "")); s.ID != id {
			t.Errorf("GET /services/%s: %q", ref, s.ID)
		}
	}
	message(t, call(t, b, "GET", "/services/nosuch", ""), 404)
}

func TestServiceUpdate(t *testing.T) {
	b := newFake()
	createWeb(t, b)
	s := decode[swarm.Service](t, call(t, b, "GET", "/services/web", ""))
	spec := s.Spec
	spec.TaskTemplate.ContainerSpec.Image = "reg:5000/web:v2"
	body, _ := json.Marshal(spec)
	path := "/v1.50/services/web/update?version=" + s.Version.String()
	if r := call(t, b, "POST", path, string(body)); r.code != 200 || !strings.Contains(r.body, `"Warnings":[]`) {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	// Out of sequence: the version read before the update.
	if m := message(t, call(t, b, "POST", path, string(body)), 409); !strings.Contains(m, "update out of sequence") {
		t.Errorf("stale version: %q", m)
	}
	message(t, call(t, b, "POST", "/services/web/update", string(body)), 400)
	s = decode[swarm.Service](t, call(t, b, "GET", "/services/web", ""))
	if s.Spec.TaskTemplate.ContainerSpec.Image != "reg:5000/web:v2" || s.PreviousSpec == nil || s.UpdateStatus == nil {
		t.Fatalf("after update %+v", s)
	}
	if r := call(t, b, "POST", "/services/web/update?rollback=previous&version="+s.Version.String(), string(body)); r.code != 200 {
		t.Fatalf("rollback: %d %s", r.code, r.body)
	}
	if r := call(t, b, "DELETE", "/v1.50/services/web", ""); r.code != 200 {
		t.Fatalf("rm: %d %s", r.code, r.body)
	}
	message(t, call(t, b, "DELETE", "/services/web", ""), 404)
	want := []string{"create web", "update web replicas=3 image=reg:5000/web:v2", "rollback web", "rm web"}
	if got := b.writes(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("writes %q, want %q", got, want)
	}
}

func TestTasks(t *testing.T) {
	b := newFake()
	id := createWeb(t, b)
	s := decode[swarm.Service](t, call(t, b, "GET", "/services/web", ""))
	spec := s.Spec
	spec.TaskTemplate.ForceUpdate++
	body, _ := json.Marshal(spec)
	call(t, b, "POST", "/services/web/update?version="+s.Version.String(), string(body))
	count := func(f map[string][]string) int {
		return len(decode[[]swarm.Task](t, call(t, b, "GET", "/v1.50/tasks?"+filtersQuery(f), "")))
	}
	for _, tt := range []struct {
		f    map[string][]string
		want int
	}{
		{nil, 6},
		{map[string][]string{"service": {"web"}}, 6},
		{map[string][]string{"service": {id[:5]}, "_up-to-date": {"true"}}, 3},
		{map[string][]string{"service": {id}, "desired-state": {"running"}}, 3},
		{map[string][]string{"desired-state": {"shutdown"}}, 3},
		{map[string][]string{"node": {"beta"}, "desired-state": {"running"}}, 1},
		{map[string][]string{"name": {"web.2"}}, 2},
		{map[string][]string{"runtime": {"container"}}, 6},
		{map[string][]string{"label": {"app=web"}}, 6},
		{map[string][]string{"label": {"app=x"}}, 0},
	} {
		if got := count(tt.f); got != tt.want {
			t.Errorf("filters %v: %d tasks, want %d", tt.f, got, tt.want)
		}
	}
	message(t, call(t, b, "GET", "/tasks?"+filtersQuery(map[string][]string{"service": {"nosuch"}}), ""), 404)
	message(t, call(t, b, "GET", "/tasks?"+filtersQuery(map[string][]string{"desired-state": {"dreaming"}}), ""), 400)
	message(t, call(t, b, "GET", "/tasks?filters=notjson", ""), 400)
	tasks := decode[[]swarm.Task](t, call(t, b, "GET", "/tasks?"+filtersQuery(map[string][]string{"_up-to-date": {"true"}}), ""))
	task := decode[swarm.Task](t, call(t, b, "GET", "/v1.41/tasks/"+tasks[0].ID, ""))
	if task.ServiceID != id || task.Slot == 0 || task.NodeID == "" || task.Status.ContainerStatus == nil || task.Spec.ContainerSpec == nil {
		t.Fatalf("task %+v", task)
	}
	message(t, call(t, b, "GET", "/tasks/nosuch", ""), 404)
}

// TestForwardsWrites: on an agent that does not lead, a write is relayed
// to the leader's listener at the same path (apiserver.LeaderOnly) and a
// read is answered locally.
func TestForwardsWrites(t *testing.T) {
	leader := newFake()
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Method+" "+r.URL.Path)
		New(leader).Handler(false).ServeHTTP(w, r)
	}))
	defer srv.Close()
	follower := &followerFake{fakeBackend: newFake(), base: srv.URL}
	rec := httptest.NewRecorder()
	New(follower).Handler(false).ServeHTTP(rec, httptest.NewRequest("POST", "/v1.50/services/create",
		strings.NewReader(`{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}`)))
	if rec.Code != 201 || len(leader.writes()) != 1 || len(follower.writes()) != 0 {
		t.Fatalf("forwarded create: %d %s; leader wrote %q, follower %q", rec.Code, rec.Body, leader.writes(), follower.writes())
	}
	rec = httptest.NewRecorder()
	New(follower).Handler(false).ServeHTTP(rec, httptest.NewRequest("GET", "/v1.50/services", nil))
	if rec.Code != 200 || len(paths) != 1 || paths[0] != "POST /services/create" {
		t.Fatalf("read: %d; the leader saw %q", rec.Code, paths)
	}
}

type followerFake struct {
	*fakeBackend
	base string
}

func (f *followerFake) Leader() (bool, string, string, http.RoundTripper, error) {
	return false, "leader", f.base, http.DefaultTransport, nil
}
func (f *followerFake) LeaderID() string { return "leader" }

func TestDistribution(t *testing.T) {
	b := newFake()
	d := decode[registry.DistributionInspect](t, call(t, b, "GET", "/v1.50/distribution/reg:5000/web:v1/json", ""))
	if d.Descriptor.Digest.String() != fakeDigest || d.Descriptor.Size != 1234 || len(d.Platforms) != 1 || d.Platforms[0].Architecture != "amd64" {
		t.Fatalf("distribution %+v", d)
	}
	message(t, call(t, b, "GET", "/distribution/elsewhere/web:v1/json", ""), 502)
	message(t, call(t, b, "GET", "/distribution/reg:5000/web:v1", ""), 501)
}
