package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/spec"
)

// testCLI wraps ServiceCmd as CtlCLI will.
type testCLI struct {
	Service ServiceCmd `cmd:""`
}

// parseArgs runs the kong parser over args (starting after "service").
func parseArgs(t *testing.T, args ...string) (*kong.Context, *testCLI, error) {
	t.Helper()
	var c testCLI
	k, err := kong.New(&c, kong.Name("agentctl"))
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := k.Parse(append([]string{"service"}, args...))
	return kctx, &c, err
}

// createSpec parses `service create ARGS` and builds its spec.
func createSpec(t *testing.T, args ...string) (types.ServiceSpec, error) {
	t.Helper()
	_, c, err := parseArgs(t, append([]string{"create"}, args...)...)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c.Service.Create.spec()
}

func stubEnv(t *testing.T, env map[string]string) {
	old := lookupEnv
	lookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	t.Cleanup(func() { lookupEnv = old })
}

// base is the spec `create --name NAME IMAGE` builds.
func baseSpec(name, image string) types.ServiceSpec {
	s := newSpec()
	s.Name, s.Task.Image = name, image
	return s
}

var createSpecCases = []struct {
	name string
	args []string
	want func() types.ServiceSpec
}{
	{"swarm defaults", []string{"--name", "web", "nginx:1.13.7-alpine"}, func() types.ServiceSpec {
		return baseSpec("web", "nginx:1.13.7-alpine")
	}},
	{"generated name", []string{"registry:5000/team/web:v2@sha256:abc"}, func() types.ServiceSpec {
		return baseSpec("web-x7k2", "registry:5000/team/web:v2@sha256:abc")
	}},
	{"command after image keeps its flags", []string{"--name", "b", "busybox", "sh", "-c", "echo hi", "--replicas", "3"}, func() types.ServiceSpec {
		s := baseSpec("b", "busybox")
		s.Task.Args = []string{"sh", "-c", "echo hi", "--replicas", "3"}
		return s
	}},
	{"global", []string{"--mode", "global", "--name", "mon", "agent"}, func() types.ServiceSpec {
		s := baseSpec("mon", "agent")
		s.Mode = types.ServiceMode{Global: true}
		return s
	}},
	{"the seed's constrained web", []string{"--constraint", "node.labels.env==test", "--replicas", "3", "--name", "my_web", "--publish", "8080:80", "192.174.1.43:5000/httpd"}, func() types.ServiceSpec {
		s := baseSpec("my_web", "192.174.1.43:5000/httpd")
		s.Mode.Replicas = 3
		s.Task.Placement.Constraints = []string{"node.labels.env==test"}
		s.Endpoint.Ports = []types.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}}
		return s
	}},
	{"every flag", []string{"--name", "api", "--replicas=0", "--replicas-max-per-node", "2",
		"--placement-pref", "spread=node.labels.zone", "-e", "A=1,2", "--env", "FROM_ENV", "-w", "/app", "-u", "1000:1000",
		"--mount", "type=bind,source=/srv,target=/data,readonly", "--mount", "source=cache,target=/cache",
		"--mount", "type=tmpfs,target=/tmp,tmpfs-size=64m,tmpfs-mode=700", "--mount", "type=volume,target=/scratch",
		"--hostname", "api-{{.Task.Slot}}", "--add-host", "db:10.0.0.5", "--add-host", "v6:fd00::1", "--dns", "10.0.0.2",
		"--dns-search", "example.com", "--dns-option", "ndots:2",
		"--limit-cpu", "0.5", "--limit-memory", "64M", "--reserve-cpu", "0.25", "--reserve-memory", "512k",
		"--restart-condition", "on-failure", "--restart-delay", "1m30s", "--restart-max-attempts", "3", "--restart-window", "2m",
		"--stop-signal", "int", "--stop-grace-period", "20s", "-l", "team=core", "--label", "tier",
		"-p", "53:53/udp", "--publish", "published=8443,target=443,mode=ingress", "--network", "front", "--network", "front",
		"--endpoint-mode", "vip", "--entrypoint", "/bin/api --verbose",
		"--health-cmd", "curl -f localhost || exit 1", "--health-interval", "10s", "--health-timeout", "2s",
		"--health-retries", "4", "--health-start-period", "1m",
		"--update-parallelism", "0", "--update-delay", "10s", "--update-failure-action", "rollback", "--update-monitor", "30s",
		"--update-max-failure-ratio", "0.25", "--update-order", "start-first",
		"--rollback-parallelism", "3", "--rollback-delay", "1s", "--rollback-failure-action", "continue", "--rollback-monitor", "1s",
		"--rollback-max-failure-ratio", "1", "--rollback-order", "stop-first", "api:v1", "serve"}, func() types.ServiceSpec {
		s := baseSpec("api", "api:v1")
		s.Mode.Replicas = 0
		s.Labels = map[string]string{"team": "core", "tier": ""}
		s.Task = types.TaskTemplate{Image: "api:v1", Command: []string{"/bin/api", "--verbose"}, Args: []string{"serve"},
			Env: []string{"A=1,2", "FROM_ENV=yes"}, Dir: "/app", User: "1000:1000",
			Mounts: []types.Mount{{Type: "bind", Source: "/srv", Target: "/data", ReadOnly: true}, {Type: "volume", Source: "cache", Target: "/cache"},
				{Type: "tmpfs", Target: "/tmp", TmpfsSize: 64 << 20, TmpfsMode: 0o700}, {Type: "volume", Target: "/scratch"}},
			Hostname: "api-{{.Task.Slot}}", Hosts: []string{"10.0.0.5 db", "fd00::1 v6"},
			DNS:    &types.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"example.com"}, Options: []string{"ndots:2"}},
			Limits: types.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20}, Reservations: types.Resources{NanoCPUs: 2.5e8, MemoryBytes: 512 << 10},
			RestartPolicy: types.RestartPolicy{Condition: "on-failure", Delay: 90 * time.Second, MaxAttempts: 3, Window: 2 * time.Minute},
			Placement:     types.Placement{Preferences: []string{"node.labels.zone"}, MaxReplicas: 2},
			StopSignal:    "SIGINT", StopGracePeriod: 20 * time.Second,
			Healthcheck: &types.HealthConfig{Test: []string{"CMD-SHELL", "curl -f localhost || exit 1"}, Interval: 10 * time.Second,
				Timeout: 2 * time.Second, Retries: 4, StartPeriod: time.Minute},
			Networks: []string{"front"}}
		s.Endpoint.Ports = []types.PortConfig{{Protocol: "udp", TargetPort: 53, PublishedPort: 53}, {Protocol: "tcp", TargetPort: 443, PublishedPort: 8443}}
		s.Update = types.UpdateConfig{Parallelism: u64(0), Delay: 10 * time.Second, FailureAction: "rollback", Monitor: 30 * time.Second, MaxFailureRatio: 0.25, Order: "start-first"}
		s.Endpoint.Mode = "vip"
		s.Rollback = types.UpdateConfig{Parallelism: u64(3), Delay: time.Second, FailureAction: "continue", Monitor: time.Second, MaxFailureRatio: 1, Order: "stop-first"}
		return s
	}},
	{"no healthcheck", []string{"--name", "w", "--no-healthcheck", "nginx"}, func() types.ServiceSpec {
		s := baseSpec("w", "nginx")
		s.Task.Healthcheck = &types.HealthConfig{Test: []string{"NONE"}}
		return s
	}},
	{"health timings keep the image's command", []string{"--name", "w", "--health-interval", "3s", "nginx"}, func() types.ServiceSpec {
		s := baseSpec("w", "nginx")
		s.Task.Healthcheck = &types.HealthConfig{Interval: 3 * time.Second}
		return s
	}},
}

