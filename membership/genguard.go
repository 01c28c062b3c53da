package membership

import (
	"sync"
)

// GenGuard holds one agent's recovery generation and the gate of its raft
// traffic, and notices when a higher generation of its cluster exists.
//
// While the gate is closed the TLS stream layer neither dials nor accepts
// raft connections and NewRaft holds elections back, so an agent restarting
// with old raft state cannot vote or campaign before it had the chance to
// learn the cluster's generation from gossip. Once a higher generation is
// observed the gate closes for good and OnStale runs (once): this agent's
// raft state is stale and must be replaced by rejoining.
//
// All methods are safe for concurrent use.
type GenGuard struct {
	clusterID string
	own       Generation
	onStale   func(higher Generation)

	mu     sync.Mutex
	open   bool
	stale  bool
	high   Generation
	onOpen []func()
}

// NewGenGuard returns a closed guard for an agent of cluster clusterID at
// generation own. onStale (may be nil) is called once, from the goroutine
// that observed it, with the first higher generation seen; it must not
// block.
func NewGenGuard(clusterID string, own Generation, onStale func(higher Generation)) *GenGuard {
	if own.IsZero() {
		own = InitialGeneration
	}
	return &GenGuard{clusterID: clusterID, own: own, onStale: onStale, high: own}
}

// ClusterID returns the cluster the guard belongs to.
func (g *GenGuard) ClusterID() string { return g.clusterID }

// Generation returns this agent's generation.
func (g *GenGuard) Generation() Generation { return g.own }

// Open opens the gate unless a higher generation was already seen; it
// reports whether the gate is open. Functions registered with whenOpen run
// now, once.
func (g *GenGuard) Open() bool {
	g.mu.Lock()
	if act, _ := DecideGeneration(g.own, []Generation{g.high}, true); act != GenOpen {
		g.mu.Unlock()
		return false
	}
	g.open = true
	fns := g.onOpen
	g.onOpen = nil
	g.mu.Unlock()
	for _, f := range fns {
		f()
	}
	return true
}

// IsOpen reports whether raft traffic may flow.
func (g *GenGuard) IsOpen() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// Stale returns the highest generation seen and whether it is higher than
// this agent's own.
func (g *GenGuard) Stale() (Generation, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.high, g.stale
}

// Observe records a generation of this cluster seen on a peer. A higher one
// closes the gate for good and, the first time, calls onStale. It reports
// whether this agent is now stale.
func (g *GenGuard) Observe(peer Generation) bool {
	g.mu.Lock()
	act, high := DecideGeneration(g.own, []Generation{g.high, peer}, g.open)
	if act != GenRejoin || high == g.high {
		stale := g.stale
		g.mu.Unlock()
		return stale
	}
	first := !g.stale
	g.high, g.stale, g.open, g.onOpen = high, true, false, nil
	g.mu.Unlock()
	if first && g.onStale != nil {
		g.onStale(peer)
	}
	return true
}

// ObserveMembers observes the generation tag of every alive member but
// self (a missing tag is InitialGeneration; a malformed one is ignored) and
// reports whether this agent is now stale.
func (g *GenGuard) ObserveMembers(self string, members []Member) bool {
	stale := false
	for _, m := range members {
		if m.ID == self || m.Status != StatusAlive {
			continue
		}
		if gen, err := ParseGeneration(m.Tags[TagGen]); err == nil {
			stale = g.Observe(gen) || stale
		}
	}
	return stale
}

// whenOpen runs f when the gate opens (now, if it is open). f is dropped
// if the agent turns stale first.
func (g *GenGuard) whenOpen(f func()) {
	g.mu.Lock()
	if !g.open {
		if !g.stale {
			g.onOpen = append(g.onOpen, f)
		}
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	f()
}
