package engineapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/internal/logrec"
)

// fakeBackend is an in-memory cluster of three nodes for the handlers'
// tests. Services converge at once: every write sets the tasks the spec
// asks for, running. Methods the Engine API must not call are left to the
// embedded nil interface and panic.
type fakeBackend struct {
	apiserver.Backend

	mu       sync.Mutex
	index    uint64
	nodes    []api.Node
	services []*api.Service
	tasks    []api.Task
	networks []*types.Network
	calls    []string // writes, in order: "create web", "update web 3"...
}

var _ apiserver.Backend = (*fakeBackend)(nil)

func newFake() *fakeBackend {
	f := &fakeBackend{index: 10}
	for i, h := range []string{"alpha", "beta", "gamma"} {
		n := api.Node{Node: types.Node{ID: fmt.Sprintf("node%d%s", i+1, strings.Repeat("x", 20)), Hostname: h, Addr: fmt.Sprintf("10.0.0.%d", i+1),
			RaftPort: 7947, Availability: types.AvailabilityActive, Status: types.NodeReady, Role: types.RoleVoter,
			EngineVersion: api.Version, Platform: types.Platform{OS: "linux", Architecture: "x86_64"}}, ManagerStatus: "Reachable"}
		n.Version = uint64(i + 1)
		f.nodes = append(f.nodes, n)
	}
	f.nodes[0].ManagerStatus, f.nodes[0].Self = "Leader", true
	f.nodes[2].Role, f.nodes[2].ManagerStatus = types.RoleNonvoter, ""
	f.nodes[1].Labels = map[string]string{"zone": "a"}
	f.networks = []*types.Network{{ID: "net1" + strings.Repeat("w", 20), Name: "shoal", Subnet: "10.240.0.0/16", VNI: 4096, Default: true}}
	return f
}

func (f *fakeBackend) Leader() (bool, string, string, http.RoundTripper, error) {
	return true, f.nodes[0].ID, "", nil, nil
}
func (f *fakeBackend) LeaderID() string { return f.nodes[0].ID }

func (f *fakeBackend) Info(context.Context) api.Info {
	return api.Info{NodeID: f.nodes[0].ID, Name: "alpha", ClusterID: "cluster1", InCluster: true, Addr: "10.0.0.1",
		Voters: 2, Nodes: 3, Version: api.Version}
}

// find resolves ref as the store does: exact ID, exact name, unique ID prefix.
func find[T any](items []T, id, name func(T) string, noun, ref string) (int, error) {
	for i, it := range items {
		if id(it) == ref {
			return i, nil
		}
	}
	for i, it := range items {
		if name != nil && name(it) == ref {
			return i, nil
		}
	}
	found := -1
	for i, it := range items {
		if strings.HasPrefix(id(it), ref) {
			if found >= 0 {
				return -1, fault.Invalidf("%s %q is ambiguous", noun, ref)
			}
			found = i
		}
	}
	if found < 0 {
		return -1, fault.New(fault.NotFound, "%s %s not found", noun, ref)
	}
	return found, nil
}

func (f *fakeBackend) Nodes(context.Context) ([]api.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.Node(nil), f.nodes...), nil
}

func (f *fakeBackend) findNode(ref string) (int, error) {
	return find(f.nodes, func(n api.Node) string { return n.ID }, func(n api.Node) string { return n.Hostname }, "node", ref)
}

func (f *fakeBackend) Node(_ context.Context, ref string) (api.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.findNode(ref)
	if err != nil {
		return api.Node{}, err
	}
	return f.nodes[i], nil
}

func (f *fakeBackend) NodeUpdate(_ context.Context, ref string, upd api.NodeUpdate) (api.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.findNode(ref)
	if err != nil {
		return api.Node{}, err
	}
	n := &f.nodes[i]
	if upd.Version != 0 && upd.Version != n.Version {
		return api.Node{}, fault.New(fault.Conflict, "update out of sequence")
	}
	f.calls = append(f.calls, fmt.Sprintf("node update %s %s +%v -%v", n.Hostname, upd.Availability, upd.LabelAdd, upd.LabelRm))
	if upd.Availability != "" {
		n.Availability = types.Availability(upd.Availability)
	}
	labels := map[string]string{}
	for k, v := range n.Labels {
		labels[k] = v
	}
	for _, k := range upd.LabelRm {
		delete(labels, k)
	}
	for k, v := range upd.LabelAdd {
		labels[k] = v
	}
	n.Labels = labels
	f.index++
	n.Version = f.index
	return *n, nil
}

