package rollout

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// Images the simulated agents treat specially.
const (
	imgBad    = "img:bad"    // runs, then fails a round later
	imgReject = "img:reject" // rejected on its node
	imgSick   = "img:sick"   // runs, never healthy, then fails as unhealthy
	imgSlow   = "img:slow"   // takes three rounds to start
)

// updCfg builds an update (or rollback) config; zero fields keep defaults.
func updCfg(par uint64, delay, monitor time.Duration, order, action string, ratio float64) types.UpdateConfig {
	return types.UpdateConfig{Parallelism: &par, Delay: delay, Monitor: monitor, Order: order,
		FailureAction: action, MaxFailureRatio: ratio}
}

// changeImage returns a copy of svc as the agent writes it when the image
// changes: new template and SpecVersion, the old spec kept, an update begun.
func changeImage(svc *types.Service, image string, now time.Time) *types.Service {
	c := svc.Copy()
	prev := c.Spec.Copy()
	c.PreviousSpec = &prev
	c.Spec.Task.Image = image
	c.SpecVersion++
	c.UpdateStatus = BeginUpdate(svc.UpdateStatus, now, false)
	return c
}

// sim plays the leader and the node agents around Reconcile. Each round
// reconciles, applies the plan as the store would, then lets the agents
// act; time advances by a second per round, or jumps to the plan's WakeAt
// when nothing happened. It checks the invariants of rolling updates on
// every round.
type sim struct {
	t     *testing.T
	in    Input
	start time.Time
	next  int
	log   []string
	// batches counts, per update run (service ID and StartedAt), how many
	// times each slot was put into a batch.
	batches map[string]int
	// stopLag is how many rounds an agent takes to stop a task.
	stopLag  int
	stopping map[string]int
	// allowRetire allows plans to stop up-to-date running tasks (scale down).
	allowRetire bool
	// lose, if set, says whether to lose this round's plan, as a leader
	// that fails before committing it would.
	lose func() bool
}

func newSim(t *testing.T, in Input) *sim {
	if in.Now.IsZero() {
		in.Now = t0
	}
	return &sim{t: t, in: in, start: in.Now, batches: map[string]int{}, stopping: map[string]int{}}
}

// service returns the current copy of service id.
func (s *sim) service(id string) *types.Service {
	for _, svc := range s.in.Services {
		if svc.ID == id {
			return svc
		}
	}
	s.t.Fatalf("no service %s", id)
	return nil
}

// setService replaces a service (as a user's write would).
func (s *sim) setService(svc *types.Service) {
	for k, old := range s.in.Services {
		if old.ID == svc.ID {
			s.in.Services[k] = svc
			return
		}
	}
	s.in.Services = append(s.in.Services, svc)
}

// round runs one reconcile/apply/agents round and reports whether
// anything changed; it returns the plan.
func (s *sim) round() (Plan, bool) {
	s.t.Helper()
	start := s.next
	p := Reconcile(s.in, seqIDs(&s.next))
	s.checkPlan(p, start)
	if s.lose != nil && s.lose() {
		return p, true
	}
	s.record(p)
	s.in.Tasks = apply(s.in.Tasks, p, s.in.Now)
	s.applyServices(p)
	acted := s.agents()
	s.checkState()
	return p, !p.Empty() || acted
}

// run plays rounds until nothing changes and nothing is due, or until
// the condition (if any) holds, for at most n rounds.
func (s *sim) run(n int, until func() bool) {
	s.t.Helper()
	for range n {
		if until != nil && until() {
			return
		}
		p, changed := s.round()
		if s.t.Failed() {
			s.t.FailNow()
		}
		switch {
		case changed:
			s.in.Now = s.in.Now.Add(time.Second)
		case p.WakeAt.IsZero():
			return
		default:
			s.in.Now = p.WakeAt
		}
	}
	s.t.Fatalf("no fixed point after %d rounds:\n%s", n, strings.Join(s.log, "\n"))
}

// steps plays n rounds.
func (s *sim) steps(n int) {
	s.t.Helper()
	for range n {
		if _, changed := s.round(); changed {
			s.in.Now = s.in.Now.Add(time.Second)
		}
	}
}

