package rollout

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/placement"
	"github.com/shoal-org/shoal/api/types"
)

// TestConvergence reconciles random clusters, applying each plan and
// letting simulated agents act, until nothing changes; the state reached
// must satisfy the rules, and reconciling it later must not start churning.
func TestConvergence(t *testing.T) {
	for seed := range uint64(400) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			in := randomInput(rng)
			next := 0
			in = converge(t, in, &next, rng)
			if t.Failed() {
				return
			}
			checkInvariants(t, in)
			// An hour later, with nothing pending, only history may go.
			in.Now = in.Now.Add(time.Hour)
			p := Reconcile(in, seqIDs(&next))
			if len(p.Create) != 0 || len(p.Update) != 0 || !p.WakeAt.IsZero() {
				t.Fatalf("an hour later: %v", describe(in, p))
			}
		})
	}
}

// converge runs reconcile/apply/agents rounds until a fixed point. In
// the first rounds, running tasks also fail at random.
func converge(t *testing.T, in Input, next *int, rng *rand.Rand) Input {
	t.Helper()
	for round := range 100 {
		start := *next
		p := Reconcile(in, seqIDs(next))
		again := start
		if p2 := Reconcile(in, seqIDs(&again)); !reflect.DeepEqual(p, p2) {
			t.Fatalf("round %d: Reconcile is not deterministic", round)
		}
		if !p.WakeAt.IsZero() && !p.WakeAt.After(in.Now) {
			t.Fatalf("round %d: WakeAt %v is not after now %v", round, p.WakeAt, in.Now)
		}
		tasks := apply(in.Tasks, p, in.Now)
		acted := agents(in.Nodes, tasks, in.Now)
		if round < 10 {
			acted = crash(rng, acted, in.Now)
		}
		if p.Empty() && slices.Equal(acted, in.Tasks) {
			if p.WakeAt.IsZero() {
				return in
			}
			in.Now = p.WakeAt
			continue
		}
		in.Tasks = acted
		in.Now = in.Now.Add(time.Millisecond)
	}
	t.Fatalf("no fixed point after 100 rounds")
	return in
}

// crash makes some running tasks fail or complete.
func crash(rng *rand.Rand, tasks []*types.Task, now time.Time) []*types.Task {
	out := slices.Clone(tasks)
	for k, t := range out {
		if t.Status.State == types.TaskRunning && rng.IntN(5) == 0 {
			c := *t
			c.Status = types.TaskStatus{State: pick(rng, types.TaskFailed, types.TaskComplete),
				Timestamp: now, ExitCode: rng.IntN(2)}
			out[k] = &c
		}
	}
	return out
}

