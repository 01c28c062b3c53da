package spec

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// good is a valid spec as a client sends it: no defaults filled.
func good() types.ServiceSpec {
	return types.ServiceSpec{Name: "web", Mode: types.ServiceMode{Replicas: 3},
		Task: types.TaskTemplate{Image: "10.77.0.1:5000/web:v1"}}
}

func u64(v uint64) *uint64 { return &v }

// TestDefaults: one source of defaults, whatever client sent the spec.
func TestDefaults(t *testing.T) {
	filledUpdate := types.UpdateConfig{Parallelism: u64(1), FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"}
	cases := []struct {
		name   string
		in     func() types.ServiceSpec
		update types.UpdateConfig // want
		check  func(t *testing.T, s types.ServiceSpec)
	}{
		{"API create without an update config", good, filledUpdate, nil},
		{"CLI create with no flag (sends Replicas only)", func() types.ServiceSpec {
			return types.ServiceSpec{Name: "web", Mode: types.ServiceMode{Replicas: 1}, Task: types.TaskTemplate{Image: "web"}}
		}, filledUpdate, nil},
		{"explicit parallelism 0 means all at once and is kept", func() types.ServiceSpec {
			s := good()
			s.Update.Parallelism = u64(0)
			return s
		}, types.UpdateConfig{Parallelism: u64(0), FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"}, nil},
		{"update that sets some fields keeps them and fills the rest", func() types.ServiceSpec {
			s := good()
			s.Update = types.UpdateConfig{Parallelism: u64(2), Delay: time.Second, Order: "start-first", FailureAction: "rollback"}
			return s
		}, types.UpdateConfig{Parallelism: u64(2), Delay: time.Second, FailureAction: "rollback", Monitor: 5 * time.Second, Order: "start-first"}, nil},
		{"restart policy, endpoint, grace period, port protocol", func() types.ServiceSpec {
			s := good()
			s.Endpoint.Ports = []types.PortConfig{{PublishedPort: 8080, TargetPort: 80}}
			return s
		}, filledUpdate, func(t *testing.T, s types.ServiceSpec) {
			if s.Task.RestartPolicy != (types.RestartPolicy{Condition: "any", Delay: 5 * time.Second}) ||
				s.Endpoint.Mode != "vip" || s.Task.StopGracePeriod != 10*time.Second || s.Endpoint.Ports[0].Protocol != "tcp" {
				t.Errorf("defaults not filled: %+v", s)
			}
		}},
		{"a set restart condition keeps its delay", func() types.ServiceSpec {
			s := good()
			s.Task.RestartPolicy = types.RestartPolicy{Condition: "on-failure"}
			return s
		}, filledUpdate, func(t *testing.T, s types.ServiceSpec) {
			if s.Task.RestartPolicy != (types.RestartPolicy{Condition: "on-failure"}) {
				t.Errorf("restart policy = %+v", s.Task.RestartPolicy)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.in()
			Defaults(&s)
			if p := s.Update.Parallelism; p == nil || *p != *c.update.Parallelism {
				t.Fatalf("parallelism = %v, want %d", p, *c.update.Parallelism)
			}
			if p := s.Rollback.Parallelism; p == nil || s.Rollback.Monitor != 5*time.Second {
				t.Fatalf("rollback config not filled: %+v", s.Rollback)
			}
			got := s.Update
			got.Parallelism = c.update.Parallelism
			if got != c.update {
				t.Errorf("update config = %+v, want %+v", got, c.update)
			}
			if c.check != nil {
				c.check(t, s)
			}
			again := s.Copy()
			Defaults(&again)
			if *again.Update.Parallelism != *s.Update.Parallelism || again.Task.StopGracePeriod != s.Task.StopGracePeriod {
				t.Error("Defaults is not idempotent")
			}
			if err := ValidateService(&s); err != nil {
				t.Errorf("filled spec refused: %v", err)
			}
		})
	}
}

// TestValidateService: every class of bad input is refused with an error
// naming the field and the value; good ones pass.
func TestValidateService(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(s *types.ServiceSpec)
		field string // "" = valid
	}{
		{"valid", func(*types.ServiceSpec) {}, ""},
		{"image with digest", func(s *types.ServiceSpec) {
			s.Task.Image = "web@sha256:" + strings.Repeat("a", 64)
		}, ""},
		{"image unparseable", func(s *types.ServiceSpec) { s.Task.Image = "Bad Image Ref::" }, "image"},
		{"image upper case", func(s *types.ServiceSpec) { s.Task.Image = "Web:v1" }, "image"},
		{"image two tags", func(s *types.ServiceSpec) { s.Task.Image = "web:v1:v2" }, "image"},
		{"image malformed digest", func(s *types.ServiceSpec) { s.Task.Image = "web@sha256:abc" }, "image"},
		{"image empty", func(s *types.ServiceSpec) { s.Task.Image = "" }, "image"},
		{"name with a dot", func(s *types.ServiceSpec) { s.Name = "tasks.web" }, "name"},
		{"name reserved", func(s *types.ServiceSpec) { s.Name = "Tasks" }, "name"},
		{"name too long", func(s *types.ServiceSpec) { s.Name = strings.Repeat("a", 64) }, "name"},
		{"name trailing dash", func(s *types.ServiceSpec) { s.Name = "web-" }, "name"},
		{"global with replicas", func(s *types.ServiceSpec) { s.Mode.Global = true }, "replicas"},
		{"restart condition", func(s *types.ServiceSpec) { s.Task.RestartPolicy.Condition = "always" }, "restart-condition"},
		{"negative restart delay", func(s *types.ServiceSpec) { s.Task.RestartPolicy.Delay = -time.Second }, "restart-delay"},
		{"negative grace", func(s *types.ServiceSpec) { s.Task.StopGracePeriod = -1 }, "stop-grace-period"},
		{"negative health timeout", func(s *types.ServiceSpec) {
			s.Task.Healthcheck = &types.HealthConfig{Timeout: -time.Second}
		}, "health-timeout"},
		{"relative workdir", func(s *types.ServiceSpec) { s.Task.Dir = "app" }, "workdir"},
		{"env without a name", func(s *types.ServiceSpec) { s.Task.Env = []string{"=x"} }, "env"},
		{"volume source with ..", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "volume", Source: "../etc", Target: "/data"}}
		}, "mount source"},
		{"bind source relative", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "bind", Source: "srv", Target: "/data"}}
		}, "mount source"},
		{"bind source with ..", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "bind", Source: "/srv/../etc", Target: "/data"}}
		}, "mount source"},
		{"target with ..", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "volume", Source: "data", Target: "/a/../b"}}
		}, "mount target"},
		{"mount type", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "nfs", Target: "/t"}}
		}, "mount type"},
		{"tmpfs with a source", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "tmpfs", Source: "x", Target: "/t"}}
		}, "mount source"},
		{"tmpfs size negative", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "tmpfs", Target: "/t", TmpfsSize: -1}}
		}, "tmpfs size"},
		{"tmpfs mode too big", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "tmpfs", Target: "/t", TmpfsMode: 0o17777}}
		}, "tmpfs mode"},
		{"tmpfs options on a volume", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "volume", Source: "data", Target: "/t", TmpfsSize: 1 << 20}}
		}, "mount /t"},
		{"hostname not a template", func(s *types.ServiceSpec) { s.Task.Hostname = "{{.Service.Name" }, "hostname"},
		{"hostname names what a task lacks", func(s *types.ServiceSpec) { s.Task.Hostname = "{{.Task.Nope}}" }, "hostname"},
		{"hostname not a host name", func(s *types.ServiceSpec) { s.Task.Hostname = "web_{{.Task.Slot}}" }, "hostname"},
		{"host line without a name", func(s *types.ServiceSpec) { s.Task.Hosts = []string{"10.0.0.1"} }, "host"},
		{"host line without an address", func(s *types.ServiceSpec) { s.Task.Hosts = []string{"db 10.0.0.1"} }, "host"},
		{"dns server not an address", func(s *types.ServiceSpec) { s.Task.DNS = &types.DNSConfig{Nameservers: []string{"ns1"}} }, "dns"},
		{"three dns servers", func(s *types.ServiceSpec) {
			s.Task.DNS = &types.DNSConfig{Nameservers: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}}
		}, "dns"},
		{"dns option with a space", func(s *types.ServiceSpec) { s.Task.DNS = &types.DNSConfig{Options: []string{"ndots 2"}} }, "dns-option"},
		{"good names", func(s *types.ServiceSpec) {
			s.Task.Hostname = "{{.Service.Name}}-{{.Task.Slot}}.{{.Node.Hostname}}"
			s.Task.Hosts = []string{"10.0.0.5 db db.local", "fd00::1 v6"}
			s.Task.DNS = &types.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"example.com"}, Options: []string{"ndots:2", "edns0"}}
		}, ""},
		{"good mounts", func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "volume", Source: "data.v1", Target: "/data"}, {Type: "bind", Source: "/srv", Target: "/srv"},
				{Type: "tmpfs", Target: "/tmp", TmpfsSize: 64 << 20, TmpfsMode: 0o1770}, {Type: "volume", Target: "/anon"}}
		}, ""},
		{"memory limit 1 byte", func(s *types.ServiceSpec) { s.Task.Limits.MemoryBytes = 1 }, "limit-memory"},
		{"memory 6 MiB", func(s *types.ServiceSpec) { s.Task.Limits.MemoryBytes = 6 << 20 }, ""},
		{"negative cpu", func(s *types.ServiceSpec) { s.Task.Limits.NanoCPUs = -1 }, "limit-cpu"},
		{"absurd cpu", func(s *types.ServiceSpec) { s.Task.Reservations.NanoCPUs = 1e15 }, "reserve-cpu"},
		{"reservation over limit", func(s *types.ServiceSpec) {
			s.Task.Limits.MemoryBytes, s.Task.Reservations.MemoryBytes = 64<<20, 128<<20
		}, "reserve-memory"},
		{"constraint", func(s *types.ServiceSpec) { s.Task.Placement.Constraints = []string{"node.labels.x~=y"} }, "constraint"},
		{"strategy", func(s *types.ServiceSpec) { s.Task.Placement.Strategy = "random" }, "placement strategy"},
		{"failure action", func(s *types.ServiceSpec) { s.Rollback.FailureAction = "rollback" }, "rollback-failure-action"},
		{"order", func(s *types.ServiceSpec) { s.Update.Order = "any" }, "update-order"},
		{"ratio above 1", func(s *types.ServiceSpec) { s.Update.MaxFailureRatio = 1.5 }, "update-max-failure-ratio"},
		{"negative monitor", func(s *types.ServiceSpec) { s.Rollback.Monitor = -time.Second }, "rollback-monitor"},
		{"endpoint mode", func(s *types.ServiceSpec) { s.Endpoint.Mode = "rr" }, "endpoint-mode"},
		{"port 0", func(s *types.ServiceSpec) { s.Endpoint.Ports = []types.PortConfig{{Protocol: "tcp", TargetPort: 80}} }, "publish"},
		{"port twice", func(s *types.ServiceSpec) {
			p := types.PortConfig{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}
			s.Endpoint.Ports = []types.PortConfig{p, p}
		}, "publish"},
		{"protocol", func(s *types.ServiceSpec) {
			s.Endpoint.Ports = []types.PortConfig{{Protocol: "sctp", TargetPort: 80, PublishedPort: 8080}}
		}, "publish"},
		{"dnsrr with ports", func(s *types.ServiceSpec) {
			s.Endpoint.Mode = "dnsrr"
			s.Endpoint.Ports = []types.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}}
		}, "endpoint-mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			Defaults(&s)
			c.edit(&s)
			wantErr(t, ValidateService(&s), c.field)
		})
	}
}