func (f *fakeBackend) NodeRemove(_ context.Context, ref string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.findNode(ref)
	if err != nil {
		return err
	}
	f.calls = append(f.calls, fmt.Sprintf("node rm %s force=%v", f.nodes[i].Hostname, force))
	return nil
}

func (f *fakeBackend) findService(ref string) (int, error) {
	return find(f.services, func(s *api.Service) string { return s.ID }, func(s *api.Service) string { return s.Spec.Name }, "service", ref)
}

func (f *fakeBackend) Services(context.Context) ([]api.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]api.Service, 0, len(f.services))
	for _, s := range f.services {
		out = append(out, *s)
	}
	return out, nil
}

func (f *fakeBackend) Service(_ context.Context, ref string) (api.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.findService(ref)
	if err != nil {
		return api.Service{}, err
	}
	return *f.services[i], nil
}

func (f *fakeBackend) ServiceCreate(_ context.Context, req api.ServiceCreateRequest) (api.ServiceCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Spec.Task.Image == "" {
		return api.ServiceCreateResponse{}, fault.Invalidf("image: required")
	}
	for _, s := range f.services {
		if s.Spec.Name == req.Spec.Name {
			return api.ServiceCreateResponse{}, fault.New(fault.Conflict, "service %q already exists", req.Spec.Name)
		}
	}
	f.index++
	s := &api.Service{Service: types.Service{ID: fmt.Sprintf("svc%d%s", len(f.services)+1, strings.Repeat("y", 20)),
		Spec: req.Spec, SpecVersion: 1}}
	s.Version, s.CreatedAt, s.UpdatedAt = f.index, time.Unix(1e9, 0).UTC(), time.Unix(1e9, 0).UTC()
	f.services = append(f.services, s)
	f.calls = append(f.calls, "create "+req.Spec.Name)
	if req.RegistryAuth != "" {
		a, err := api.DecodeRegistryAuth(req.RegistryAuth)
		f.calls = append(f.calls, fmt.Sprintf("registry auth %s %s@%s %v", req.Spec.Name, a.Username, a.ServerAddress, err))
	}
	f.converge(s)
	return api.ServiceCreateResponse{ID: s.ID}, nil
}

// RegistryLogin knows one account of reg:5001.
func (f *fakeBackend) RegistryLogin(_ context.Context, a api.RegistryAuth) error {
	if a.ServerAddress == "reg:5001" && a.Username == "deploy" && a.Password == "s3cret" {
		return nil
	}
	return &fault.Error{Kind: fault.Unauthenticated, Msg: "login to " + a.ServerAddress + ": unauthorized: incorrect username or password"}
}

func (f *fakeBackend) ServiceUpdate(_ context.Context, ref string, req api.ServiceUpdateRequest) (api.ServiceUpdateResponse, error) {
	return f.changeService(ref, func(s *api.Service) error {
		if req.Version != s.Version {
			return fault.New(fault.Conflict, "service changed")
		}
		prev := s.Spec
		s.PreviousSpec, s.Spec = &prev, req.Spec
		f.calls = append(f.calls, fmt.Sprintf("update %s replicas=%d image=%s", s.Spec.Name, s.Spec.Mode.Replicas, s.Spec.Task.Image))
		return nil
	})
}

func (f *fakeBackend) ServiceRollback(_ context.Context, ref string, _ api.ServiceRollbackRequest) (api.ServiceUpdateResponse, error) {
	return f.changeService(ref, func(s *api.Service) error {
		if s.PreviousSpec == nil {
			return fault.Invalidf("service %q does not have a previous spec", s.Spec.Name)
		}
		s.Spec, s.PreviousSpec = *s.PreviousSpec, nil
		f.calls = append(f.calls, "rollback "+s.Spec.Name)
		return nil
	})
}

