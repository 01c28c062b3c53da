package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

func build(t *testing.T, name string, env []string, files ...string) (Stack, []string) {
	t.Helper()
	st, warnings, err := Build(context.Background(), LoadOptions{Files: files, Name: name, Env: env})
	if err != nil {
		t.Fatalf("Build(%v): %v", files, err)
	}
	return st, warnings
}

func service(t *testing.T, st Stack, name string) types.ServiceSpec {
	t.Helper()
	for _, s := range st.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("stack %s has no service %s", st.Name, name)
	return types.ServiceSpec{}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func u64(n uint64) *uint64 { return &n }

// TestConvertWordPressV3: seed 002's version "3" stack, its image tag
// interpolated from .env (and the environment winning over .env).
func TestConvertWordPressV3(t *testing.T) {
	for _, tc := range []struct {
		name, wantImage string
		env             []string
	}{
		{"from .env", "docker.io/library/wordpress:6.4", nil},
		{"environment wins", "reg:5000/wordpress:6.5", []string{"WP_TAG=6.5", "REGISTRY=reg:5000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, warnings := build(t, "wp", tc.env, "testdata/wordpress-v3.yml")
			if len(warnings) != 0 {
				t.Errorf("warnings: %q", warnings)
			}
			ns := map[string]string{LabelNamespace: "wp"}
			eq(t, "networks", st.Networks, []Network{{Name: "wp_default", Labels: ns}, {Name: "wp_overlay", Labels: ns}})
			var names []string
			for _, s := range st.Services {
				names = append(names, s.Name)
			}
			eq(t, "services", names, []string{"wp_db", "wp_visualizer", "wp_wordpress"})

			wp := service(t, st, "wp_wordpress")
			eq(t, "image", wp.Task.Image, tc.wantImage)
			eq(t, "labels", wp.Labels, map[string]string{LabelNamespace: "wp", LabelImage: tc.wantImage})
			eq(t, "container labels", wp.Task.Labels, ns)
			eq(t, "mode", wp.Mode, types.ServiceMode{Replicas: 3})
			eq(t, "ports", wp.Endpoint.Ports, []types.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 80}})
			eq(t, "networks", wp.Task.Networks, []string{"wp_overlay"})
			eq(t, "env", wp.Task.Env, []string{"WORDPRESS_DB_HOST=db:3306", "WORDPRESS_DB_PASSWORD=wordpress", "WORDPRESS_DB_USER=wordpress"})

			db := service(t, st, "wp_db")
			eq(t, "db mounts", db.Task.Mounts, []types.Mount{{Type: "volume", Source: "wp_db-data", Target: "/var/lib/mysql"}})
			eq(t, "db constraints", db.Task.Placement.Constraints, []string{"node.role == manager"})
			eq(t, "db mode", db.Mode, types.ServiceMode{Replicas: 1})

			vis := service(t, st, "wp_visualizer")
			eq(t, "visualizer networks", vis.Task.Networks, []string{"wp_default"})
			eq(t, "visualizer grace", vis.Task.StopGracePeriod, 90*time.Second)
			eq(t, "visualizer mounts", vis.Task.Mounts,
				[]types.Mount{{Type: "bind", Source: "/var/run/docker.sock", Target: "/var/run/docker.sock", ReadOnly: true}})
		})
	}
}