// wantErr checks err is an *Error for field (nil when field is empty).
func wantErr(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *Error for %s", err, field)
	}
	if e.Field != field || e.Fix == "" || !strings.Contains(err.Error(), e.Value) {
		t.Errorf("err = %v (field %q), want field %q with the value and a fix", err, e.Field, field)
	}
}

// TestLimits: the two cluster-killing inputs and every size limit.
func TestLimits(t *testing.T) {
	lim := DefaultLimits()
	cases := []struct {
		name  string
		edit  func(s *types.ServiceSpec)
		field string
	}{
		{"replicas 100000000", func(s *types.ServiceSpec) { s.Mode.Replicas = 100_000_000 }, "replicas"},
		{"replicas at the limit", func(s *types.ServiceSpec) { s.Mode.Replicas = 10_000 }, ""},
		{"7 MB env var", func(s *types.ServiceSpec) { s.Task.Env = []string{"BIG=" + strings.Repeat("x", 7<<20)} }, "env BIG (bytes)"},
		{"env in all", func(s *types.ServiceSpec) {
			for range 3 {
				s.Task.Env = append(s.Task.Env, "V="+strings.Repeat("x", 100<<10))
			}
		}, "env (bytes in all)"},
		{"command line", func(s *types.ServiceSpec) { s.Task.Args = []string{strings.Repeat("a", 200<<10)} }, "command and args (bytes)"},
		{"label count", func(s *types.ServiceSpec) {
			s.Labels = map[string]string{}
			for i := range 300 {
				s.Labels[strings.Repeat("k", i+1)] = ""
			}
		}, "label (count)"},
		{"label size", func(s *types.ServiceSpec) { s.Task.Labels = map[string]string{"k": strings.Repeat("v", 5000)} }, "container-label k (bytes)"},
		{"spec size", func(s *types.ServiceSpec) {
			s.Task.Extra = map[string]string{}
			for i := range 600 {
				s.Task.Extra[strings.Repeat("k", 10)+string(rune('a'+i%26))+strings.Repeat("z", i/26)] = strings.Repeat("v", 1<<10)
			}
		}, "spec (bytes, JSON-encoded)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			Defaults(&s)
			c.edit(&s)
			wantErr(t, CheckLimits(&s, lim), c.field)
		})
	}
	raised := Effective(map[string]int64{"replicas": 200_000_000})
	s := good()
	s.Mode.Replicas = 100_000_000
	if err := CheckLimits(&s, raised); err != nil {
		t.Errorf("raised limit still refuses: %v", err)
	}
	if err := CheckOverrides(map[string]int64{"replicas": 0}); err == nil {
		t.Error("a zero override accepted")
	}
	if err := CheckOverrides(map[string]int64{"bananas": 5}); err == nil {
		t.Error("an unknown limit accepted")
	}
}

