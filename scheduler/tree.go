package scheduler

import (
	"github.com/shoal-org/shoal/api/placement"
	"slices"
	"strings"
)

// branch is one node of the preference tree: the candidate nodes sharing a
// value for each preference so far. Leaves hold a heap of the nodes that
// still fit, best first.
type branch struct {
	value    string
	count    int64 // tasks of the service on the branch's candidate nodes
	avail    int   // nodes under the branch that still fit one more task
	parent   *branch
	children []*branch // sorted by value; nil for a leaf
	byValue  map[string]*branch
	heap     []int32
}

// child returns b's branch for value, creating it.
func (b *branch) child(value string) *branch {
	if c, ok := b.byValue[value]; ok {
		return c
	}
	if b.byValue == nil {
		b.byValue = make(map[string]*branch)
	}
	c := &branch{value: value, parent: b}
	b.byValue[value] = c
	b.children = append(b.children, c)
	return c
}

// order ranks candidate nodes for one service.
type order struct {
	s       *Scheduler
	counts  []int32
	binpack bool
}

// less reports whether node a is a better choice than node b. Nodes are
// sorted by ID, so comparing indexes breaks ties by node ID.
func (o *order) less(a, b int32) bool {
	s := o.s
	if o.binpack {
		if la, lb := s.load(a), s.load(b); la != lb {
			return la > lb
		}
		if s.total[a] != s.total[b] {
			return s.total[a] > s.total[b]
		}
		return a < b
	}
	if o.counts[a] != o.counts[b] {
		return o.counts[a] < o.counts[b]
	}
	if s.total[a] != s.total[b] {
		return s.total[a] < s.total[b]
	}
	return a < b
}

// load is the larger of node i's reserved CPU and memory shares.
func (s *Scheduler) load(i int32) float64 {
	have, used := s.nodes[i].Resources, s.reserved[i]
	var l float64
	if have.NanoCPUs > 0 {
		l = float64(used.NanoCPUs) / float64(have.NanoCPUs)
	}
	if have.MemoryBytes > 0 {
		l = max(l, float64(used.MemoryBytes)/float64(have.MemoryBytes))
	}
	return l
}

// down restores the heap property from position j downwards.
func (o *order) down(h []int32, j int) {
	for {
		l := 2*j + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && o.less(h[r], h[l]) {
			m = r
		}
		if !o.less(h[m], h[j]) {
			return
		}
		h[j], h[m] = h[m], h[j]
		j = m
	}
}

// buildTree groups the nodes that pass the static filters by their
// preference values and heaps, per leaf, those that fit one more task.
func (s *Scheduler) buildTree(sp *spec, counts []int32) (*branch, *order) {
	root := &branch{}
	for i := range s.nodes {
		i := int32(i)
		if s.staticCheck(i, sp) != fPass {
			continue
		}
		b := root
		b.count += int64(counts[i])
		for _, key := range sp.prefs {
			b = b.child(placement.NodeValue(key, s.nodes[i]))
			b.count += int64(counts[i])
		}
		if s.dynamicCheck(i, sp, counts) == fPass {
			b.heap = append(b.heap, i)
			for a := b; a != nil; a = a.parent {
				a.avail++
			}
		}
	}
	o := &order{s: s, counts: counts, binpack: sp.binpack}
	root.finish(o)
	return root, o
}

// finish sorts children and heapifies leaves below b.
func (b *branch) finish(o *order) {
	b.byValue = nil
	if b.children == nil {
		for j := len(b.heap)/2 - 1; j >= 0; j-- {
			o.down(b.heap, j)
		}
		return
	}
	slices.SortFunc(b.children, func(x, y *branch) int { return strings.Compare(x.value, y.value) })
	for _, c := range b.children {
		c.finish(o)
	}
}

// take places one task: at each level the branch with the fewest tasks of
// the service that still has room, then the leaf's best node. It records
// the task and reports false when no node fits.
func (root *branch) take(o *order, sp *spec) (int32, bool) {
	if root.avail == 0 {
		return 0, false
	}
	b := root
	for b.children != nil {
		var best *branch
		for _, c := range b.children {
			if c.avail > 0 && (best == nil || c.count < best.count) {
				best = c
			}
		}
		b = best
	}
	i := b.heap[0]
	o.s.record(i, sp, o.counts)
	for a := b; a != nil; a = a.parent {
		a.count++
	}
	if o.s.dynamicCheck(i, sp, o.counts) == fPass {
		o.down(b.heap, 0)
		return i, true
	}
	last := len(b.heap) - 1
	b.heap[0] = b.heap[last]
	b.heap = b.heap[:last]
	o.down(b.heap, 0)
	for a := b; a != nil; a = a.parent {
		a.avail--
	}
	return i, true
}
