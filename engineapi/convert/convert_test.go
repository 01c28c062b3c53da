package convert

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

func u64(n uint64) *uint64 { return &n }

// fullSpec is a stored spec with every field Docker can express set.
func fullSpec() types.ServiceSpec {
	return types.ServiceSpec{
		Name: "web", Labels: map[string]string{"tier": "front"},
		Task: types.TaskTemplate{
			Image: "reg:5000/web:v1", Command: []string{"/bin/web"}, Args: []string{"-p", "80"}, Env: []string{"A=1"},
			Dir: "/srv", User: "nobody", Labels: map[string]string{"c": "1"},
			Mounts: []types.Mount{{Type: "bind", Source: "/data", Target: "/data", ReadOnly: true}, {Type: "volume", Source: "v", Target: "/v"},
				{Type: "tmpfs", Target: "/tmp", TmpfsSize: 1 << 20, TmpfsMode: 0o1770}, {Type: "volume", Target: "/anon"}},
			Hostname:        "web-{{.Task.Slot}}",
			Hosts:           []string{"10.0.0.5 db db.local"},
			DNS:             &types.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"example.com"}, Options: []string{"ndots:2"}},
			Limits:          types.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
			Reservations:    types.Resources{NanoCPUs: 1e8, MemoryBytes: 32 << 20},
			RestartPolicy:   types.RestartPolicy{Condition: "on-failure", Delay: 5 * time.Second, MaxAttempts: 3, Window: time.Minute},
			Placement:       types.Placement{Constraints: []string{"node.labels.zone==a"}, Preferences: []string{"node.labels.rack"}, MaxReplicas: 2},
			StopSignal:      "SIGINT",
			StopGracePeriod: 7 * time.Second,
			Healthcheck:     &types.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 3, StartPeriod: time.Second},
			Networks:        []string{"back"},
			Aliases:         map[string][]string{"back": {"api", "app"}},
			ForceUpdate:     2,
			Extra:           map[string]string{"platforms": "linux/amd64,linux/arm64"},
		},
		Mode:     types.ServiceMode{Replicas: 3},
		Update:   types.UpdateConfig{Parallelism: u64(2), Delay: 10 * time.Second, FailureAction: "rollback", Monitor: 5 * time.Second, MaxFailureRatio: 0.5, Order: "start-first"},
		Rollback: types.UpdateConfig{Parallelism: u64(0), FailureAction: "pause", Monitor: 5 * time.Second, Order: "stop-first"},
		Endpoint: types.EndpointSpec{Mode: "vip", Ports: []types.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080}}},
	}
}

// TestServiceSpecRoundTrip: a stored spec shown to Docker and sent back
// unchanged (what `docker service update` does with the fields it does not
// touch) is the same spec.
func TestServiceSpecRoundTrip(t *testing.T) {
	global := fullSpec()
	global.Mode = types.ServiceMode{Global: true}
	minimal := types.ServiceSpec{Name: "m", Task: types.TaskTemplate{Image: "busybox"},
		Update: types.UpdateConfig{Parallelism: u64(1)}, Rollback: types.UpdateConfig{Parallelism: u64(1)}, Endpoint: types.EndpointSpec{Mode: "dnsrr"}}
	zero := fullSpec()
	zero.Mode.Replicas = 0
	for name, in := range map[string]types.ServiceSpec{"full": fullSpec(), "global": global, "minimal": minimal, "scaled to zero": zero} {
		t.Run(name, func(t *testing.T) {
			d := ServiceSpec(in)
			if !in.Mode.Global && (d.Mode.Replicated == nil || d.Mode.Replicated.Replicas == nil || *d.Mode.Replicated.Replicas != in.Mode.Replicas) {
				t.Fatalf("Mode = %+v: the replica count must always be present", d.Mode)
			}
			if d.UpdateConfig == nil || d.RollbackConfig == nil || d.EndpointSpec == nil {
				t.Fatalf("update, rollback or endpoint spec missing: %+v", d)
			}
			back, err := FromServiceSpec(d, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, in) {
				t.Fatalf("round trip changed the spec:\n got %+v\nwant %+v", back, in)
			}
		})
	}
}