// TestNewSpecSendsNoDefaults: the CLI leaves every default to the agent
// (package spec); only the replica count, which has no "unset" on the
// wire, is sent.
func TestNewSpecSendsNoDefaults(t *testing.T) {
	want := types.ServiceSpec{Mode: types.ServiceMode{Replicas: 1}}
	if s := newSpec(); !reflect.DeepEqual(s, want) {
		t.Errorf("newSpec = %+v, want only Replicas 1", s)
	}
}

func u64(v uint64) *uint64 { return &v }

func TestCreateSpec(t *testing.T) {
	stubEnv(t, map[string]string{"FROM_ENV": "yes"})
	old := randomSuffix
	randomSuffix = func() string { return "x7k2" }
	t.Cleanup(func() { randomSuffix = old })

	for _, tt := range createSpecCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := createSpec(t, tt.args...)
			if err != nil {
				t.Fatalf("spec: %v", err)
			}
			if want := tt.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("spec mismatch\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"64M": 64 << 20, "1G": 1 << 30, "512k": 512 << 10, "1048576": 1 << 20,
		"1.5g": 3 << 29, "64MiB": 64 << 20, "64mb": 64 << 20, "0": 0, "2b": 2} {
		if got, err := parseBytes("limit-memory", in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

var createErrorCases = []struct {
	args []string
	want string
}{
	{[]string{"--replicas", "-1"}, "--replicas -1: must be 0 or more"},
	{[]string{"--replicas", "three"}, "--replicas three: use a whole number, 0 or more"},
	{[]string{"--mode", "global", "--replicas", "2"}, "--mode global cannot be combined with --replicas: a global service runs one task on every eligible node"},
	{[]string{"--mode", "daemon"}, "--mode daemon: use replicated or global"},
	{[]string{"--mode", "global", "--replicas-max-per-node", "1"}, "--replicas-max-per-node applies only to replicated services; a global service already runs one task per node"},
	{[]string{"--replicas-max-per-node", "-2"}, "--replicas-max-per-node -2: must be 0 or more"},
	{[]string{"--constraint", "node.labels.env=test"}, "--constraint node.labels.env=test: expected KEY==VALUE or KEY!=VALUE"},
	{[]string{"--constraint", "engine.labels.x==1"}, "--constraint engine.labels.x==1: engine labels are not supported; label the node and use node.labels.<name>"},
	{[]string{"--placement-pref", "pack=node.labels.zone"}, "--placement-pref pack=node.labels.zone: expected spread=node.labels.<name>"},
	{[]string{"-e", "=x"}, "--env =x: expected KEY=VALUE"},
	{[]string{"-e", "UNSET_VAR"}, "--env UNSET_VAR: not set in agentctl's environment; write UNSET_VAR=VALUE"},
	{[]string{"--mount", "type=nfs,target=/t"}, `--mount type=nfs,target=/t: type "nfs": use type=bind, type=volume or type=tmpfs`},
	{[]string{"--mount", "type=tmpfs,source=x,target=/t"}, `--mount type=tmpfs,source=x,target=/t: a tmpfs has no source: drop source=x`},
	{[]string{"--mount", "type=tmpfs,target=/t,tmpfs-size=lots"}, `--mount type=tmpfs,target=/t,tmpfs-size=lots: tmpfs-size=lots: use a size such as 64M, 1G or a number of bytes`},
	{[]string{"--mount", "type=tmpfs,target=/t,tmpfs-mode=999"}, `--mount type=tmpfs,target=/t,tmpfs-mode=999: tmpfs-mode=999: use an octal file mode such as 1777 or 700`},
	{[]string{"--mount", "source=v,target=/t,tmpfs-size=1m"}, `--mount source=v,target=/t,tmpfs-size=1m: tmpfs-size and tmpfs-mode are for type=tmpfs only`},
	{[]string{"--mount", "source=v"}, "--mount source=v: target is missing: add target=/path/in/container"},
	{[]string{"--add-host", "db"}, "--add-host db: expected NAME:IP, e.g. db.local:10.0.0.5"},
	{[]string{"--add-host", "db:ten"}, `--add-host db:ten: "ten" is not an IP address: expected NAME:IP, e.g. db.local:10.0.0.5`},
	{[]string{"--dns", "resolver.local"}, "--dns resolver.local: is not an IP address: give a name server's address, such as 10.0.0.2"},
	{[]string{"--mount", "source=v,target=data"}, `--mount source=v,target=data: target "data" must be an absolute path`},
	{[]string{"--mount", "type=bind,target=/d"}, "--mount type=bind,target=/d: a bind mount needs an absolute source=/path on the node"},
	{[]string{"--mount", "src=v,target=/d,size=1"}, `--mount src=v,target=/d,size=1: unknown option "size": use type, source, target, readonly, tmpfs-size and tmpfs-mode, e.g. type=bind,source=/data,target=/data`},
	{[]string{"--mount", "src=v,target=/d,ro=maybe"}, "--mount src=v,target=/d,ro=maybe: readonly=maybe: use readonly, readonly=true or readonly=false"},
	{[]string{"--limit-cpu", "half"}, "--limit-cpu half: use a number of CPUs such as 0.5 or 2"},
	{[]string{"--reserve-cpu", "-1"}, "--reserve-cpu -1: must not be negative"},
	{[]string{"--limit-memory", "64X"}, "--limit-memory 64X: use a size such as 64M, 1G, 512k or a number of bytes"},
	{[]string{"--reserve-memory", "-5M"}, "--reserve-memory -5M: must not be negative"},
	{[]string{"--limit-cpu", "0.5", "--reserve-cpu", "1"}, "--reserve-cpu 1 is more than --limit-cpu 0.5: reserve at most the limit"},
	{[]string{"--limit-memory", "64M", "--reserve-memory", "1G"}, "--reserve-memory 1GiB is more than --limit-memory 64MiB: reserve at most the limit"},
	{[]string{"--restart-condition", "always"}, "--restart-condition always: use none, on-failure or any"},
	{[]string{"--restart-delay", "5"}, "--restart-delay 5: use a duration such as 10s, 500ms or 1m30s"},
	{[]string{"--restart-max-attempts", "-3"}, "--restart-max-attempts -3: must be 0 or more"},
	{[]string{"--restart-window", "-1m"}, "--restart-window -1m: must not be negative"},
	{[]string{"--stop-signal", "SIGNOPE"}, "--stop-signal SIGNOPE: unknown signal; use a name such as SIGTERM or SIGINT, or a number"},
	{[]string{"--stop-signal", "99"}, "--stop-signal 99: signal numbers run from 1 to 64"},
	{[]string{"--stop-grace-period", "soon"}, "--stop-grace-period soon: use a duration such as 10s, 500ms or 1m30s"},
	{[]string{"-w", "app"}, "--workdir app: must be an absolute path, such as /app"},
	{[]string{"--entrypoint", `sh -c "x`}, `--entrypoint "sh -c \"x": unterminated quote or trailing backslash`},
	{[]string{"--label", "=v"}, "--label =v: expected KEY=VALUE"},
	{[]string{"-p", "80"}, "--publish 80: give the published port too, e.g. 80:80"},
	{[]string{"-p", "8080:80/sctp"}, `--publish 8080:80/sctp: protocol "sctp": use tcp or udp`},
	{[]string{"-p", "70000:80"}, `--publish 70000:80: published port "70000": use a number from 1 to 65535`},
	{[]string{"-p", "8080-8081:80-81"}, "--publish 8080-8081:80-81: port ranges are not supported: publish each port with its own flag"},
	{[]string{"-p", "published=80,target=80,mode=host"}, "--publish published=80,target=80,mode=host: mode=host is not supported: shoal publishes every port on every node (mode=ingress); drop mode=host"},
	{[]string{"-p", "published=80,target=80,mode=vip"}, `--publish published=80,target=80,mode=vip: mode "vip": the only publish mode is ingress (every port on every node)`},
	{[]string{"-p", "published=8080"}, "--publish published=8080: the target port is missing: add target=PORT, e.g. published=8080,target=8080"},
	{[]string{"-p", "target=80"}, "--publish target=80: give the published port too, e.g. 80:80"},
	{[]string{"-p", "published=8080,target=80,proto=udp"}, `--publish published=8080,target=80,proto=udp: unknown option "proto": use published, target, protocol and mode, e.g. published=8080,target=80`},
	{[]string{"-p", "published=8080,target=80,protocol=icmp"}, `--publish published=8080,target=80,protocol=icmp: protocol "icmp": use tcp or udp`},
	{[]string{"-p", "mode=ingress"}, "--publish mode=ingress: give published= and target=, e.g. published=8080,target=80"},
	{[]string{"-p", ":80"}, "--publish :80: give the published port too, e.g. 80:80"},
	{[]string{"-p", "8080:0"}, `--publish 8080:0: target port "0": use a number from 1 to 65535`},
	{[]string{"-p", "8080:80", "-p", "8080:81"}, "--publish 8080:81: port 8080/tcp is published twice (to 80 and 81): publish it once"},
	{[]string{"--network", ""}, `--network "": give a network name`},
	{[]string{"--endpoint-mode", "rr"}, "--endpoint-mode rr: use vip or dnsrr"},
	{[]string{"--endpoint-mode", "dnsrr", "-p", "80:80"}, "--endpoint-mode dnsrr cannot be combined with published ports: use --endpoint-mode vip, or publish no port"},
	{[]string{"--no-healthcheck", "--health-cmd", "true"}, "--no-healthcheck cannot be combined with --health-cmd: drop one of them"},
	{[]string{"--health-interval", "often"}, "--health-interval often: use a duration such as 10s, 500ms or 1m30s"},
	{[]string{"--health-retries", "-1"}, "--health-retries -1: must be 0 or more"},
	{[]string{"--update-parallelism", "-1"}, "--update-parallelism -1: must be 0 or more"},
	{[]string{"--update-delay", "1x"}, "--update-delay 1x: use a duration such as 10s, 500ms or 1m30s"},
	{[]string{"--update-failure-action", "explode"}, "--update-failure-action explode: use pause, continue or rollback"},
	{[]string{"--update-monitor", "-5s"}, "--update-monitor -5s: must not be negative"},
	{[]string{"--update-max-failure-ratio", "1.5"}, "--update-max-failure-ratio 1.5: must be between 0 and 1"},
	{[]string{"--update-max-failure-ratio", "most"}, "--update-max-failure-ratio most: use a number between 0 and 1, such as 0.2"},
	{[]string{"--update-order", "random"}, "--update-order random: use stop-first or start-first"},
	{[]string{"--rollback-failure-action", "rollback"}, "--rollback-failure-action rollback: use pause or continue"},
	{[]string{"--rollback-parallelism", "x"}, "--rollback-parallelism x: use a whole number, 0 or more"},
	{[]string{"--rollback-order", "any"}, "--rollback-order any: use stop-first or start-first"},
}

func TestCreateValidation(t *testing.T) {
	stubEnv(t, nil)
	for _, tt := range createErrorCases {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := createSpec(t, append(tt.args, "nginx")...)
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err, tt.want)
			}
			var fe *flagError
			if errors.As(err, &fe) && !strings.HasPrefix(tt.want, "--"+fe.Flag+" ") {
				t.Errorf("flagError names --%s, message says %q", fe.Flag, tt.want)
			}
		})
	}
}