func seqIDs(next *int) func() string {
	return func() string { *next++; return fmt.Sprintf("t%06d", *next) }
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

func randomInput(rng *rand.Rand) Input {
	in := Input{Now: t0, HistoryLimit: rng.IntN(4)}
	for i := range 1 + rng.IntN(7) {
		n := nd(fmt.Sprintf("n%d", i))
		n.Status = pick(rng, types.NodeReady, types.NodeReady, types.NodeReady, types.NodeDown, types.NodeUnknown)
		n.Availability = pick(rng, types.AvailabilityActive, types.AvailabilityActive, types.AvailabilityActive,
			types.AvailabilityPause, types.AvailabilityDrain)
		n.Labels = map[string]string{"env": pick(rng, "prod", "test"), "zone": pick(rng, "a", "b")}
		n.Resources.NanoCPUs = pick[int64](rng, 0, 2e9, 8e9)
		in.Nodes = append(in.Nodes, n)
	}
	for i := range 1 + rng.IntN(4) {
		in.Services = append(in.Services, randomService(rng, fmt.Sprintf("s%d", i)))
	}
	nodeIDs := []string{"gone", ""}
	for _, n := range in.Nodes {
		nodeIDs = append(nodeIDs, n.ID)
	}
	removed := rep("removed", 2)
	for _, s := range append(in.Services, removed) {
		if s.Spec.Mode.Global {
			for _, node := range nodeIDs { // slot 1 holds strays
				in.Tasks = append(in.Tasks, randomSlot(rng, s, pick(rng, 0, 0, 0, 0, 1), node)...)
			}
			continue
		}
		for slot := range 6 { // slot 0 holds strays
			in.Tasks = append(in.Tasks, randomSlot(rng, s, slot, pick(rng, nodeIDs...))...)
		}
	}
	return in
}

func randomService(rng *rand.Rand, id string) *types.Service {
	s := rep(id, uint64(rng.IntN(6)))
	s.Spec.Mode.Global = rng.IntN(4) == 0
	s.SpecVersion = uint64(1 + rng.IntN(2))
	tt := &s.Spec.Task
	if rng.IntN(3) == 0 {
		tt.Placement.Constraints = []string{"node.labels.env==prod"}
	}
	if rng.IntN(4) == 0 {
		tt.Placement.Preferences = []string{"node.labels.zone"}
	}
	if rng.IntN(4) == 0 {
		tt.Placement.MaxReplicas = uint64(1 + rng.IntN(2))
	}
	if rng.IntN(4) == 0 {
		tt.Reservations.NanoCPUs = 1e9
	}
	tt.RestartPolicy = types.RestartPolicy{
		Condition:   pick(rng, "", ConditionAny, ConditionOnFailure, ConditionNone),
		Delay:       pick(rng, 0, time.Second, 10*time.Second),
		MaxAttempts: uint64(pick(rng, 0, 0, 1, 3)),
		Window:      pick(rng, 0, time.Minute),
	}
	return s
}

// randomSlot makes a few tasks for one slot: history, then at most one
// task that may still be live, in any state.
func randomSlot(rng *rand.Rand, s *types.Service, slot int, node string) []*types.Task {
	var out []*types.Task
	n := rng.IntN(4)
	for k := range n {
		t := tk(fmt.Sprintf("%s-%d-%s-%d", s.ID, slot, node, k), s, slot, node)
		t.SpecVersion = uint64(1 + rng.IntN(2))
		// Created in order, each running for a random while.
		start := t0.Add(-time.Duration(n-k) * 20 * time.Minute)
		t.CreatedAt = start
		t.Status.Timestamp = start.Add(time.Duration(rng.IntN(1200)) * time.Second)
		if k == n-1 && rng.IntN(2) == 0 {
			t.Status.Timestamp = t0.Add(-time.Duration(rng.IntN(30)) * time.Second)
		}
		t.Status.ExitCode = rng.IntN(2)
		if k < n-1 {
			t.DesiredState = types.TaskShutdown
			t.Status.State = pick(rng, types.TaskShutdown, types.TaskFailed, types.TaskComplete, types.TaskOrphaned)
		} else {
			t.DesiredState = pick(rng, types.TaskRunning, types.TaskRunning, types.TaskShutdown)
			t.Status.State = pick(rng, types.TaskNew, types.TaskPending, types.TaskAssigned, types.TaskStarting,
				types.TaskRunning, types.TaskRunning, types.TaskFailed, types.TaskComplete, types.TaskRejected,
				types.TaskShutdown, types.TaskOrphaned)
		}
		out = append(out, t)
	}
	return out
}

// checkInvariants verifies the rules on a converged state, with an oracle
// written independently of Reconcile's own slot logic.
func checkInvariants(t *testing.T, in Input) {
	t.Helper()
	o := oracle{t: t, in: in, nodes: map[string]*types.Node{}, services: map[string]*types.Service{}}
	for _, n := range in.Nodes {
		o.nodes[n.ID] = n
	}
	for _, s := range in.Services {
		o.services[s.ID] = s
	}
	slots := make(map[slotKey][]*types.Task)
	for _, tsk := range in.Tasks {
		s := o.checkTask(tsk)
		k := slotKey{svc: s.ID, slot: tsk.Slot}
		if s.Spec.Mode.Global {
			k.node = tsk.NodeID
		}
		slots[k] = append(slots[k], tsk)
	}
	occupied := make(map[string]int)
	for k, ts := range slots {
		if o.checkSlot(k, ts) {
			occupied[k.svc]++
		}
	}
	for _, s := range in.Services {
		want := int(s.Spec.Mode.Replicas)
		if s.Spec.Mode.Global {
			want = 0
			for _, n := range in.Nodes {
				if eligible(n, s) {
					want++
					if ts := slots[slotKey{svc: s.ID, node: n.ID}]; len(ts) == 0 {
						t.Fatalf("global service %s has no task on eligible node %s", s.ID, n.ID)
					}
				}
			}
		}
		if occupied[s.ID] != want {
			t.Fatalf("service %s: %d occupied slots, want %d", s.ID, occupied[s.ID], want)
		}
	}
}

type oracle struct {
	t        *testing.T
	in       Input
	nodes    map[string]*types.Node
	services map[string]*types.Service
}

type slotKey struct {
	svc  string
	slot int
	node string
}

// checkTask checks one task's own state and returns its service.
func (o *oracle) checkTask(tsk *types.Task) *types.Service {
	t := o.t
	s, ok := o.services[tsk.ServiceID]
	if !ok {
		t.Fatalf("task %s of removed service %s still stored", tsk.ID, tsk.ServiceID)
	}
	n := o.nodes[tsk.NodeID]
	if assigned(tsk) && !tsk.Status.State.Terminal() && (n == nil || n.Status == types.NodeDown) {
		t.Fatalf("task %s still active on lost node %q", tsk.ID, tsk.NodeID)
	}
	if live(tsk) && assigned(tsk) && !keeps(n, tsk) {
		t.Fatalf("live task %s on node %s that may not keep it", tsk.ID, tsk.NodeID)
	}
	if live(tsk) && !assigned(tsk) {
		if tsk.Status.State != types.TaskPending || tsk.Status.Err == "" {
			t.Fatalf("unassigned task %s has status %+v", tsk.ID, tsk.Status)
		}
		if node := fits(o.in, s, tsk); node != "" {
			t.Fatalf("task %s pending (%s) although node %s fits", tsk.ID, tsk.Status.Err, node)
		}
	}
	return s
}

// checkSlot checks one slot's tasks and reports whether the slot counts
// towards its service's tasks.
func (o *oracle) checkSlot(k slotKey, ts []*types.Task) bool {
	t := o.t
	slices.SortFunc(ts, func(a, b *types.Task) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	nLive := 0
	for _, tsk := range ts {
		if live(tsk) {
			nLive++
		}
	}
	s, newest := o.services[k.svc], ts[len(ts)-1]
	if nLive > 1 {
		t.Fatalf("slot %+v has %d live tasks", k, nLive)
	}
	if n, most := countFinished(ts), historyBound(o.in, s); n > most {
		t.Fatalf("slot %+v keeps %d finished tasks, want at most %d", k, n, most)
	}
	if n := o.nodes[k.node]; s.Spec.Mode.Global && (n == nil || n.Availability == types.AvailabilityDrain ||
		!keeps(n, newest) && n.Status != types.NodeDown) {
		t.Fatalf("global slot %+v on a node that cannot run it still holds %s", k, newest.ID)
	}
	if s.Spec.Mode.Global && !eligible(o.nodes[k.node], s) {
		return false // a paused, down or unknown node keeps what it has
	}
	if nLive == 0 && endedOnOwn(newest) {
		if !restartBlocked(s, ts, o.in.Now) {
			t.Fatalf("slot %+v: %s ended and should have been restarted", k, newest.ID)
		}
		if newest.DesiredState != types.TaskShutdown {
			t.Fatalf("slot %+v: %s ended without restart but is still desired %s", k, newest.ID, newest.DesiredState)
		}
	}
	return nLive == 1 || endedOnOwn(newest)
}

func countFinished(ts []*types.Task) int {
	n := 0
	for _, t := range ts {
		if t.Status.State.Terminal() && t.DesiredState == types.TaskShutdown {
			n++
		}
	}
	return n
}

// historyBound is the most finished tasks a slot may keep: the newest
// ones, as many as the limit or the backoff's streak, plus those that
// MaxAttempts counts.
func historyBound(in Input, s *types.Service) int {
	limit := in.HistoryLimit
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	p := s.Spec.Task.RestartPolicy
	return max(limit, backoffDepth(p)) + int(p.MaxAttempts) + 1
}

// restartBlocked is the oracle for "the restart policy forbids restarting
// the newest of ts (oldest first) now".
func restartBlocked(s *types.Service, ts []*types.Task, now time.Time) bool {
	p, last := s.Spec.Task.RestartPolicy, ts[len(ts)-1]
	ok := last.Status.State == types.TaskComplete && last.Status.ExitCode == 0
	switch {
	case p.Condition == ConditionNone, p.Condition == ConditionOnFailure && ok:
		return true
	case p.MaxAttempts == 0:
		return false
	}
	var n uint64
	for _, t := range ts {
		st := t.Status.State
		ended := st == types.TaskFailed || st == types.TaskComplete || st == types.TaskRejected
		if ended && t.SpecVersion == s.SpecVersion && (p.Window == 0 || now.Sub(t.Status.Timestamp) < p.Window) {
			n++
		}
	}
	return n > p.MaxAttempts
}

// keeps is the oracle for "a task may stay on node n".
func keeps(n *types.Node, t *types.Task) bool {
	if n == nil || n.Status == types.NodeDown || n.Availability == types.AvailabilityDrain {
		return false
	}
	cs, err := placement.ParseConstraints(t.Spec.Placement.Constraints)
	if err != nil {
		return true
	}
	for _, c := range cs {
		if !c.Match(n) {
			return false
		}
	}
	return true
}

// eligible is the oracle for "a new task of s may go on n", capacity aside.
func eligible(n *types.Node, s *types.Service) bool {
	if n == nil || n.Status != types.NodeReady || n.Availability != types.AvailabilityActive {
		return false
	}
	cs, _ := placement.ParseConstraints(s.Spec.Task.Placement.Constraints)
	for _, c := range cs {
		if !c.Match(n) {
			return false
		}
	}
	return true
}

// fits returns a node where one more task of s would fit, or "" (for a
// global task, only its own node is considered).
func fits(in Input, s *types.Service, pending *types.Task) string {
	for _, n := range in.Nodes {
		if !eligible(n, s) || s.Spec.Mode.Global && n.ID != pending.NodeID {
			continue
		}
		var cpu int64
		var same uint64
		for _, t := range in.Tasks {
			if t.NodeID != n.ID || !assigned(t) || t.Status.State.Terminal() {
				continue
			}
			cpu += t.Spec.Reservations.NanoCPUs
			if t.ServiceID == s.ID && live(t) {
				same++
			}
		}
		req := s.Spec.Task.Reservations.NanoCPUs
		if req > 0 && cpu+req > n.Resources.NanoCPUs {
			continue
		}
		if m := s.Spec.Task.Placement.MaxReplicas; m > 0 && same >= m {
			continue
		}
		return n.ID
	}
	return ""
}
