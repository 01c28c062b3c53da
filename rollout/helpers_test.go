package rollout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// nd builds a ready, active node; opts adjust it.
func nd(id string, opts ...func(*types.Node)) *types.Node {
	n := &types.Node{ID: id, Hostname: "host-" + id, Status: types.NodeReady,
		Availability: types.AvailabilityActive, Platform: types.Platform{OS: "linux", Architecture: "amd64"}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func down(n *types.Node)    { n.Status = types.NodeDown }
func unknown(n *types.Node) { n.Status = types.NodeUnknown }
func drain(n *types.Node)   { n.Availability = types.AvailabilityDrain }
func pause(n *types.Node)   { n.Availability = types.AvailabilityPause }

func label(k, v string) func(*types.Node) {
	return func(n *types.Node) { n.Labels = map[string]string{k: v} }
}

func cpus(c int64) func(*types.Node) {
	return func(n *types.Node) { n.Resources.NanoCPUs = c * 1e9 }
}

// rep builds a replicated service (ID and name equal) at SpecVersion 1.
func rep(id string, replicas uint64, opts ...func(*types.Service)) *types.Service {
	s := &types.Service{ID: id, SpecVersion: 1, Spec: types.ServiceSpec{Name: id,
		Mode: types.ServiceMode{Replicas: replicas}, Task: types.TaskTemplate{Image: "img:1"}}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func glob(id string, opts ...func(*types.Service)) *types.Service {
	s := rep(id, 0, opts...)
	s.Spec.Mode.Global = true
	return s
}

func constraint(c ...string) func(*types.Service) {
	return func(s *types.Service) { s.Spec.Task.Placement.Constraints = c }
}

func policy(p types.RestartPolicy) func(*types.Service) {
	return func(s *types.Service) { s.Spec.Task.RestartPolicy = p }
}

// tk builds a running task of svc in slot (node for global services),
// created an hour before t0; opts adjust it.
func tk(id string, svc *types.Service, slot int, node string, opts ...func(*types.Task)) *types.Task {
	t := &types.Task{ID: id, ServiceID: svc.ID, ServiceName: svc.Spec.Name, Slot: slot, NodeID: node,
		SpecVersion: svc.SpecVersion, Spec: svc.Spec.Task, DesiredState: types.TaskRunning,
		Status: types.TaskStatus{State: types.TaskRunning, Timestamp: t0.Add(-time.Hour)}}
	t.CreatedAt = t0.Add(-time.Hour)
	for _, o := range opts {
		o(t)
	}
	return t
}

// ended sets the task's observed state and end time (relative to t0).
func ended(st types.TaskState, at time.Duration) func(*types.Task) {
	return func(t *types.Task) { t.Status.State, t.Status.Timestamp = st, t0.Add(at) }
}

// created sets the task's creation time relative to t0.
func created(at time.Duration) func(*types.Task) {
	return func(t *types.Task) { t.CreatedAt = t0.Add(at) }
}

func desired(st types.TaskState) func(*types.Task) {
	return func(t *types.Task) { t.DesiredState = st }
}

func observed(st types.TaskState) func(*types.Task) {
	return func(t *types.Task) { t.Status.State = st }
}

func exit(code int) func(*types.Task) { return func(t *types.Task) { t.Status.ExitCode = code } }

// ids returns a newID that yields new-1, new-2, ...
func ids() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("new-%d", n) }
}

// describe renders a plan as sorted lines a table test can compare.
func describe(in Input, p Plan) []string {
	orig := make(map[string]*types.Task)
	for _, t := range in.Tasks {
		orig[t.ID] = t
	}
	var out []string
	for _, t := range p.Create {
		name := fmt.Sprintf("%s.%d", t.ServiceName, t.Slot)
		if t.Slot == 0 {
			name = t.ServiceName
		}
		line := fmt.Sprintf("create %s v%d", name, t.SpecVersion)
		if t.NodeID != "" {
			line += " on " + t.NodeID
		}
		if t.Status.State != types.TaskAssigned {
			line += fmt.Sprintf(" %s: %s", t.Status.State, t.Status.Err)
		}
		out = append(out, line)
	}
	for _, t := range p.Update {
		o := orig[t.ID]
		var ch []string
		if t.DesiredState != o.DesiredState {
			ch = append(ch, "desired "+string(t.DesiredState))
		}
		if t.NodeID != o.NodeID {
			ch = append(ch, "node "+t.NodeID)
		}
		if t.SpecVersion != o.SpecVersion {
			ch = append(ch, fmt.Sprintf("v%d", t.SpecVersion))
		}
		if t.Status.State != o.Status.State || t.Status.Err != o.Status.Err {
			s := string(t.Status.State)
			if t.Status.Err != "" {
				s += ": " + t.Status.Err
			}
			ch = append(ch, s)
		}
		out = append(out, fmt.Sprintf("update %s: %s", t.ID, strings.Join(ch, ", ")))
	}
	for _, id := range p.Delete {
		out = append(out, "delete "+id)
	}
	for _, svc := range p.Services {
		st := svc.UpdateStatus
		out = append(out, fmt.Sprintf("status %s v%d: %s batch %v%v updated %d failures %d", svc.ID, svc.SpecVersion,
			st.State, st.BatchSlots, st.BatchNodes, st.Updated, st.Failures))
	}
	if !p.WakeAt.IsZero() {
		out = append(out, fmt.Sprintf("wake +%s", p.WakeAt.Sub(in.Now)))
	}
	slices.Sort(out)
	return out
}

// check runs Reconcile on in and compares the described plan with want.
func check(t *testing.T, in Input, want ...string) Plan {
	t.Helper()
	if in.Now.IsZero() {
		in.Now = t0
	}
	p := Reconcile(in, ids())
	got := describe(in, p)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return p
}

// apply writes a plan into a task list as the store would (CreatedAt from
// now), returning the new list.
func apply(tasks []*types.Task, p Plan, now time.Time) []*types.Task {
	gone := make(map[string]bool)
	for _, id := range p.Delete {
		gone[id] = true
	}
	upd := make(map[string]*types.Task)
	for _, t := range p.Update {
		upd[t.ID] = t
	}
	var out []*types.Task
	for _, t := range tasks {
		if gone[t.ID] {
			continue
		}
		if u, ok := upd[t.ID]; ok {
			c := *u
			c.UpdatedAt = now
			t = &c
		}
		out = append(out, t)
	}
	for _, t := range p.Create {
		c := *t
		c.CreatedAt, c.UpdatedAt = now, now
		out = append(out, &c)
	}
	return out
}

// agents plays every reachable node's agent: assigned tasks start running,
// tasks wanted stopped stop.
func agents(nodes []*types.Node, tasks []*types.Task, now time.Time) []*types.Task {
	up := make(map[string]bool)
	for _, n := range nodes {
		up[n.ID] = n.Status != types.NodeDown
	}
	out := make([]*types.Task, len(tasks))
	for k, t := range tasks {
		out[k] = t
		if !up[t.NodeID] || !assigned(t) || t.Status.State.Terminal() {
			continue
		}
		c := *t
		switch {
		case t.DesiredState.Rank() > types.TaskRunning.Rank():
			c.Status = types.TaskStatus{State: types.TaskShutdown, Timestamp: now}
		case t.Status.State != types.TaskRunning:
			c.Status = types.TaskStatus{State: types.TaskRunning, Timestamp: now}
		default:
			continue
		}
		out[k] = &c
	}
	return out
}