// TestFromServiceSpec covers what the docker CLI sends that shoal's own
// specs never show: defaults, empty objects, and what shoal refuses.
func TestFromServiceSpec(t *testing.T) {
	cs := func(mod func(*swarm.ContainerSpec)) swarm.ServiceSpec {
		c := &swarm.ContainerSpec{Image: "busybox"}
		if mod != nil {
			mod(c)
		}
		return swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "s"}, TaskTemplate: swarm.TaskSpec{ContainerSpec: c}}
	}
	with := func(s swarm.ServiceSpec, mod func(*swarm.ServiceSpec)) swarm.ServiceSpec { mod(&s); return s }
	tests := []struct {
		name    string
		in      swarm.ServiceSpec
		check   func(types.ServiceSpec) bool
		wantErr string
	}{
		{name: "no mode is one replica", in: cs(nil), check: func(s types.ServiceSpec) bool { return s.Mode.Replicas == 1 && !s.Mode.Global }},
		{name: "replicated without a count is one replica", in: with(cs(nil), func(s *swarm.ServiceSpec) { s.Mode.Replicated = &swarm.ReplicatedService{} }),
			check: func(s types.ServiceSpec) bool { return s.Mode.Replicas == 1 }},
		{name: "global", in: with(cs(nil), func(s *swarm.ServiceSpec) { s.Mode.Global = &swarm.GlobalService{} }),
			check: func(s types.ServiceSpec) bool { return s.Mode.Global }},
		{name: "what the CLI sends empty is accepted", in: with(cs(func(c *swarm.ContainerSpec) {
			c.DNSConfig, c.Isolation, c.Privileges = &swarm.DNSConfig{}, "default", &swarm.Privileges{}
		}), func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{}, Reservations: &swarm.Resources{}}
			s.TaskTemplate.Placement, s.TaskTemplate.Runtime = &swarm.Placement{}, swarm.RuntimeContainer
		}), check: func(s types.ServiceSpec) bool { return s.Task.Image == "busybox" && s.Task.Extra == nil }},
		{name: "no update config leaves it to the defaults", in: cs(nil), check: func(s types.ServiceSpec) bool { return s.Update.Parallelism == nil }},
		{name: "platforms", in: with(cs(nil), func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Placement = &swarm.Placement{Platforms: []swarm.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux"}}}
		}), check: func(s types.ServiceSpec) bool { return s.Task.Extra["platforms"] == "linux/amd64,linux" }},
		{name: "no image", in: cs(func(c *swarm.ContainerSpec) { c.Image = "" }), wantErr: "TaskTemplate.ContainerSpec.Image"},
		{name: "no container spec", in: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "s"}}, wantErr: "TaskTemplate.ContainerSpec.Image"},
		{name: "tty", in: cs(func(c *swarm.ContainerSpec) { c.TTY = true }), wantErr: "TaskTemplate.ContainerSpec.TTY is not served"},
		{name: "secrets", in: cs(func(c *swarm.ContainerSpec) { c.Secrets = []*swarm.SecretReference{{SecretName: "x"}} }), wantErr: "ContainerSpec.Secrets"},
		{name: "dns, hosts and a hostname", in: cs(func(c *swarm.ContainerSpec) {
			c.DNSConfig = &swarm.DNSConfig{Nameservers: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Search: []string{"example.com"}}
			c.Hosts, c.Hostname = []string{"10.0.0.5 db"}, "{{.Service.Name}}-{{.Task.Slot}}"
		}), check: func(s types.ServiceSpec) bool {
			return reflect.DeepEqual(s.Task.DNS, &types.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"example.com"}}) &&
				slices.Equal(s.Task.Hosts, []string{"10.0.0.5 db"}) && s.Task.Hostname == "{{.Service.Name}}-{{.Task.Slot}}"
		}},
		{name: "isolation", in: cs(func(c *swarm.ContainerSpec) { c.Isolation = container.IsolationHyperV }), wantErr: "Isolation"},
		{name: "tmpfs as the docker CLI sends tmpfs-mode=1777", in: cs(func(c *swarm.ContainerSpec) {
			c.Mounts = []mount.Mount{{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}}}
		}), check: func(s types.ServiceSpec) bool {
			return reflect.DeepEqual(s.Task.Mounts, []types.Mount{{Type: "tmpfs", Target: "/t", TmpfsSize: 1 << 20, TmpfsMode: 0o1777}})
		}},
		{name: "npipe mount", in: cs(func(c *swarm.ContainerSpec) { c.Mounts = []mount.Mount{{Type: mount.TypeNamedPipe, Target: "/t"}} }), wantErr: "Mounts[0]: mount type \"npipe\""},
		{name: "tmpfs options on a volume", in: cs(func(c *swarm.ContainerSpec) {
			c.Mounts = []mount.Mount{{Type: mount.TypeVolume, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1}}}
		}), wantErr: "Mounts[0].TmpfsOptions: set on a mount of type \"volume\""},
		{name: "tmpfs raw options", in: cs(func(c *swarm.ContainerSpec) {
			c.Mounts = []mount.Mount{{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{Options: [][]string{{"exec"}}}}}
		}), wantErr: "Mounts[0].TmpfsOptions.Options"},
		{name: "volume options", in: cs(func(c *swarm.ContainerSpec) {
			c.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "v", Target: "/v", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}}
		}), wantErr: "Mounts[0].VolumeOptions"},
		{name: "jobs", in: with(cs(nil), func(s *swarm.ServiceSpec) { s.Mode.ReplicatedJob = &swarm.ReplicatedJob{} }), wantErr: "jobs"},
		{name: "both modes", in: with(cs(nil), func(s *swarm.ServiceSpec) {
			s.Mode.Global, s.Mode.Replicated = &swarm.GlobalService{}, &swarm.ReplicatedService{}
		}), wantErr: "not both"},
		{name: "host publish mode", in: with(cs(nil), func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80, PublishedPort: 80, PublishMode: swarm.PortConfigPublishModeHost}}}
		}), wantErr: "publish mode host"},
		{name: "port out of range", in: with(cs(nil), func(s *swarm.ServiceSpec) {
			s.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 70000}}}
		}), wantErr: "out of range"},
		{name: "log driver", in: with(cs(nil), func(s *swarm.ServiceSpec) { s.TaskTemplate.LogDriver = &swarm.Driver{Name: "syslog"} }), wantErr: "TaskTemplate.LogDriver"},
		{name: "pids limit", in: with(cs(nil), func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{Pids: 10}}
		}), wantErr: "Limits.Pids"},
		{name: "network driver options", in: with(cs(nil), func(s *swarm.ServiceSpec) {
			s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "back", DriverOpts: map[string]string{"x": "y"}}}
		}), wantErr: "Networks[0].DriverOpts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromServiceSpec(tt.in, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to name %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

