package cli

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// webSpec is a running service's spec for update tests.
func webSpec() types.ServiceSpec {
	s := storedSpec()
	s.Name = "web"
	s.Mode.Replicas = 3
	s.Labels = map[string]string{"team": "core"}
	s.Task.Image = "web:v1"
	s.Task.Args = []string{"serve"}
	s.Task.Env = []string{"A=1", "B=2"}
	s.Task.Placement.Constraints = []string{"node.labels.env==test"}
	s.Task.Placement.Preferences = []string{"node.labels.zone"}
	s.Task.Mounts = []types.Mount{{Type: "volume", Source: "data", Target: "/data"}}
	s.Task.Networks = []string{"front"}
	s.Task.Healthcheck = &types.HealthConfig{Test: []string{"CMD-SHELL", "check"}, Interval: 5 * time.Second}
	s.Endpoint.Ports = []types.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}}
	return s
}

// updateSpec parses `service update ARGS web` and applies it to cur.
func updateSpec(t *testing.T, cur types.ServiceSpec, args ...string) (types.ServiceSpec, error) {
	t.Helper()
	_, c, err := parseArgs(t, append(append([]string{"update"}, args...), "web")...)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c.Service.Update.apply(cur)
}

func TestUpdateApply(t *testing.T) {
	captureStderr(t)
	tests := []struct {
		name   string
		args   []string
		change func(s *types.ServiceSpec)
	}{
		{"no flags resends the spec", nil, func(*types.ServiceSpec) {}},
		{"image only", []string{"--image", "web:v2"}, func(s *types.ServiceSpec) { s.Task.Image = "web:v2" }},
		{"force bumps ForceUpdate", []string{"--force"}, func(s *types.ServiceSpec) { s.Task.ForceUpdate = 1 }},
		{"seed: replicas and batches", []string{"--replicas", "6", "--update-parallelism", "2", "--update-delay", "1m30s"}, func(s *types.ServiceSpec) {
			s.Mode.Replicas = 6
			s.Update.Parallelism, s.Update.Delay = u64(2), 90*time.Second
		}},
		{"seed: move constraint", []string{"--constraint-rm", "node.labels.env == test", "--constraint-add", "node.labels.env==prot"}, func(s *types.ServiceSpec) {
			s.Task.Placement.Constraints = []string{"node.labels.env==prot"}
		}},
		{"env add replaces by key, rm by key", []string{"--env-add", "B=3", "--env-add", "C=4", "--env-rm", "A"}, func(s *types.ServiceSpec) {
			s.Task.Env = []string{"B=3", "C=4"}
		}},
		{"labels", []string{"--label-add", "tier=web", "--label-rm", "team"}, func(s *types.ServiceSpec) { s.Labels = map[string]string{"tier": "web"} }},
		{"mount replaced by target, another removed", []string{"--mount-add", "type=bind,source=/srv,target=/data,ro", "--mount-add", "source=c,target=/c", "--mount-rm", "/c"}, func(s *types.ServiceSpec) {
			s.Task.Mounts = []types.Mount{{Type: "bind", Source: "/srv", Target: "/data", ReadOnly: true}, {Type: "volume", Source: "c", Target: "/c"}}
		}},
		{"mount rm", []string{"--mount-rm", "/data"}, func(s *types.ServiceSpec) { s.Task.Mounts = []types.Mount{} }},
		{"ports: rm by published port, add udp", []string{"--publish-rm", "8080", "--publish-add", "8080:81", "--publish-add", "53:53/udp"}, func(s *types.ServiceSpec) {
			s.Endpoint.Ports = []types.PortConfig{{Protocol: "tcp", TargetPort: 81, PublishedPort: 8080}, {Protocol: "udp", TargetPort: 53, PublishedPort: 53}}
		}},
		{"ports: rm PUBLISHED:TARGET, add long form", []string{"--publish-rm", "8080:80/tcp", "--publish-add", "published=9090,target=90,protocol=udp,mode=ingress"}, func(s *types.ServiceSpec) {
			s.Endpoint.Ports = []types.PortConfig{{Protocol: "udp", TargetPort: 90, PublishedPort: 9090}}
		}},
		{"ports: rm long form", []string{"--publish-rm", "published=8080"}, func(s *types.ServiceSpec) { s.Endpoint.Ports = []types.PortConfig{} }},
		{"publish-rm of a port not published changes nothing", []string{"--publish-rm", "9999"}, func(*types.ServiceSpec) {}},
		{"publish-add of a port already published changes nothing", []string{"--publish-add", "8080:80"}, func(*types.ServiceSpec) {}},
		{"networks and prefs", []string{"--network-add", "back", "--network-rm", "front", "--placement-pref-rm", "spread=node.labels.zone", "--placement-pref-add", "spread=node.labels.rack"}, func(s *types.ServiceSpec) {
			s.Task.Networks = []string{"back"}
			s.Task.Placement.Preferences = []string{"node.labels.rack"}
		}},
		{"hosts, dns and hostname added", []string{"--host-add", "db:10.0.0.5", "--host-add", "cache=10.0.0.6", "--dns-add", "10.0.0.2",
			"--dns-search-add", "example.com", "--dns-option-add", "ndots:2", "--hostname", "{{.Service.Name}}-{{.Task.Slot}}"}, func(s *types.ServiceSpec) {
			s.Task.Hosts = []string{"10.0.0.5 db", "10.0.0.6 cache"}
			s.Task.DNS = &types.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"example.com"}, Options: []string{"ndots:2"}}
			s.Task.Hostname = "{{.Service.Name}}-{{.Task.Slot}}"
		}},
		{"args and entrypoint", []string{"--args", `run --port "80"`, "--entrypoint", "/bin/web"}, func(s *types.ServiceSpec) {
			s.Task.Args, s.Task.Command = []string{"run", "--port", "80"}, []string{"/bin/web"}
		}},
		{"args cleared", []string{"--args", ""}, func(s *types.ServiceSpec) { s.Task.Args = nil }},
		{"health retries keep the command", []string{"--health-retries", "3"}, func(s *types.ServiceSpec) { s.Task.Healthcheck.Retries = 3 }},
		{"health cmd replaced", []string{"--health-cmd", "curl -f localhost"}, func(s *types.ServiceSpec) {
			s.Task.Healthcheck.Test = []string{"CMD-SHELL", "curl -f localhost"}
		}},
		{"healthcheck disabled", []string{"--no-healthcheck"}, func(s *types.ServiceSpec) {
			s.Task.Healthcheck = &types.HealthConfig{Test: []string{"NONE"}}
		}},
		{"limits and restart", []string{"--limit-memory", "1G", "--restart-condition", "none", "--rollback-monitor", "20s"}, func(s *types.ServiceSpec) {
			s.Task.Limits.MemoryBytes = 1 << 30
			s.Task.RestartPolicy.Condition = "none"
			s.Rollback.Monitor = 20 * time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := webSpec()
			got, err := updateSpec(t, cur, tt.args...)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			want := webSpec()
			tt.change(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("spec mismatch\n got %+v\nwant %+v", got, want)
			}
			if !reflect.DeepEqual(cur, webSpec()) {
				t.Errorf("apply modified the spec it was given: %+v", cur)
			}
		})
	}
}

