package overlay

import (
	"fmt"
	"sort"
)

type opKind int

const (
	opAddLink opKind = iota
	opUpdateLink
	opDelLink
	opAddAddr
	opDelAddr
	opAddRoute
	opReplaceRoute
	opDelRoute
	opSetNeigh
	opDelNeigh
	opSetFDB
	opDelFDB
	opAddRule
	opDelRule
)

// op is one kernel change. Only the field matching kind is set (plus prev
// for opUpdateLink).
type op struct {
	kind  opKind
	link  Link
	prev  Link
	addr  Addr
	route Route
	neigh Neigh
	fdb   FDB
	rule  Rule
}

func (o op) String() string {
	switch o.kind {
	case opAddLink:
		return "add " + o.link.String()
	case opUpdateLink:
		return "update " + o.link.String()
	case opDelLink:
		return "delete link " + o.link.Name
	case opAddAddr:
		return "add " + o.addr.String()
	case opDelAddr:
		return "delete " + o.addr.String()
	case opAddRoute:
		return "add " + o.route.String()
	case opReplaceRoute:
		return "replace " + o.route.String()
	case opDelRoute:
		return "delete " + o.route.String()
	case opSetNeigh:
		return "set " + o.neigh.String()
	case opDelNeigh:
		return "delete " + o.neigh.String()
	case opSetFDB:
		return "set " + o.fdb.String()
	case opDelFDB:
		return "delete " + o.fdb.String()
	case opAddRule:
		return "add " + o.rule.String()
	case opDelRule:
		return "delete " + o.rule.String()
	}
	return fmt.Sprintf("op(%d)", o.kind)
}

// dev is the overlay link the op needs, or "".
func (o op) dev() string {
	switch o.kind {
	case opAddLink, opUpdateLink, opDelLink:
		return o.link.Name
	case opAddAddr, opDelAddr:
		return o.addr.Link
	case opAddRoute, opReplaceRoute, opDelRoute:
		return o.route.Dev
	case opSetNeigh, opDelNeigh:
		return o.neigh.Link
	case opSetFDB, opDelFDB:
		return o.fdb.Link
	}
	return ""
}

func (o op) run(k Kernel) error {
	switch o.kind {
	case opAddLink:
		return k.AddLink(o.link)
	case opUpdateLink:
		return k.UpdateLink(o.prev, o.link)
	case opDelLink:
		return k.DelLink(o.link.Name)
	case opAddAddr:
		return k.AddAddr(o.addr)
	case opDelAddr:
		return k.DelAddr(o.addr)
	case opAddRoute:
		return k.AddRoute(o.route)
	case opReplaceRoute:
		return k.ReplaceRoute(o.route)
	case opDelRoute:
		return k.DelRoute(o.route)
	case opSetNeigh:
		return k.SetNeigh(o.neigh)
	case opDelNeigh:
		return k.DelNeigh(o.neigh)
	case opSetFDB:
		return k.SetFDB(o.fdb)
	case opDelFDB:
		return k.DelFDB(o.fdb)
	case opAddRule:
		return k.AddRule(o.rule)
	case opDelRule:
		return k.DelRule(o.rule)
	}
	return fmt.Errorf("unknown op %d", o.kind)
}