// TestConvertFull: a compose-spec file with every mapped key.
func TestConvertFull(t *testing.T) {
	st, warnings := build(t, "app", []string{"FROM_SHELL=shell-value"}, "testdata/full.yml")
	ns := map[string]string{LabelNamespace: "app"}
	eq(t, "networks", st.Networks, []Network{{Name: "app_front", Subnet: "10.250.0.0/16", Labels: ns}, {Name: "shared-back", External: true}})

	api := service(t, st, "app_api")
	eq(t, "image", api.Task.Image, "registry.example:5000/api:v1")
	eq(t, "command", api.Task.Command, []string{"/bin/api"})
	eq(t, "args", api.Task.Args, []string{"--listen", ":8080", "--cache", "cache:6379"})
	eq(t, "user", api.Task.User, "1000:1000")
	eq(t, "dir", api.Task.Dir, "/srv")
	eq(t, "stop signal", api.Task.StopSignal, "SIGINT")
	eq(t, "grace", api.Task.StopGracePeriod, 30*time.Second)
	eq(t, "env", api.Task.Env, []string{"FROM_SHELL=shell-value", "MODE=prod"})
	eq(t, "service labels", api.Labels, map[string]string{"com.example.tier": "api", LabelNamespace: "app", LabelImage: api.Task.Image})
	eq(t, "container labels", api.Task.Labels, map[string]string{"team": "backend", LabelNamespace: "app"})
	eq(t, "health", api.Task.Healthcheck, &types.HealthConfig{Test: []string{"CMD", "/bin/api", "check"},
		Interval: 10 * time.Second, Timeout: 2 * time.Second, Retries: 4, StartPeriod: time.Minute})
	eq(t, "ports", api.Endpoint.Ports, []types.PortConfig{{Protocol: "tcp", TargetPort: 8080, PublishedPort: 8080},
		{Protocol: "udp", TargetPort: 9090, PublishedPort: 9090}})
	eq(t, "task networks", api.Task.Networks, []string{"shared-back", "app_front"})
	eq(t, "mode", api.Mode, types.ServiceMode{Replicas: 4})
	eq(t, "placement", api.Task.Placement, types.Placement{Constraints: []string{"node.role == manager", "node.hostname != n9"},
		Preferences: []string{"node.labels.zone"}, MaxReplicas: 2})
	eq(t, "limits", api.Task.Limits, types.Resources{NanoCPUs: 5e8, MemoryBytes: 256 << 20})
	eq(t, "reservations", api.Task.Reservations, types.Resources{NanoCPUs: 1e8, MemoryBytes: 64 << 20})
	eq(t, "restart", api.Task.RestartPolicy, types.RestartPolicy{Condition: "on-failure", Delay: 3 * time.Second, MaxAttempts: 5, Window: 2 * time.Minute})
	eq(t, "update", api.Update, types.UpdateConfig{Parallelism: u64(2), Delay: 10 * time.Second, FailureAction: "rollback",
		Monitor: 20 * time.Second, MaxFailureRatio: 0.25, Order: "start-first"})
	eq(t, "rollback", api.Rollback, types.UpdateConfig{Parallelism: u64(0), Order: "stop-first"})
	eq(t, "hostname", api.Task.Hostname, "api-host")
	eq(t, "hosts", api.Task.Hosts, []string{"10.0.0.9 db.local"})
	eq(t, "dns", api.Task.DNS, &types.DNSConfig{Nameservers: []string{"9.9.9.9"}, Search: []string{"example.com"}, Options: []string{"ndots:2"}})

	cache := service(t, st, "app_cache")
	eq(t, "cache mode", cache.Mode, types.ServiceMode{Global: true})
	eq(t, "cache endpoint", cache.Endpoint.Mode, "dnsrr")
	eq(t, "cache restart", cache.Task.RestartPolicy, types.RestartPolicy{Condition: "any"})
	eq(t, "cache health", cache.Task.Healthcheck, &types.HealthConfig{Test: []string{"NONE"}})
	eq(t, "cache networks", cache.Task.Networks, []string{"shared-back"})
	eq(t, "cache aliases", cache.Task.Aliases, map[string][]string{"shared-back": {"cache"}})
	eq(t, "api aliases", api.Task.Aliases, map[string][]string{"shared-back": {"api", "api-internal"}, "app_front": {"api"}})
	conf, _ := filepath.Abs("testdata/conf")
	eq(t, "cache mounts", cache.Task.Mounts, []types.Mount{{Type: "volume", Source: "app_cache-data", Target: "/data"},
		{Type: "bind", Source: conf, Target: "/etc/redis", ReadOnly: true},
		{Type: "tmpfs", Target: "/scratch", TmpfsSize: 64 << 20, TmpfsMode: 0o700},
		{Type: "volume", Target: "/anonymous"},
		{Type: "tmpfs", Target: "/run/redis"}})

	for _, w := range []string{
		"services.api.build: ignored (not supported by a swarm",
		"services.api.depends_on: ignored (not supported by a swarm",
		"services.api.links: ignored (not supported by a swarm",
		"services.cache.container_name: ignored (not supported by a swarm",
		"services.api.sysctls: ignored (shoal's service spec has no field for it yet)",
	} {
		if !slices.ContainsFunc(warnings, func(s string) bool { return strings.HasPrefix(s, w) }) {
			t.Errorf("no warning %q in %q", w, warnings)
		}
	}
	if len(warnings) != 5 {
		t.Errorf("%d warnings, want one per skipped key (5): %q", len(warnings), warnings)
	}
}