func TestUpdateValidation(t *testing.T) {
	global := webSpec()
	global.Name, global.Mode = "mon", types.ServiceMode{Global: true}
	tests := []struct {
		cur  types.ServiceSpec
		args []string
		want string
	}{
		{global, []string{"--replicas", "2"}, `--replicas: service "mon" is global (one task per eligible node) and has no replica count`},
		{global, []string{"--replicas-max-per-node", "2"}, "--replicas-max-per-node applies only to replicated services; a global service already runs one task per node"},
		{webSpec(), []string{"--image", ""}, `--image "": give an image, such as web:v2`},
		{webSpec(), []string{"--replicas", "-1"}, "--replicas -1: must be 0 or more"},
		{webSpec(), []string{"--publish-add", "8080:81"}, "--publish-add 8080:81: port 8080/tcp is already published (to 80): remove it first with --publish-rm 8080"},
		{webSpec(), []string{"--publish-add", "published=8080,target=80,mode=host"}, "--publish-add published=8080,target=80,mode=host: mode=host is not supported: shoal publishes every port on every node (mode=ingress); drop mode=host"},
		{webSpec(), []string{"--publish-rm", "x"}, `--publish-rm x: published port "x": use a number from 1 to 65535`},
		{webSpec(), []string{"--publish-rm", "80"}, "--publish-rm 80: no port is published on 80/tcp (*:8080->80/tcp targets it): ports are removed by their published port, use --publish-rm 8080"},
		{webSpec(), []string{"--publish-rm", "8080/udp"}, "--publish-rm 8080/udp: port 8080 is published for tcp, not udp: use --publish-rm 8080"},
		{webSpec(), []string{"--publish-rm", "8080:81"}, "--publish-rm 8080:81: port 8080/tcp is published to 80, not 81: use --publish-rm 8080"},
		{webSpec(), []string{"--publish-rm", "target=80"}, "--publish-rm target=80: name the published port: published=PORT"},
		{webSpec(), []string{"--env-add", "NOVALUE_UNSET_9"}, "--env-add NOVALUE_UNSET_9: not set in agentctl's environment; write NOVALUE_UNSET_9=VALUE"},
		{webSpec(), []string{"--constraint-add", "zone==a"}, `--constraint-add zone==a: unknown key "zone"; use node.id, node.hostname, node.role, node.platform.os, node.platform.arch or node.labels.<name>`},
		{webSpec(), []string{"--mount-add", "target=/x,type=nfs"}, `--mount-add target=/x,type=nfs: type "nfs": use type=bind, type=volume or type=tmpfs`},
		{webSpec(), []string{"--endpoint-mode", "dnsrr"}, "--endpoint-mode dnsrr cannot be combined with published ports: use --endpoint-mode vip, or publish no port"},
		{webSpec(), []string{"--update-failure-action", "explode"}, "--update-failure-action explode: use pause, continue or rollback"},
		{webSpec(), []string{"--args", `"open`}, `--args "\"open": unterminated quote or trailing backslash`},
		{webSpec(), []string{"--constraint-rm", "node.labels.env==prod"}, "--constraint-rm \"node.labels.env==prod\": service \"web\" has no such entry (it has [\"node.labels.env==test\"]): check the spelling with `agentctl service inspect web`"},
		{webSpec(), []string{"--label-rm", "tema"}, "--label-rm \"tema\": service \"web\" has no such entry (it has [\"team\"]): check the spelling with `agentctl service inspect web`"},
	}
	stubEnv(t, nil)
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := updateSpec(t, tt.cur, tt.args...)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestUpdateRollbackFlagExcludesChanges(t *testing.T) {
	for args, want := range map[string]bool{
		"--rollback":                       false,
		"--rollback -d -q":                 false,
		"--rollback --image web:v2":        true,
		"--rollback --env-add A=1":         true,
		"--rollback --update-delay 1s":     true,
		"--rollback --force":               true,
		"--rollback --no-healthcheck":      true,
		"--rollback --rollback-monitor 1s": true,
	} {
		_, c, err := parseArgs(t, append(append([]string{"update"}, strings.Fields(args)...), "web")...)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Service.Update.hasChanges(); got != want {
			t.Errorf("%s: hasChanges = %v, want %v", args, got, want)
		}
	}
}

func TestUpdateCause(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "update", "--image", "web:v2", "web"}, "update --image web:v2"},
		{[]string{"-H", "unix:///x", "service", "update", "web", "--env-add", "web=1"}, "update --env-add web=1"},
		{[]string{"service", "update", "--args", "a b", "web"}, `update --args "a b"`},
		{[]string{"service", "update", "web"}, "update"},
	} {
		if got := updateCause(tt.args, "web"); got != tt.want {
			t.Errorf("updateCause(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestParseScalePairs(t *testing.T) {
	got, err := parseScalePairs([]string{"web=5", "api=0"})
	if err != nil || !reflect.DeepEqual(got, []scalePair{{"web", 5}, {"api", 0}}) {
		t.Errorf("parseScalePairs = %v, %v", got, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"web=5", "api"}, "scale api: expected SERVICE=REPLICAS, e.g. web=3"},
		{[]string{"=3"}, "scale =3: expected SERVICE=REPLICAS, e.g. web=3"},
		{[]string{"web=-1"}, "scale web=-1: replicas must be 0 or more"},
		{[]string{"web=lots"}, "scale web=lots: replicas must be a whole number, 0 or more"},
		{[]string{"web=2", "web=3"}, `scale web=3: service "web" is named twice`},
	} {
		if _, err := parseScalePairs(tt.args); err == nil || err.Error() != tt.want {
			t.Errorf("parseScalePairs(%q) error = %v, want %s", tt.args, err, tt.want)
		}
	}
	global := api.Service{}
	global.Spec.Name, global.Spec.Mode.Global = "mon", true
	err = checkScalable(global, scalePair{"mon", 3})
	if want := `scale mon=3: service "mon" is global (one task on every eligible node) and cannot be scaled; only replicated services can`; err == nil || err.Error() != want {
		t.Errorf("checkScalable(global) = %v, want %s", err, want)
	}
	repl := api.Service{}
	repl.Spec.Mode.Replicas = 1
	if err := checkScalable(repl, scalePair{"web", 3}); err != nil {
		t.Errorf("checkScalable(replicated) = %v", err)
	}
}