// TestCheckService: checks against the rest of the cluster.
func TestCheckService(t *testing.T) {
	other := &types.Service{ID: "o1", Spec: types.ServiceSpec{Name: "Web", Mode: types.ServiceMode{Replicas: 9_000},
		Endpoint: types.EndpointSpec{Ports: []types.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}}}}}
	nodes := []*types.Node{{ID: "n1", Hostname: "n1", Addr: "10.77.0.2", GossipPort: 7000, RaftPort: 7001, APIPort: 7002}}
	c := Cluster{Services: []*types.Service{other}, Nodes: nodes}
	port := func(p uint16, proto string) func(*types.ServiceSpec) {
		return func(s *types.ServiceSpec) {
			s.Name = "api"
			s.Endpoint.Ports = []types.PortConfig{{Protocol: proto, TargetPort: 80, PublishedPort: p}}
		}
	}
	cases := []struct {
		name     string
		id       string
		edit     func(*types.ServiceSpec)
		field    string
		conflict bool
	}{
		{"name differing only in case", "new", func(*types.ServiceSpec) {}, "name", true},
		{"the service itself keeps its name", "o1", func(s *types.ServiceSpec) { s.Name = "Web"; s.Mode.Replicas = 1 }, "", false},
		{"port of another service", "new", port(8080, "tcp"), "publish", true},
		{"same port, other protocol", "new", port(8080, "udp"), "", false},
		{"default API port", "new", port(7948, "tcp"), "publish", false},
		{"a node's advertised raft port", "new", port(7001, "tcp"), "publish", false},
		{"the VXLAN port", "new", port(4789, "udp"), "publish", false},
		{"4789 over tcp is free", "new", port(4789, "tcp"), "", false},
		{"the tasks' DNS port", "new", port(53, "udp"), "publish", false},
		{"the tasks' DNS port over tcp", "new", port(53, "tcp"), "publish", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			Defaults(&s)
			tc.edit(&s)
			err := CheckService(c, &s, tc.id, DefaultLimits())
			wantErr(t, err, tc.field)
			var e *Error
			if errors.As(err, &e) && e.Conflict != tc.conflict {
				t.Errorf("conflict = %v, want %v", e.Conflict, tc.conflict)
			}
		})
	}
	lim := DefaultLimits()
	lim.Tasks, lim.Services = 10_000, 1
	s := good()
	s.Name, s.Mode.Replicas = "api", 1_001
	wantErr(t, CheckService(c, &s, "new", Effective(map[string]int64{"tasks": 10_000})), "tasks in the cluster")
	wantErr(t, CheckService(c, &s, "new", lim), "services")
}