func TestCreateNeedsImage(t *testing.T) {
	c := ServiceCreateCmd{Args: []string{"--"}}
	if _, err := c.spec(); err == nil || !strings.Contains(err.Error(), "an image is required") {
		t.Errorf("spec without image: %v", err)
	}
}

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                              "nginx-abcd",
		"nginx:1.13.7-alpine":                "nginx-abcd",
		"192.174.1.43:5000/httpd:2.2":        "httpd-abcd",
		"localhost:5000/a/b/web@sha256:0123": "web-abcd",
		"_weird+name":                        "weird-name-abcd",
	} {
		if got := defaultName(in, "abcd"); got != want {
			t.Errorf("defaultName(%q) = %q, want %q", in, got, want)
		}
		if got := defaultName(in, "abcd"); spec.ValidateServiceName(got) != nil {
			t.Errorf("defaultName(%q) = %q is not a valid service name", in, got)
		}
	}
	if s := randomSuffix(); len(s) != 4 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Errorf("randomSuffix() = %q, want 4 lower-case letters or digits", s)
	}
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:          {"a", "b", "c"},
		`sh -c "echo hi"`: {"sh", "-c", "echo hi"},
		`'it''s' x\ y ""`: {"its", "x y", ""},
		`"a \"q\"" 'b\c'`: {`a "q"`, `b\c`},
		``:                nil,
	} {
		got, err := splitWords("args", in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
