package netctl

import (
	"context"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/lb"
)

func task(id, svc string, desired, observed types.TaskState, healthy *bool, addr string) *types.Task {
	return &types.Task{ID: id, ServiceID: svc, DesiredState: desired,
		Status: types.TaskStatus{State: observed, Healthy: healthy}, Addresses: map[string]string{"shoal": addr}}
}

// TestLBConfig checks which tasks a service's VIP and published port send
// to: serving tasks with weight 1, running tasks that are leaving or not
// healthy with weight 0 (they finish their connections), nothing else; and that the
// result is a config the dataplane accepts.
func TestLBConfig(t *testing.T) {
	no, yes := false, true
	s := testStore(t,
		&types.Service{ID: "web", Spec: types.ServiceSpec{Name: "web", Endpoint: types.EndpointSpec{Mode: "vip",
			Ports: []types.PortConfig{{Protocol: "tcp", PublishedPort: 8080, TargetPort: 80}}}},
			VIPs: map[string]string{"shoal": "10.240.0.2"}},
		&types.Service{ID: "rr", Spec: types.ServiceSpec{Name: "rr", Endpoint: types.EndpointSpec{Mode: "dnsrr"}}},
		task("a", "web", types.TaskRunning, types.TaskRunning, nil, "10.240.1.2"),
		task("b", "web", types.TaskShutdown, types.TaskRunning, nil, "10.240.2.2"),  // leaving: drain
		task("c", "web", types.TaskRunning, types.TaskRunning, &no, "10.240.3.2"),   // not healthy: drain
		task("d", "web", types.TaskRunning, types.TaskRunning, &yes, "10.240.3.3"),  // healthy
		task("e", "web", types.TaskRunning, types.TaskStarting, nil, "10.240.1.3"),  // not running yet
		task("f", "web", types.TaskShutdown, types.TaskShutdown, nil, "10.240.2.3"), // gone
		task("g", "rr", types.TaskRunning, types.TaskRunning, nil, "10.240.1.4"),
	)
	cfg := lbConfig(s.View())
	f := lb.NewFake()
	if err := f.Apply(context.Background(), cfg); err != nil {
		t.Fatalf("the dataplane refuses the config: %v", err)
	}
	if len(cfg.Services) != 2 {
		t.Fatalf("services = %+v, want the VIP and the published port of web", cfg.Services)
	}
	var got []string
	for _, svc := range cfg.Services {
		for _, b := range svc.Backends {
			got = append(got, svc.Key+" "+b.AddrPort().String()+" w"+string(rune('0'+b.Weight)))
		}
	}
	want := []string{
		"web/vip/shoal 10.240.1.2:0 w1", "web/vip/shoal 10.240.2.2:0 w0", "web/vip/shoal 10.240.3.2:0 w0", "web/vip/shoal 10.240.3.3:0 w1",
		"web/published/8080/tcp 10.240.1.2:80 w1", "web/published/8080/tcp 10.240.2.2:80 w0", "web/published/8080/tcp 10.240.3.2:80 w0",
		"web/published/8080/tcp 10.240.3.3:80 w1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("backends:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