func TestSubnets(t *testing.T) {
	for _, tc := range []struct{ subnet, field string }{
		{"10.241.0.0/16", ""}, {"10.1.0.0", "subnet"}, {"10.1.0.1/16", "subnet"}, {"10.1.0.0/25", "subnet"},
		{"fd00::/64", "subnet"}, {"127.0.0.0/24", "subnet"}, {"169.254.0.0/16", "subnet"}, {"224.1.0.0/16", "subnet"},
	} {
		_, err := ParseSubnet(tc.subnet)
		t.Run(tc.subnet, func(t *testing.T) { wantErr(t, err, tc.field) })
	}
	c := Cluster{
		Networks: []*types.Network{{Name: "shoal", Subnet: "10.240.0.0/16"}},
		Nodes:    []*types.Node{{Hostname: "n1", Addr: "10.77.0.2"}},
	}
	for _, tc := range []struct {
		subnet, field string
		nodes         int
	}{
		{"10.241.0.0/16", "", 1}, {"10.240.5.0/24", "subnet", 1}, {"10.77.0.0/24", "subnet", 1}, {"10.0.0.0/8", "subnet", 1},
		{"10.241.0.0/24", "", 15}, {"10.241.0.0/24", "subnet", 16},
	} {
		t.Run(tc.subnet, func(t *testing.T) {
			cc := c
			for i := len(cc.Nodes); i < tc.nodes; i++ {
				cc.Nodes = append(cc.Nodes, &types.Node{Addr: "192.168.0.1"})
			}
			wantErr(t, CheckSubnet(cc, netip.MustParsePrefix(tc.subnet)), tc.field)
		})
	}
	wantErr(t, ValidateNetworkName("back-end_1"), "")
	wantErr(t, ValidateNetworkName("web.net"), "network name")
	lim := DefaultLimits()
	lim.Networks = 1
	wantErr(t, CheckNetworkCount(c, lim), "networks")
}