// TestConvertMergesFiles: later -c files override earlier ones.
func TestConvertMergesFiles(t *testing.T) {
	st, _ := build(t, "m", nil, "testdata/base.yml", "testdata/override.yml")
	web := service(t, st, "m_web")
	eq(t, "image", web.Task.Image, "web:v2")
	eq(t, "env", web.Task.Env, []string{"EXTRA=yes"})
	eq(t, "replicas", web.Mode.Replicas, uint64(2))
	eq(t, "worker image", service(t, st, "m_worker").Task.Image, "worker:v1")
}

// TestConvertRefuses: a file that cannot be deployed is refused with a
// message naming the field.
func TestConvertRefuses(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"replicas not a number", "services: {web: {image: a, deploy: {replicas: x}}}", "services.web.deploy.replicas"},
		{"unknown network", "services: {web: {image: a, networks: [nope]}}", `service "web" refers to undefined network nope`},
		{"unknown key", "services: {web: {image: a, frob: 1}}", "services.web"},
		{"bad duration", "services: {web: {image: a, stop_grace_period: 10parsecs}}", "services[web].stop_grace_period"},
		{"bad update delay", "services: {web: {image: a, deploy: {update_config: {delay: soon}}}}", "delay"},
		{"short port out of range", `services: {web: {image: a, ports: ["8080:80", "70000:80"]}}`, `services.web.ports[1]: "70000:80": Invalid hostPort: 70000`},
		{"long port out of range", "services: {web: {image: a, ports: [{target: 80, published: 99999}]}}", "services.web.ports[0].published"},
		{"target out of range", "services: {web: {image: a, ports: [{target: 0, published: 80}]}}", "services.web.ports[0]"},
		{"no published port", "services: {web: {image: a, ports: [\"80\"]}}", "services.web.ports[0].published: missing"},
		{"host mode", "services: {web: {image: a, ports: [{target: 80, published: 80, mode: host}]}}", "services.web.ports[0]: mode host is not served"},
		{"secret file missing", "services: {web: {image: a, secrets: [pw]}}\nsecrets: {pw: {file: ./pw}}", "secrets.pw.file: open"},
		{"secret driver", "services: {web: {image: a, secrets: [pw]}}\nsecrets: {pw: {file: ./compose.yml, driver: vault}}", "secrets.pw: drivers and template drivers are not served"},
		{"secret from nowhere", "services: {web: {image: a}}\nsecrets: {pw: {labels: {a: b}}}", "secrets.pw: one of file|environment must be set"},
		{"secret mode", "services: {web: {image: a, secrets: [{source: pw, mode: 01777}]}}\nsecrets: {pw: {file: ./compose.yml}}", "services.web.secrets[0].mode"},
		{"missing secret", "services: {web: {image: a, secrets: [pw]}}", "pw"},
		{"config file missing", "services: {web: {image: a}}\nconfigs: {c: {file: ./c}}", "configs.c.file: open"},
		{"tmpfs relative", "services: {web: {image: a, tmpfs: run}}", `services.web.tmpfs[0]: "run" is not an absolute path`},
		{"tmpfs volume with a source", "services: {web: {image: a, volumes: [{type: tmpfs, source: x, target: /x}]}}", `services.web.volumes[0]: a tmpfs has no source ("x")`},
		{"npipe volume", "services: {web: {image: a, volumes: [{type: npipe, source: x, target: /x}]}}", `services.web.volumes[0]: volume type "npipe" is not served`},
		{"volume driver", "services: {web: {image: a, volumes: [\"data:/d\"]}}\nvolumes: {data: {driver: nfs}}", `volumes.data.driver: "nfs"`},
		{"job", "services: {web: {image: a, deploy: {mode: replicated-job}}}", `services.web.deploy.mode: "replicated-job"`},
		{"bad constraint", "services: {web: {image: a, deploy: {placement: {constraints: [\"node.role\"]}}}}", "services.web.deploy.placement.constraints"},
		{"no image", "services: {web: {build: .}}", "services.web.image: missing"},
		{"bad image", "services: {web: {image: \"Web:v1\"}}", `services.web.image: "Web:v1" is not a valid image reference`},
		{"network driver", "services: {web: {image: a, networks: [n]}}\nnetworks: {n: {driver: bridge}}", `networks.n.driver: "bridge"`},
		{"network mode", "services: {web: {image: a, network_mode: host}}", "services.web.network_mode"},
		{"failure action", "services: {web: {image: a, deploy: {update_config: {failure_action: explode}}}}", "services.web.deploy.update_config.failure_action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "compose.yml")
			if err := os.WriteFile(f, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			st, _, err := Build(context.Background(), LoadOptions{Files: []string{f}, Name: "s"})
			if err == nil {
				t.Fatalf("accepted: %+v", st)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			if len(st.Services) != 0 || len(st.Networks) != 0 {
				t.Errorf("a refused file converted to %+v", st)
			}
		})
	}
}