// runFor plays rounds for d of simulated time, or until nothing changes.
func (s *sim) runFor(d time.Duration) {
	s.t.Helper()
	end := s.in.Now.Add(d)
	s.run(10000, func() bool { return !s.in.Now.Before(end) })
}

func (s *sim) at() string { return fmt.Sprintf("+%s", s.in.Now.Sub(s.start)) }

func (s *sim) state(id string) types.UpdateState {
	if st := s.service(id).UpdateStatus; st != nil {
		return st.State
	}
	return ""
}

// record logs what a plan does: new tasks (name and version), stops of
// live tasks and status changes.
func (s *sim) record(p Plan) {
	orig := make(map[string]*types.Task)
	for _, t := range s.in.Tasks {
		orig[t.ID] = t
	}
	var lines []string
	for _, t := range p.Create {
		lines = append(lines, fmt.Sprintf("%s start %s v%d", s.at(), taskName(t), t.SpecVersion))
	}
	for _, t := range p.Update {
		if o := orig[t.ID]; live(o) && !live(t) {
			lines = append(lines, fmt.Sprintf("%s stop %s v%d", s.at(), taskName(o), o.SpecVersion))
		}
	}
	slices.Sort(lines)
	for _, svc := range p.Services {
		old := s.service(svc.ID)
		st := svc.UpdateStatus
		if old.UpdateStatus == nil || old.UpdateStatus.State != st.State || old.UpdateStatus.Message != st.Message {
			lines = append(lines, fmt.Sprintf("%s %s %s: %s", s.at(), svc.ID, st.State, st.Message))
		}
		var prev []string
		if old.UpdateStatus != nil && old.UpdateStatus.StartedAt.Equal(st.StartedAt) {
			prev = batchKeys(old.UpdateStatus)
		}
		for _, k := range batchKeys(st) {
			if !slices.Contains(prev, k) {
				s.batches[fmt.Sprintf("%s@%s/%s", svc.ID, st.StartedAt.Format(time.RFC3339Nano), k)]++
			}
		}
	}
	s.log = append(s.log, lines...)
}

func batchKeys(st *types.UpdateStatus) []string {
	out := slices.Clone(st.BatchNodes)
	for _, n := range st.BatchSlots {
		out = append(out, fmt.Sprint(n))
	}
	return out
}

func taskName(t *types.Task) string {
	if t.Slot == 0 {
		return t.ServiceName + "." + t.NodeID
	}
	return fmt.Sprintf("%s.%d", t.ServiceName, t.Slot)
}

// applyServices writes the plan's services as the store would: only if
// the version they were read at is still current.
func (s *sim) applyServices(p Plan) {
	for _, svc := range p.Services {
		old := s.service(svc.ID)
		if old.Version != svc.Version {
			s.t.Fatalf("service %s written at version %d, store has %d", svc.ID, svc.Version, old.Version)
		}
		c := svc.Copy()
		c.Version++
		s.setService(c)
	}
}

// agents plays the node agents: assigned tasks start (as their image
// says), tasks told to stop stop (after stopLag rounds). It reports
// whether any task changed.
func (s *sim) agents() bool {
	up := make(map[string]bool)
	for _, n := range s.in.Nodes {
		up[n.ID] = n.Status != types.NodeDown
	}
	acted := false
	for k, t := range s.in.Tasks {
		if !up[t.NodeID] || !assigned(t) || t.Status.State.Terminal() {
			continue
		}
		st, ok := s.agentStep(t)
		if !ok {
			acted = acted || s.stopping[t.ID] > 0 // still stopping: time must pass
			continue
		}
		st.Timestamp = s.in.Now
		c := *t
		c.Status = st
		s.in.Tasks[k] = &c
		acted = true
	}
	return acted
}