// TestREADMEListsEveryLimit keeps README's Limits table in step with Table.
func TestREADMEListsEveryLimit(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skipf("no README beside the package: %v", err)
	}
	for _, l := range Table {
		if !strings.Contains(string(b), "| `"+l.Key+"` |") {
			t.Errorf("README's Limits table has no row for %s", l.Key)
		}
	}
}

// TestExpandHostname: docker's placeholders, for a replicated task and a
// global one.
func TestExpandHostname(t *testing.T) {
	rep := &types.Task{ID: "t1", ServiceID: "s1", ServiceName: "web", Slot: 3}
	glob := &types.Task{ID: "t2", ServiceID: "s1", ServiceName: "mon"}
	for _, tc := range []struct {
		tmpl string
		task *types.Task
		want string
	}{
		{"{{.Service.Name}}-{{.Task.Slot}}", rep, "web-3"},
		{"{{.Node.Hostname}}.{{.Task.ID}}", rep, "n2.t1"},
		{"{{.Task.Name}}", rep, "web.3.t1"},
		{"{{.Service.Name}}-{{.Task.Slot}}", glob, "mon-node-2"},
		{"{{index .Service.Labels \"tier\"}}-{{.Node.Platform.OS}}-{{.Node.Platform.Architecture}}", rep, "front-linux-arm64"},
	} {
		node := types.Node{ID: "node-2", Hostname: "n2", Platform: types.Platform{OS: "linux", Architecture: "arm64"}}
		got, err := ExpandHostname(tc.tmpl, NewTaskContext(tc.task, map[string]string{"tier": "front"}, node))
		if err != nil || got != tc.want {
			t.Errorf("ExpandHostname(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}
