package engineapi

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// TestDockerCLIServiceFlags: what `docker service create` sends for each
// flag shoal serves reaches the backend as the spec shoal would store, and
// each flag it does not serve is refused with a message naming the field.
func TestDockerCLIServiceFlags(t *testing.T) {
	b := newFake()
	docker := dockerEnv(t, b, dockerCLIs()[0])
	out, err := docker("service", "create", "--detach", "--no-resolve-image", "--name", "full", "--replicas", "2",
		"--constraint", "node.role==manager", "--placement-pref", "spread=node.labels.zone", "--replicas-max-per-node", "2",
		"--update-parallelism", "2", "--update-delay", "10s", "--update-failure-action", "rollback", "--update-order", "start-first",
		"--rollback-parallelism", "1", "--limit-cpu", "0.5", "--limit-memory", "64M", "--reserve-cpu", "0.1", "--reserve-memory", "32M",
		"--restart-condition", "on-failure", "--restart-delay", "3s", "--restart-max-attempts", "4", "--restart-window", "1m",
		"--health-cmd", "true", "--health-interval", "5s", "--health-retries", "3", "--health-timeout", "2s", "--health-start-period", "1s",
		"--mount", "type=bind,src=/data,dst=/data,readonly", "--mount", "type=volume,src=v,dst=/v",
		"--mount", "type=tmpfs,dst=/tmp,tmpfs-size=1m,tmpfs-mode=1770",
		"--hostname", "{{.Service.Name}}-{{.Task.Slot}}", "--host", "db:10.0.0.5", "--dns", "10.0.0.2", "--dns-search", "example.com",
		"--dns-option", "ndots:2",
		"--env", "A=1", "--label", "l=1", "--container-label", "c=1", "--stop-grace-period", "7s", "--stop-signal", "SIGINT",
		"--workdir", "/srv", "--user", "nobody", "--publish", "published=8080,target=80,protocol=udp", "--endpoint-mode", "dnsrr",
		"--entrypoint", "/bin/sh", "busybox", "-c", "sleep 1000")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	p1, p2 := uint64(1), uint64(2)
	want := types.ServiceSpec{
		Name: "full", Labels: map[string]string{"l": "1"},
		Task: types.TaskTemplate{
			Image: "busybox:latest", Command: []string{"/bin/sh"}, Args: []string{"-c", "sleep 1000"}, Env: []string{"A=1"}, Dir: "/srv", User: "nobody",
			Mounts: []types.Mount{{Type: "bind", Source: "/data", Target: "/data", ReadOnly: true}, {Type: "volume", Source: "v", Target: "/v"},
				{Type: "tmpfs", Target: "/tmp", TmpfsSize: 1 << 20, TmpfsMode: 0o1770}},
			Hostname: "{{.Service.Name}}-{{.Task.Slot}}", Hosts: []string{"10.0.0.5 db"},
			DNS:           &types.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"example.com"}, Options: []string{"ndots:2"}},
			Limits:        types.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
			Reservations:  types.Resources{NanoCPUs: 1e8, MemoryBytes: 32 << 20},
			RestartPolicy: types.RestartPolicy{Condition: "on-failure", Delay: 3 * time.Second, MaxAttempts: 4, Window: time.Minute},
			Placement:     types.Placement{Constraints: []string{"node.role==manager"}, Preferences: []string{"node.labels.zone"}, MaxReplicas: 2},
			StopSignal:    "SIGINT", StopGracePeriod: 7 * time.Second,
			Healthcheck: &types.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: 5 * time.Second, Timeout: 2 * time.Second,
				Retries: 3, StartPeriod: time.Second},
			Labels: map[string]string{"c": "1"},
		},
		Mode:     types.ServiceMode{Replicas: 2},
		Update:   types.UpdateConfig{Parallelism: &p2, Delay: 10 * time.Second, FailureAction: "rollback", Monitor: 5 * time.Second, Order: "start-first"},
		Rollback: types.UpdateConfig{Parallelism: &p1, FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"},
		Endpoint: types.EndpointSpec{Mode: "dnsrr", Ports: []types.PortConfig{{Protocol: "udp", TargetPort: 80, PublishedPort: 8080}}},
	}
	if got := b.services[0].Spec; !reflect.DeepEqual(got, want) {
		t.Fatalf("stored spec:\n got %+v\nwant %+v", got, want)
	}
	for flags, field := range map[string]string{
		"--read-only": "ContainerSpec.ReadOnly", "--init": "ContainerSpec.Init",
		"--publish mode=host,target=80,published=81": "publish mode host",
		"--cap-add NET_ADMIN":                        "ContainerSpec.CapabilityAdd", "--ulimit nofile=100:100": "ContainerSpec.Ulimits",
		"--group adm": "ContainerSpec.Groups", "--sysctl net.core.somaxconn=100": "ContainerSpec.Sysctls",
		"--mount type=volume,src=v,dst=/v,volume-driver=nfs": "VolumeOptions.DriverConfig", "--log-driver syslog": "TaskTemplate.LogDriver",
		"--mode replicated-job": "jobs", "--limit-pids 10": "Limits.Pids", "--tty": "ContainerSpec.TTY",
	} {
		args := append([]string{"service", "create", "--detach", "--no-resolve-image", "--name", "refused"}, strings.Fields(flags)...)
		out, err := docker(append(args, "busybox")...)
		if err == nil || !strings.Contains(out, field) || !strings.Contains(out, "not served by shoal") {
			t.Errorf("docker service create %s: %v\n%s", flags, err, out)
		}
	}
	if len(b.services) != 1 {
		t.Fatalf("refused creates made services: %d", len(b.services))
	}
}