// plan returns the ops that turn cur into want, in a safe order: links that
// must be recreated (their identity changed) are deleted first; then every
// addition and in-place change (links, addresses, FDB, neighbours, routes,
// rules: each depends only on what comes before it); then every deletion in
// the reverse order. Objects equal in cur and want are not touched, and
// objects that go away with a deleted link are not deleted one by one. plan
// is pure.
func plan(cur, want State) []op {
	var pre, adds, dels []op
	gone := map[string]bool{}
	curLinks := map[string]Link{}
	for _, l := range cur.Links {
		curLinks[l.Name] = l
	}
	wantLinks := map[string]bool{}
	for _, w := range want.Links {
		wantLinks[w.Name] = true
		c, ok := curLinks[w.Name]
		switch {
		case !ok:
			adds = append(adds, op{kind: opAddLink, link: w})
		case !w.sameIdentity(c):
			pre = append(pre, op{kind: opDelLink, link: c})
			adds = append(adds, op{kind: opAddLink, link: w})
			gone[c.Name] = true
		case w != c:
			adds = append(adds, op{kind: opUpdateLink, prev: c, link: w})
		}
	}
	var linkDels []op
	for _, c := range cur.Links {
		if !wantLinks[c.Name] {
			linkDels = append(linkDels, op{kind: opDelLink, link: c})
			gone[c.Name] = true
		}
	}
	cur = cur.withoutLinks(gone)

	a, d := diffSet(cur.Addrs, want.Addrs, func(x Addr) Addr { return x })
	adds = append(adds, sorted(a, func(x Addr) op { return op{kind: opAddAddr, addr: x} })...)
	addrDels := sorted(d, func(x Addr) op { return op{kind: opDelAddr, addr: x} })

	a2, d2 := diffSet(cur.FDBs, want.FDBs, FDB.key)
	adds = append(adds, sorted(a2, func(x FDB) op { return op{kind: opSetFDB, fdb: x} })...)
	fdbDels := sorted(d2, func(x FDB) op { return op{kind: opDelFDB, fdb: x} })

	a3, d3 := diffSet(cur.Neighs, want.Neighs, Neigh.key)
	adds = append(adds, sorted(a3, func(x Neigh) op { return op{kind: opSetNeigh, neigh: x} })...)
	neighDels := sorted(d3, func(x Neigh) op { return op{kind: opDelNeigh, neigh: x} })

	routeAdds, routeDels := planRoutes(cur.Routes, want.Routes)
	adds = append(adds, routeAdds...)

	a4, d4 := diffSet(cur.Rules, want.Rules, func(x Rule) Rule { return x })
	adds = append(adds, sorted(a4, func(x Rule) op { return op{kind: opAddRule, rule: x} })...)
	dels = append(dels, sorted(d4, func(x Rule) op { return op{kind: opDelRule, rule: x} })...)

	dels = append(dels, routeDels...)
	dels = append(dels, neighDels...)
	dels = append(dels, fdbDels...)
	dels = append(dels, addrDels...)
	dels = append(dels, sorted(linkDels, func(o op) op { return o })...)

	out := append(pre, adds...)
	return append(out, dels...)
}

// planRoutes adds routes missing from cur, replaces those whose key (table,
// destination) is there with other attributes, and deletes the rest.
func planRoutes(cur, want []Route) (adds, dels []op) {
	have := map[routeKey]Route{}
	for _, r := range cur {
		have[r.key()] = r
	}
	wanted := map[routeKey]bool{}
	var add, repl, del []Route
	for _, w := range want {
		wanted[w.key()] = true
		c, ok := have[w.key()]
		switch {
		case !ok:
			add = append(add, w)
		case c != w:
			repl = append(repl, w)
		}
	}
	for _, c := range cur {
		if !wanted[c.key()] {
			del = append(del, c)
		}
	}
	adds = append(sorted(add, func(r Route) op { return op{kind: opAddRoute, route: r} }),
		sorted(repl, func(r Route) op { return op{kind: opReplaceRoute, route: r} })...)
	return adds, sorted(del, func(r Route) op { return op{kind: opDelRoute, route: r} })
}

// diffSet returns the items of want that are missing from cur or differ from
// cur's item of the same key (to be set), and the items of cur whose key is
// not wanted (to be deleted).
func diffSet[T comparable, K comparable](cur, want []T, key func(T) K) (set, del []T) {
	have := map[K]T{}
	for _, c := range cur {
		have[key(c)] = c
	}
	wanted := map[K]bool{}
	for _, w := range want {
		wanted[key(w)] = true
		if c, ok := have[key(w)]; !ok || c != w {
			set = append(set, w)
		}
	}
	for _, c := range cur {
		if !wanted[key(c)] {
			del = append(del, c)
		}
	}
	return set, del
}

// sorted maps xs to ops ordered by their text, so plans are deterministic.
func sorted[T any](xs []T, f func(T) op) []op {
	out := make([]op, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// withoutLinks drops from s the objects that the kernel removes together
// with the named links. Rules name a link but survive it, so they stay.
func (s State) withoutLinks(gone map[string]bool) State {
	if len(gone) == 0 {
		return s
	}
	out := State{Rules: s.Rules}
	for _, l := range s.Links {
		if !gone[l.Name] {
			out.Links = append(out.Links, l)
		}
	}
	for _, a := range s.Addrs {
		if !gone[a.Link] {
			out.Addrs = append(out.Addrs, a)
		}
	}
	for _, r := range s.Routes {
		if r.Dev == "" || !gone[r.Dev] {
			out.Routes = append(out.Routes, r)
		}
	}
	for _, n := range s.Neighs {
		if !gone[n.Link] {
			out.Neighs = append(out.Neighs, n)
		}
	}
	for _, f := range s.FDBs {
		if !gone[f.Link] {
			out.FDBs = append(out.FDBs, f)
		}
	}
	return out
}