// changeService applies change to the service ref names, then gives it a
// new spec version and converges it.
func (f *fakeBackend) changeService(ref string, change func(s *api.Service) error) (api.ServiceUpdateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.findService(ref)
	if err != nil {
		return api.ServiceUpdateResponse{}, err
	}
	s := f.services[i]
	if err := change(s); err != nil {
		return api.ServiceUpdateResponse{}, err
	}
	s.SpecVersion++
	f.index++
	s.Version = f.index
	f.converge(s)
	return api.ServiceUpdateResponse{SpecVersion: s.SpecVersion}, nil
}

func (f *fakeBackend) ServiceRemove(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.findService(ref)
	if err != nil {
		return err
	}
	id := f.services[i].ID
	f.calls = append(f.calls, "rm "+f.services[i].Spec.Name)
	f.services = append(f.services[:i], f.services[i+1:]...)
	kept := f.tasks[:0]
	for _, t := range f.tasks {
		if t.ServiceID != id {
			kept = append(kept, t)
		}
	}
	f.tasks = kept
	return nil
}

// converge shuts down s's outdated tasks and starts one running task per
// missing slot, and marks its update completed.
func (f *fakeBackend) converge(s *api.Service) {
	running := map[int]bool{}
	for i := range f.tasks {
		t := &f.tasks[i]
		if t.ServiceID != s.ID || t.DesiredState != types.TaskRunning {
			continue
		}
		if t.SpecVersion != s.SpecVersion || t.Slot > int(s.Spec.Mode.Replicas) {
			t.DesiredState, t.Status.State = types.TaskShutdown, types.TaskShutdown
			continue
		}
		running[t.Slot] = true
	}
	for slot := 1; slot <= int(s.Spec.Mode.Replicas); slot++ {
		if running[slot] {
			continue
		}
		f.index++
		n := f.nodes[slot%len(f.nodes)]
		t := api.Task{Task: types.Task{ID: fmt.Sprintf("task%03d%s", f.index, strings.Repeat("z", 20)), ServiceID: s.ID, ServiceName: s.Spec.Name,
			Slot: slot, NodeID: n.ID, SpecVersion: s.SpecVersion, Spec: s.Spec.Task, DesiredState: types.TaskRunning,
			Status: types.TaskStatus{State: types.TaskRunning, Timestamp: time.Now().UTC(), ContainerID: "c" + s.ID}}, NodeHostname: n.Hostname}
		t.Version = f.index
		f.tasks = append(f.tasks, t)
	}
	s.RunningTasks, s.DesiredTasks = s.Spec.Mode.Replicas, s.Spec.Mode.Replicas
	if s.SpecVersion > 1 {
		s.UpdateStatus = &types.UpdateStatus{State: types.UpdateCompleted, StartedAt: time.Now().UTC(), CompletedAt: time.Now().UTC()}
	}
	if strings.Contains(s.Spec.Task.Image, ":broken") {
		// The new tasks fail: the update pauses, as shoal's updater does.
		for i := range f.tasks {
			if t := &f.tasks[i]; t.ServiceID == s.ID && t.SpecVersion == s.SpecVersion {
				t.Status.State, t.Status.Err = types.TaskFailed, "task: non-zero exit (1)"
			}
		}
		s.RunningTasks = 0
		s.UpdateStatus = &types.UpdateStatus{State: types.UpdatePaused, StartedAt: time.Now().UTC(),
			Message: "update paused due to failure or early termination of task " + f.tasks[len(f.tasks)-1].ID}
	}
}

func (f *fakeBackend) Tasks(_ context.Context, service string) ([]api.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if service != "" {
		return nil, fmt.Errorf("the Engine API lists every task and filters them itself, got service %q", service)
	}
	return append([]api.Task(nil), f.tasks...), nil
}

func (f *fakeBackend) Task(_ context.Context, ref string) (api.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := find(f.tasks, func(t api.Task) string { return t.ID }, nil, "task", ref)
	if err != nil {
		return api.Task{}, err
	}
	return f.tasks[i], nil
}

// writes returns the writes made so far.
func (f *fakeBackend) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) Networks(context.Context) ([]*types.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*types.Network(nil), f.networks...), nil
}

func (f *fakeBackend) findNetwork(ref string) (int, error) {
	return find(f.networks, func(n *types.Network) string { return n.ID }, func(n *types.Network) string { return n.Name }, "network", ref)
}

