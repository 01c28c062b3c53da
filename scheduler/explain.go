package scheduler

import (
	"fmt"
	"slices"
	"strings"
)

// Reason is one part of a placement failure: what rejected how many nodes.
type Reason struct {
	Text  string // e.g. "insufficient resources on 2 nodes"
	Nodes int
}

// PlacementError says why a task could not be placed, per filter, as swarm
// does. It unwraps to ErrNoSuitableNode.
type PlacementError struct {
	Reasons []Reason // most rejections first
}

func (e *PlacementError) Error() string {
	if len(e.Reasons) == 0 {
		return "no suitable node (no nodes in the cluster)"
	}
	parts := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		parts[i] = r.Text
	}
	return "no suitable node (" + strings.Join(parts, "; ") + ")"
}

// Unwrap returns ErrNoSuitableNode.
func (e *PlacementError) Unwrap() error { return ErrNoSuitableNode }

// explain describes, for the current counts, why no node takes one more
// task: every node is charged to the first filter that rejects it.
func (s *Scheduler) explain(sp *spec, counts []int32) *PlacementError {
	var byFilter [fPass]int
	for i := range s.nodes {
		if f := s.check(int32(i), sp, counts); f != fPass {
			byFilter[f]++
		}
	}
	e := &PlacementError{}
	for f, n := range byFilter {
		if n > 0 {
			e.Reasons = append(e.Reasons, Reason{Text: filter(f).explain(n), Nodes: n})
		}
	}
	// Stable: equal counts keep the pipeline's order.
	slices.SortStableFunc(e.Reasons, func(a, b Reason) int { return b.Nodes - a.Nodes })
	return e
}

// explain words a filter's rejections of n nodes, as swarm words them.
func (f filter) explain(n int) string {
	nodes := fmt.Sprintf("%d nodes", n)
	if n == 1 {
		nodes = "1 node"
	}
	switch f {
	case fAvailable:
		return nodes + " not available for new tasks"
	case fConstraints:
		return "scheduling constraints not satisfied on " + nodes
	case fPlatform:
		return "unsupported platform on " + nodes
	case fResources:
		return "insufficient resources on " + nodes
	case fMaxReplicas:
		return "max replicas per node limit exceeded on " + nodes
	}
	return "rejected by an unknown filter on " + nodes
}
