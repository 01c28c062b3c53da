package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shoal-org/shoal/api/placement"
	"github.com/shoal-org/shoal/api/types"
)

// ErrNoSuitableNode is wrapped by every *PlacementError.
var ErrNoSuitableNode = errors.New("no suitable node")

// Scheduler places tasks on a fixed set of nodes, keeping per-node counts
// up to date as it places. Build one per plan with New; it is not safe for
// concurrent use.
type Scheduler struct {
	nodes    []*types.Node // sorted by ID; a node's index orders ties
	index    map[string]int32
	total    []int32           // live tasks per node
	reserved []types.Resources // reservations of non-terminal tasks per node
	counts   map[string][]int32
	specs    map[specKey]*spec
}

// specKey identifies a task template: a service's spec at one version.
type specKey struct {
	service string
	version uint64
}

// spec is a task template's placement, parsed once per Scheduler.
type spec struct {
	constraints []placement.Constraint
	prefs       []string
	platforms   []types.Platform
	maxReplicas uint64
	binpack     bool
	req         types.Resources
	err         error
}

// New returns a Scheduler over nodes and tasks. Tasks that are terminal or
// not yet assigned (status below assigned), or whose node is not in nodes,
// are ignored, so callers may pass every task. New keeps references to the
// nodes; neither nodes nor tasks may change while the Scheduler is in use.
func New(nodes []*types.Node, tasks []*types.Task) *Scheduler {
	s := &Scheduler{
		nodes:  slices.Clone(nodes),
		index:  make(map[string]int32, len(nodes)),
		counts: make(map[string][]int32),
		specs:  make(map[specKey]*spec),
	}
	slices.SortFunc(s.nodes, func(a, b *types.Node) int { return strings.Compare(a.ID, b.ID) })
	for i, n := range s.nodes {
		s.index[n.ID] = int32(i)
	}
	s.total = make([]int32, len(s.nodes))
	s.reserved = make([]types.Resources, len(s.nodes))
	for _, t := range tasks {
		st := t.Status.State
		if t.NodeID == "" || st.Terminal() || st.Rank() < types.TaskAssigned.Rank() {
			continue
		}
		i, ok := s.index[t.NodeID]
		if !ok {
			continue
		}
		s.reserved[i].NanoCPUs += t.Spec.Reservations.NanoCPUs
		s.reserved[i].MemoryBytes += t.Spec.Reservations.MemoryBytes
		if t.DesiredState.Rank() <= types.TaskRunning.Rank() {
			s.total[i]++
			s.countsFor(t.ServiceID)[i]++
		}
	}
	return s
}

func (s *Scheduler) countsFor(serviceID string) []int32 {
	c, ok := s.counts[serviceID]
	if !ok {
		c = make([]int32, len(s.nodes))
		s.counts[serviceID] = c
	}
	return c
}

// specFor parses the placement of template t (service id at version) once;
// a service's template at a given SpecVersion never changes.
func (s *Scheduler) specFor(id string, version uint64, t *types.TaskTemplate) *spec {
	k := specKey{id, version}
	if sp, ok := s.specs[k]; ok {
		return sp
	}
	sp := &spec{maxReplicas: t.Placement.MaxReplicas, req: t.Reservations}
	sp.constraints, sp.err = placement.ParseConstraints(t.Placement.Constraints)
	if sp.err == nil {
		sp.prefs, sp.err = placement.ParsePreferences(t.Placement.Preferences)
	}
	if sp.err == nil {
		sp.platforms, sp.err = placement.ParsePlatforms(t.Extra[placement.PlatformsKey])
	}
	switch strings.ToLower(t.Placement.Strategy) {
	case "", "spread":
	case "binpack":
		sp.binpack = true
	default:
		if sp.err == nil {
			sp.err = &placement.SpecError{Field: "placement strategy", Expr: t.Placement.Strategy, Reason: "expected spread or binpack"}
		}
	}
	s.specs[k] = sp
	return sp
}

// filter names one step of the placement pipeline.
type filter int

const (
	fAvailable filter = iota
	fConstraints
	fPlatform
	fResources
	fMaxReplicas
	fPass // passed every filter
)

// staticCheck runs the filters that do not depend on counts.
func (s *Scheduler) staticCheck(i int32, sp *spec) filter {
	n := s.nodes[i]
	if n.Status != types.NodeReady || n.Availability != types.AvailabilityActive {
		return fAvailable
	}
	for _, c := range sp.constraints {
		if !c.Match(n) {
			return fConstraints
		}
	}
	if !placement.PlatformOK(sp.platforms, n.Platform) {
		return fPlatform
	}
	return fPass
}