func (f *fakeBackend) Network(_ context.Context, ref string) (*types.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.findNetwork(ref)
	if err != nil {
		return nil, err
	}
	return f.networks[i], nil
}

func (f *fakeBackend) NetworkCreate(_ context.Context, req api.NetworkCreateRequest) (api.NetworkCreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.findNetwork(req.Name); err == nil {
		return api.NetworkCreateResponse{}, fault.New(fault.Conflict, "network %q already exists", req.Name)
	}
	subnet := req.Subnet
	if subnet == "" {
		subnet = fmt.Sprintf("10.241.%d.0/24", len(f.networks))
	}
	n := &types.Network{ID: fmt.Sprintf("net%d%s", len(f.networks)+1, strings.Repeat("w", 20)), Name: req.Name, Subnet: subnet,
		VNI: uint32(4096 + len(f.networks)), Labels: req.Labels}
	f.networks = append(f.networks, n)
	f.calls = append(f.calls, "network create "+req.Name+" "+subnet)
	return api.NetworkCreateResponse{ID: n.ID}, nil
}

func (f *fakeBackend) NetworkRemove(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.findNetwork(ref)
	if err != nil {
		return err
	}
	f.calls = append(f.calls, "network rm "+f.networks[i].Name)
	f.networks = append(f.networks[:i], f.networks[i+1:]...)
	return nil
}

// TaskLogs hands two lines of the task's to the sink: "hello from ID" on
// stdout, then the options it was asked with on stderr.
func (f *fakeBackend) TaskLogs(_ context.Context, ref string, o api.LogOptions, open func() func(api.LogLine)) error {
	t, err := f.Task(context.Background(), ref)
	if err != nil {
		return err
	}
	fakeTaskLog(t, o, open())
	return nil
}

// ServiceLogs is TaskLogs for each of the service's tasks.
func (f *fakeBackend) ServiceLogs(ctx context.Context, ref string, o api.LogOptions, open func() func(api.LogLine)) error {
	svc, err := f.Service(ctx, ref)
	if err != nil {
		return err
	}
	sink := open()
	for _, t := range f.tasks {
		if t.ServiceID == svc.ID {
			fakeTaskLog(t, o, sink)
		}
	}
	return nil
}

// fakeLogTime is when the fake's log lines were written.
var fakeLogTime = time.Date(2026, 12, 4, 21, 0, 0, 5, time.UTC)

func fakeTaskLog(t api.Task, o api.LogOptions, sink func(api.LogLine)) {
	l := api.LogLine{Task: fmt.Sprintf("%s.%d.%s", t.ServiceName, t.Slot, t.ID), TaskID: t.ID, ServiceID: t.ServiceID,
		NodeID: t.NodeID, NodeName: t.NodeHostname}
	l.Record = logrec.Record{Time: fakeLogTime, Stream: logrec.Stdout, Line: []byte("hello from " + t.ID)}
	sink(l)
	l.Record = logrec.Record{Time: fakeLogTime.Add(time.Second), Stream: logrec.Stderr,
		Line: fmt.Appendf(nil, "tail=%d follow=%v since=%s no-stdout=%v", o.Tail, o.Follow, o.Since.Format(time.RFC3339Nano), o.NoStdout)}
	sink(l)
}

// fakeDigest is the digest every reg:5000/ image has in the fake registry.
const fakeDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"

// ImageDistribution knows the images of reg:5000 (one platform each);
// every other registry is unreachable.
func (f *fakeBackend) ImageDistribution(_ context.Context, ref string) (api.ImageDistribution, error) {
	if !strings.HasPrefix(ref, "reg:5000/") {
		return api.ImageDistribution{}, fault.New(fault.Upstream, "registry of %s unreachable", ref)
	}
	return api.ImageDistribution{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: fakeDigest, Size: 1234,
		Platforms: []types.Platform{{OS: "linux", Architecture: "amd64"}}}, nil
}

// The fake has no secrets or configs (files_test.go's fileFake has).
func (f *fakeBackend) Secrets(context.Context) ([]types.Secret, error) { return []types.Secret{}, nil }
func (f *fakeBackend) Configs(context.Context) ([]types.Config, error) { return []types.Config{}, nil }