func TestLoadRefusesStdin(t *testing.T) {
	if _, _, err := Build(context.Background(), LoadOptions{Files: []string{"-"}, Name: "s"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "stdin") {
		t.Errorf("-c -: %v", err)
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{"web": true, "my_app-2.x": true, "": false, "-x": false, "a/b": false, "a b": false} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// TestLoadWarnings: compose-go's own warnings come back as warning lines
// (and the version line of a version "3" file is not one of them).
func TestLoadWarnings(t *testing.T) {
	f := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(f, []byte("version: \"3\"\nservices: {web: {image: \"a:${NOPE}x\"}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, warnings := build(t, "w", nil, f)
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"NOPE" variable is not set`) {
		t.Errorf("warnings = %q, want one about NOPE", warnings)
	}
}

// TestConvertRefusesNamesTheLeaderWould: a stack's names are checked
// before anything is created.
func TestConvertRefusesNamesTheLeaderWould(t *testing.T) {
	for _, tc := range []struct{ stack, yaml, want string }{
		{"s", "services: {web.v2: {image: a}}", `services.web.v2: service name "s_web.v2"`},
		{"s", "services: {web: {image: a, networks: [" + strings.Repeat("n", 40) + "]}}\nnetworks: {" + strings.Repeat("n", 40) + ": {}}", "network name"},
		{"my.app", "services: {web: {image: a}}", `network name "my.app_default"`},
	} {
		f := filepath.Join(t.TempDir(), "compose.yml")
		if err := os.WriteFile(f, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Build(context.Background(), LoadOptions{Files: []string{f}, Name: tc.stack}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("stack %s, %s: error %v, want one naming %q", tc.stack, tc.yaml, err, tc.want)
		}
	}
}