// dynamicCheck runs the filters that change as tasks are placed.
func (s *Scheduler) dynamicCheck(i int32, sp *spec, counts []int32) filter {
	have, used := s.nodes[i].Resources, s.reserved[i]
	if sp.req.NanoCPUs > 0 && used.NanoCPUs+sp.req.NanoCPUs > have.NanoCPUs ||
		sp.req.MemoryBytes > 0 && used.MemoryBytes+sp.req.MemoryBytes > have.MemoryBytes {
		return fResources
	}
	if sp.maxReplicas > 0 && uint64(counts[i]) >= sp.maxReplicas {
		return fMaxReplicas
	}
	return fPass
}

func (s *Scheduler) check(i int32, sp *spec, counts []int32) filter {
	if f := s.staticCheck(i, sp); f != fPass {
		return f
	}
	return s.dynamicCheck(i, sp, counts)
}

// record counts a new task of the service on node i.
func (s *Scheduler) record(i int32, sp *spec, counts []int32) {
	s.total[i]++
	counts[i]++
	s.reserved[i].NanoCPUs += sp.req.NanoCPUs
	s.reserved[i].MemoryBytes += sp.req.MemoryBytes
}

// Place chooses nodes for n new tasks of svc (using svc.Spec.Task) and
// counts them, so later calls see them. It returns one node ID per placed
// task in placement order. When fewer than n fit, it returns those that did
// and a *PlacementError explaining why the next one did not; an invalid
// placement spec returns no nodes and an error wrapping a *SpecError.
func (s *Scheduler) Place(svc *types.Service, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	sp := s.specFor(svc.ID, svc.SpecVersion, &svc.Spec.Task)
	if sp.err != nil {
		return nil, fmt.Errorf("place tasks of service %q: %w", svc.Spec.Name, sp.err)
	}
	counts := s.countsFor(svc.ID)
	root, o := s.buildTree(sp, counts)
	out := make([]string, 0, min(n, 4096)) // n comes from a user's replica count
	for len(out) < n {
		i, ok := root.take(o, sp)
		if !ok {
			return out, s.explain(sp, counts)
		}
		out = append(out, s.nodes[i].ID)
	}
	return out, nil
}

// PlaceOn places one new task of svc on the given node (global services)
// and counts it. It returns a *PlacementError naming the filter that
// rejected the node, or an error wrapping a *SpecError.
func (s *Scheduler) PlaceOn(svc *types.Service, nodeID string) error {
	sp := s.specFor(svc.ID, svc.SpecVersion, &svc.Spec.Task)
	if sp.err != nil {
		return fmt.Errorf("place task of service %q: %w", svc.Spec.Name, sp.err)
	}
	i, ok := s.index[nodeID]
	if !ok {
		return &PlacementError{Reasons: []Reason{{Text: "node " + nodeID + " not found", Nodes: 1}}}
	}
	counts := s.countsFor(svc.ID)
	if f := s.check(i, sp, counts); f != fPass {
		return &PlacementError{Reasons: []Reason{{Text: f.explain(1), Nodes: 1}}}
	}
	s.record(i, sp, counts)
	return nil
}

// Eligible reports whether a new task of svc may go on the node, leaving
// capacity aside: the node is ready and active and meets the service's
// constraints and platforms. Global services run on exactly these nodes.
func (s *Scheduler) Eligible(svc *types.Service, nodeID string) bool {
	i, ok := s.index[nodeID]
	if !ok {
		return false
	}
	sp := s.specFor(svc.ID, svc.SpecVersion, &svc.Spec.Task)
	return sp.err == nil && s.staticCheck(i, sp) == fPass
}

// Keeps reports whether existing task t may stay on its node: the node is
// known and not drained, and it still meets the task's own constraints and
// platforms (t.Spec, not the service's newer spec: changing the template is
// the rolling updater's job). A paused node keeps its tasks; whether the
// node is down is the caller's business. A task whose spec does not parse
// is kept.
func (s *Scheduler) Keeps(t *types.Task) bool {
	i, ok := s.index[t.NodeID]
	if !ok || s.nodes[i].Availability == types.AvailabilityDrain {
		return false
	}
	sp := s.specFor(t.ServiceID, t.SpecVersion, &t.Spec)
	if sp.err != nil {
		return true
	}
	n := s.nodes[i]
	for _, c := range sp.constraints {
		if !c.Match(n) {
			return false
		}
	}
	return placement.PlatformOK(sp.platforms, n.Platform)
}