// TestFromServiceSpecKeepsShoalFields: an update through Docker keeps what
// Docker cannot express (the placement strategy, shoal's extra settings).
func TestFromServiceSpecKeepsShoalFields(t *testing.T) {
	base := fullSpec()
	base.Task.Placement.Strategy = "binpack"
	base.Task.Extra["shoal.other"] = "x"
	d := ServiceSpec(base)
	d.TaskTemplate.ContainerSpec.Image = "reg:5000/web:v2"
	d.TaskTemplate.Placement.Platforms = nil
	got, err := FromServiceSpec(d, &base)
	if err != nil {
		t.Fatal(err)
	}
	if got.Task.Placement.Strategy != "binpack" || got.Task.Extra["shoal.other"] != "x" || got.Task.Image != "reg:5000/web:v2" {
		t.Fatalf("got %+v", got.Task)
	}
	if _, ok := got.Task.Extra["platforms"]; ok {
		t.Fatalf("platforms the update dropped came back from the old spec: %v", got.Task.Extra)
	}
}

func TestNode(t *testing.T) {
	base := types.Node{ID: "n1", Hostname: "h1", Addr: "10.0.0.1", RaftPort: 7947, Availability: types.AvailabilityDrain,
		Status: types.NodeReady, EngineVersion: "0.1.0", Platform: types.Platform{OS: "linux", Architecture: "x86_64"}}
	voter, nonvoter := base, base
	voter.Role, nonvoter.Role = types.RoleVoter, types.RoleNonvoter
	tests := []struct {
		name string
		in   api.Node
		role swarm.NodeRole
		ms   *swarm.ManagerStatus
	}{
		{"leader", api.Node{Node: voter, ManagerStatus: "Leader"}, swarm.NodeRoleManager,
			&swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "10.0.0.1:7947"}},
		{"reachable voter", api.Node{Node: voter, ManagerStatus: "Reachable"}, swarm.NodeRoleManager,
			&swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable, Addr: "10.0.0.1:7947"}},
		{"unreachable voter", api.Node{Node: voter, ManagerStatus: "Unreachable"}, swarm.NodeRoleManager,
			&swarm.ManagerStatus{Reachability: swarm.ReachabilityUnreachable, Addr: "10.0.0.1:7947"}},
		{"nonvoter", api.Node{Node: nonvoter}, swarm.NodeRoleWorker, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Node(tt.in)
			if got.Spec.Role != tt.role || !reflect.DeepEqual(got.ManagerStatus, tt.ms) {
				t.Fatalf("role %q, manager status %+v; want %q, %+v", got.Spec.Role, got.ManagerStatus, tt.role, tt.ms)
			}
			if got.Spec.Labels == nil || got.Spec.Availability != swarm.NodeAvailabilityDrain || got.Description.Hostname != "h1" ||
				got.Status.State != swarm.NodeStateReady || got.Status.Addr != "10.0.0.1" || got.Description.Engine.EngineVersion != "0.1.0" {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestNodeUpdate(t *testing.T) {
	cur := api.Node{Node: types.Node{ID: "n1", Hostname: "h1", Role: types.RoleNonvoter, Labels: map[string]string{"keep": "1", "change": "a", "drop": "x"}}}
	spec := func(role swarm.NodeRole, labels map[string]string) swarm.NodeSpec {
		return swarm.NodeSpec{Annotations: swarm.Annotations{Labels: labels}, Role: role, Availability: swarm.NodeAvailabilityPause}
	}
	tests := []struct {
		name    string
		spec    swarm.NodeSpec
		want    api.NodeUpdate
		wantErr string
	}{
		{"labels added, changed and removed", spec(swarm.NodeRoleWorker, map[string]string{"keep": "1", "change": "b", "new": "y"}),
			api.NodeUpdate{Availability: "pause", LabelAdd: map[string]string{"change": "b", "new": "y"}, LabelRm: []string{"drop"}, Version: 7}, ""},
		{"every label removed", spec("", nil), api.NodeUpdate{Availability: "pause", LabelRm: []string{"change", "drop", "keep"}, Version: 7}, ""},
		{"promotion refused", spec(swarm.NodeRoleManager, cur.Labels), api.NodeUpdate{}, "voters"},
		{"name refused", swarm.NodeSpec{Annotations: swarm.Annotations{Name: "x"}}, api.NodeUpdate{}, "Spec.Name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NodeUpdate(cur, tt.spec, 7)
			expect(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestServiceAndTask(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	svc := api.Service{Service: types.Service{ID: "s1", Spec: fullSpec(), SpecVersion: 3,
		UpdateStatus: &types.UpdateStatus{State: types.UpdatePaused, StartedAt: now, Message: "update paused due to failure"}},
		RunningTasks: 2, DesiredTasks: 3}
	svc.Version = 42
	got := Service(svc, true)
	if got.Version.Index != 42 || got.ServiceStatus == nil || got.ServiceStatus.RunningTasks != 2 || got.ServiceStatus.DesiredTasks != 3 {
		t.Fatalf("got %+v", got)
	}
	if u := got.UpdateStatus; u.State != swarm.UpdateStatePaused || u.StartedAt == nil || !u.StartedAt.Equal(now) || u.CompletedAt != nil || u.Message == "" {
		t.Fatalf("update status %+v", u)
	}
	if len(got.Endpoint.Ports) != 1 || got.Endpoint.Ports[0].PublishMode != swarm.PortConfigPublishModeIngress {
		t.Fatalf("endpoint %+v", got.Endpoint)
	}
	if Service(svc, false).ServiceStatus != nil {
		t.Fatal("ServiceStatus without status=true")
	}
	task := Task(api.Task{Task: types.Task{ID: "t1", ServiceID: "s1", Slot: 2, NodeID: "n1", SpecVersion: 3, Spec: fullSpec().Task,
		DesiredState: types.TaskRunning, Status: types.TaskStatus{State: types.TaskStarting, Timestamp: now}}})
	if task.Status.ContainerStatus == nil || task.Slot != 2 || task.NodeID != "n1" || task.DesiredState != swarm.TaskStateRunning ||
		task.Status.State != swarm.TaskStateStarting || task.Spec.ContainerSpec.Image != "reg:5000/web:v1" || task.Status.Message != "starting" {
		t.Fatalf("task %+v", task)
	}
}

func TestSwarmInfo(t *testing.T) {
	if got := SwarmInfo(api.Info{NodeID: "n1"}, nil); got.LocalNodeState != swarm.LocalNodeStateInactive || got.ControlAvailable {
		t.Fatalf("outside a cluster: %+v", got)
	}
	nodes := []api.Node{
		{Node: types.Node{ID: "n1", Addr: "10.0.0.1", RaftPort: 7947}, ManagerStatus: "Leader"},
		{Node: types.Node{ID: "n2", Addr: "10.0.0.2", RaftPort: 7947}},
	}
	got := SwarmInfo(api.Info{NodeID: "n1", ClusterID: "c1", InCluster: true, Addr: "10.0.0.1"}, nodes)
	if got.LocalNodeState != swarm.LocalNodeStateActive || !got.ControlAvailable || got.NodeID != "n1" || got.Cluster == nil ||
		got.Cluster.ID != "c1" || got.Nodes != 2 || got.Managers != 1 || len(got.RemoteManagers) != 1 {
		t.Fatalf("got %+v", got)
	}
}

// expect checks a conversion's result: an error containing wantErr, or
// exactly want.
func expect[T any](t *testing.T, got T, err error, want T, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
}