func (s *sim) agentStep(t *types.Task) (types.TaskStatus, bool) {
	if t.DesiredState.Rank() > types.TaskRunning.Rank() {
		if s.stopping[t.ID] < s.stopLag {
			s.stopping[t.ID]++
			return types.TaskStatus{}, false
		}
		return types.TaskStatus{State: types.TaskShutdown, ContainerID: t.ID}, true
	}
	img := t.Spec.Image
	switch {
	case img == imgReject:
		return types.TaskStatus{State: types.TaskRejected, Err: "no such image"}, true
	case img == imgBad && t.Status.State == types.TaskRunning:
		return types.TaskStatus{State: types.TaskFailed, ExitCode: 1, Err: "task: non-zero exit (1)"}, true
	case img == imgSick && t.Status.State != types.TaskRunning:
		f := false
		return types.TaskStatus{State: types.TaskRunning, Healthy: &f}, true
	case img == imgSick: // the agent fails a task whose checks keep failing
		f := false
		return types.TaskStatus{State: types.TaskFailed, Healthy: &f, Err: "task: container unhealthy"}, true
	case img == imgSlow && t.Status.State.Rank() < types.TaskStarting.Rank():
		next := map[types.TaskState]types.TaskState{types.TaskAssigned: types.TaskPreparing, types.TaskPreparing: types.TaskStarting}
		return types.TaskStatus{State: next[t.Status.State]}, true
	case t.Status.State != types.TaskRunning:
		return types.TaskStatus{State: types.TaskRunning}, true
	}
	return types.TaskStatus{}, false
}

// checkPlan checks a plan: deterministic, the same from a snapshot that
// went through the store's encoding (a new leader), never stopping a
// running up-to-date task (unless allowed), services written at the
// version read.
func (s *sim) checkPlan(p Plan, start int) {
	t := s.t
	t.Helper()
	again := start
	if p2 := Reconcile(s.in, seqIDs(&again)); !reflect.DeepEqual(p, p2) {
		t.Fatalf("%s: Reconcile is not deterministic", s.at())
	}
	again = start
	if p2 := Reconcile(roundTrip(t, s.in), seqIDs(&again)); !samePlan(t, p, p2) {
		t.Fatalf("%s: a new leader (same snapshot through JSON) plans differently:\n%s\n%s", s.at(), jsonOf(t, p), jsonOf(t, p2))
	}
	if !p.WakeAt.IsZero() && !p.WakeAt.After(s.in.Now) {
		t.Fatalf("%s: WakeAt %v is not after now", s.at(), p.WakeAt)
	}
	svcs := make(map[string]*types.Service)
	for _, svc := range s.in.Services {
		svcs[svc.ID] = svc
	}
	for _, svc := range p.Services {
		svcs[svc.ID] = svc
	}
	orig := make(map[string]*types.Task)
	for _, tsk := range s.in.Tasks {
		orig[tsk.ID] = tsk
	}
	for _, u := range p.Update {
		o, svc := orig[u.ID], svcs[u.ServiceID]
		if !s.allowRetire && live(o) && !live(u) && o.Status.State == types.TaskRunning && svc != nil &&
			!newTemplates(svc).outdated(o) {
			t.Fatalf("%s: plan stops %s, which runs the current spec:\n%s", s.at(), taskName(o), strings.Join(s.log, "\n"))
		}
	}
}

// checkState checks the store after a round: a stop-first service never
// has two tasks of one slot on nodes at once, and no batch is larger
// than the update's parallelism.
func (s *sim) checkState() {
	t := s.t
	t.Helper()
	for _, svc := range s.in.Services {
		st := svc.UpdateStatus
		if st == nil {
			continue
		}
		cfg := effectiveConfig(svc.Spec.Update, false)
		limit := cfg.Batch()
		if rollingBack(st.State) { // the batch in flight when it began may be larger
			cfg = effectiveConfig(svc.Spec.Rollback, true)
			if limit > 0 && cfg.Batch() > 0 {
				limit = max(limit, cfg.Batch())
			} else {
				limit = 0
			}
		}
		if n := len(st.BatchSlots) + len(st.BatchNodes); limit > 0 && uint64(n) > limit {
			t.Fatalf("%s: %s has %d slots in the batch %+v, parallelism %d\n%s", s.at(), svc.ID, n, *st, limit,
				strings.Join(s.log, "\n"))
		}
		if n := s.acting(svc); limit > 0 && !s.allowRetire && n > int(limit) {
			t.Fatalf("%s: %s is replacing %d slots at once, parallelism %d\n%s", s.at(), svc.ID, n, limit,
				strings.Join(s.log, "\n"))
		}
		if cfg.Order == OrderStartFirst {
			continue
		}
		active := map[string][]string{}
		for _, tsk := range s.in.Tasks {
			if tsk.ServiceID == svc.ID && assigned(tsk) && !tsk.Status.State.Terminal() {
				active[taskName(tsk)] = append(active[taskName(tsk)], tsk.ID)
			}
		}
		for name, ids := range active {
			if len(ids) > 1 {
				t.Fatalf("%s: stop-first slot %s has %d tasks on nodes: %v\n%s", s.at(), name, len(ids), ids,
					strings.Join(s.log, "\n"))
			}
		}
	}
}

