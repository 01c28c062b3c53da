package agent

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

func u64(v uint64) *uint64 { return &v }

// TestSpecFrontDoor runs the front door through a real one-agent cluster's
// API: defaults come from the server whatever the client sent, bad input
// is refused with a 4xx naming the field and changes nothing.
func TestSpecFrontDoor(t *testing.T) {
	a := formCluster(t, "fd1")[0]
	inspect := func(name string) api.Service {
		t.Helper()
		var s api.Service
		if err := a.do(http.MethodGet, "/v1/services/"+name, nil, &s); err != nil {
			t.Fatalf("inspect %s: %v", name, err)
		}
		return s
	}
	// Defaults, over an API-created, a CLI-created and an updated spec.
	apiSpec := types.ServiceSpec{Name: "viaapi", Mode: types.ServiceMode{Replicas: 0}, Task: types.TaskTemplate{Image: "web:v1"}}
	cliSpec := types.ServiceSpec{Name: "viacli", Mode: types.ServiceMode{Replicas: 1}, Task: types.TaskTemplate{Image: "web:v1"}}
	for _, s := range []types.ServiceSpec{apiSpec, cliSpec} {
		if err := a.do(http.MethodPost, "/v1/services", api.ServiceCreateRequest{Spec: s}, nil); err != nil {
			t.Fatalf("create %s: %v", s.Name, err)
		}
	}
	upd := inspect("viaapi")
	upd.Spec.Update = types.UpdateConfig{Parallelism: u64(0), Order: "start-first"}
	if err := a.do(http.MethodPost, "/v1/services/viaapi/update", api.ServiceUpdateRequest{Spec: upd.Spec, Version: upd.Version}, nil); err != nil {
		t.Fatalf("update: %v", err)
	}
	for _, c := range []struct {
		name  string
		par   uint64
		order string
	}{{"viacli", 1, "stop-first"}, {"viaapi", 0, "start-first"}} {
		s := inspect(c.name).Spec
		if p := s.Update.Parallelism; p == nil || *p != c.par || s.Update.Order != c.order || s.Update.Monitor != 5*time.Second ||
			s.Update.FailureAction != "pause" || *s.Rollback.Parallelism != 1 || s.Task.RestartPolicy.Condition != "any" ||
			s.Task.StopGracePeriod != 10*time.Second || s.Endpoint.Mode != "vip" {
			t.Errorf("%s: defaults not filled by the server: %+v", c.name, s)
		}
	}

	// Refusals: each a 4xx naming the value, and nothing changes.
	before := inspect("viaapi")
	bad := func(edit func(*types.ServiceSpec)) types.ServiceSpec {
		s := before.Spec.Copy()
		edit(&s)
		return s
	}
	big := strings.Repeat("x", 7<<20)
	refusals := []struct {
		name, method, path string
		body               any
		code               int
		mentions           string
	}{
		{"update --image 'Bad Image Ref::'", http.MethodPost, "/v1/services/viaapi/update",
			api.ServiceUpdateRequest{Spec: bad(func(s *types.ServiceSpec) { s.Task.Image = "Bad Image Ref::" })}, 400, "Bad Image Ref::"},
		{"update --replicas 100000000", http.MethodPost, "/v1/services/viaapi/update",
			api.ServiceUpdateRequest{Spec: bad(func(s *types.ServiceSpec) { s.Mode.Replicas = 100_000_000 })}, 400, "100000000"},
		{"create with a 7 MB env var", http.MethodPost, "/v1/services",
			api.ServiceCreateRequest{Spec: types.ServiceSpec{Name: "big", Mode: types.ServiceMode{Replicas: 1},
				Task: types.TaskTemplate{Image: "web", Env: []string{"BIG=" + big}}}}, 400, "env-var-bytes"},
		{"create VIACLI (case)", http.MethodPost, "/v1/services",
			api.ServiceCreateRequest{Spec: types.ServiceSpec{Name: "VIACLI", Mode: types.ServiceMode{Replicas: 1}, Task: types.TaskTemplate{Image: "web"}}}, 409, "VIACLI"},
		{"create tasks.web", http.MethodPost, "/v1/services",
			api.ServiceCreateRequest{Spec: types.ServiceSpec{Name: "tasks.web", Task: types.TaskTemplate{Image: "web"}}}, 400, "tasks.web"},
		{"publish the API port", http.MethodPost, "/v1/services",
			api.ServiceCreateRequest{Spec: types.ServiceSpec{Name: "p", Task: types.TaskTemplate{Image: "web"}, Endpoint: types.EndpointSpec{
				Ports: []types.PortConfig{{TargetPort: 80, PublishedPort: uint16(a.a.cfg.APIPort)}}}}}, 400, "API port"},
		{"network on loopback", http.MethodPost, "/v1/networks", api.NetworkCreateRequest{Name: "lo", Subnet: "127.0.0.0/24"}, 400, "loopback"},
		{"network over the default", http.MethodPost, "/v1/networks", api.NetworkCreateRequest{Name: "n", Subnet: "10.240.0.0/24"}, 409, "shoal"},
		{"node --label-rm missing", http.MethodPost, "/v1/nodes/fd1/update", api.NodeUpdate{LabelRm: []string{"zone"}}, 400, "zone"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			err := a.do(r.method, r.path, r.body, nil)
			var se *api.StatusError
			if !errors.As(err, &se) || se.Code != r.code || !strings.Contains(se.Message, r.mentions) {
				t.Fatalf("err = %v, want %d mentioning %q", err, r.code, r.mentions)
			}
			if len(se.Message) > 600 {
				t.Errorf("message of %d bytes: the value should be cut short", len(se.Message))
			}
		})
	}
	after := inspect("viaapi")
	if after.Version != before.Version || after.SpecVersion != before.SpecVersion {
		t.Errorf("refused updates changed the service: version %d -> %d", before.Version, after.Version)
	}
	var svcs []api.Service
	if err := a.do(http.MethodGet, "/v1/services", nil, &svcs); err != nil || len(svcs) != 2 {
		t.Errorf("services after the refusals: %d, %v; want the 2 created", len(svcs), err)
	}
}