// acting counts, independently of the updater's own records, the slots
// of svc where a replacement is visibly under way: an old task (another
// image than the spec's) told to stop and not yet stopped, or a slot
// running an old and a new task side by side.
func (s *sim) acting(svc *types.Service) int {
	slots := map[string]bool{}
	liveOld, liveNew := map[string]bool{}, map[string]bool{}
	for _, tsk := range s.in.Tasks {
		if tsk.ServiceID != svc.ID {
			continue
		}
		old, name := tsk.Spec.Image != svc.Spec.Task.Image, taskName(tsk)
		switch {
		case old && assigned(tsk) && !tsk.Status.State.Terminal() && tsk.DesiredState.Rank() > types.TaskRunning.Rank():
			slots[name] = true
		case live(tsk) && old:
			liveOld[name] = true
		case live(tsk):
			liveNew[name] = true
		}
	}
	for name := range liveOld {
		if liveNew[name] {
			slots[name] = true
		}
	}
	return len(slots)
}

// checkDone checks that service id finished in state want: every slot
// holds exactly one live task, of the current template and version,
// running; no slot was put in a batch twice by one update run.
func (s *sim) checkDone(id string, want types.UpdateState, slots int) {
	t := s.t
	t.Helper()
	svc := s.service(id)
	if svc.UpdateStatus == nil || svc.UpdateStatus.State != want {
		t.Fatalf("status %+v, want %s\n%s", svc.UpdateStatus, want, strings.Join(s.log, "\n"))
	}
	if n := len(svc.UpdateStatus.BatchSlots) + len(svc.UpdateStatus.BatchNodes); n != 0 {
		t.Fatalf("%d slots still in the batch after %s", n, want)
	}
	perSlot := map[string]int{}
	for _, tsk := range s.in.Tasks {
		if tsk.ServiceID != id || !live(tsk) {
			continue
		}
		perSlot[taskName(tsk)]++
		if tsk.SpecVersion != svc.SpecVersion || tsk.Spec.Image != svc.Spec.Task.Image || tsk.Status.State != types.TaskRunning {
			t.Fatalf("task %s: v%d %s %s, want v%d %s running", taskName(tsk), tsk.SpecVersion, tsk.Spec.Image,
				tsk.Status.State, svc.SpecVersion, svc.Spec.Task.Image)
		}
	}
	if len(perSlot) != slots {
		t.Fatalf("%d slots hold live tasks, want %d: %v", len(perSlot), slots, perSlot)
	}
	for name, n := range perSlot {
		if n != 1 {
			t.Fatalf("slot %s holds %d live tasks", name, n)
		}
	}
	for k, n := range s.batches {
		if n > 1 {
			t.Fatalf("slot %s put in a batch %d times by one update\n%s", k, n, strings.Join(s.log, "\n"))
		}
	}
}

// roundTrip passes an input through JSON, as a new leader reads the store.
func roundTrip(t *testing.T, in Input) Input {
	t.Helper()
	var out Input
	if err := json.Unmarshal(jsonOf(t, in), &out); err != nil {
		t.Fatalf("decode snapshot: %v", err)
	}
	return out
}

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// samePlan compares plans as the store would hold them.
func samePlan(t *testing.T, a, b Plan) bool {
	return string(jsonOf(t, a)) == string(jsonOf(t, b))
}
