package overlay

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// fakeKernel is an in-memory Kernel with the kernel's rules that matter to
// the Manager: objects need their link, Add* refuse duplicates, deleting a
// link takes its addresses, routes, neighbour and FDB entries along. It
// counts mutating calls and logs them, and can be told to fail some.
type fakeKernel struct {
	other  map[string]int // non-overlay links (e.g. eth0) and their MTU
	links  map[string]Link
	addrs  map[Addr]bool
	routes map[routeKey]Route
	neighs map[[2]string]Neigh
	fdbs   map[[2]string]FDB
	rules  map[Rule]bool
	veths  map[string]TaskVeth

	calls int
	log   []string
	// failIf, when set, is asked before each mutating call with its
	// description; a non-nil result fails the call.
	failIf func(desc string) error
}

var _ Kernel = (*fakeKernel)(nil)

func newFakeKernel() *fakeKernel {
	return &fakeKernel{
		other: map[string]int{"lo": 65536, "eth0": 1500, "eth1": 9000},
		links: map[string]Link{}, addrs: map[Addr]bool{}, routes: map[routeKey]Route{},
		neighs: map[[2]string]Neigh{}, fdbs: map[[2]string]FDB{}, rules: map[Rule]bool{},
		veths: map[string]TaskVeth{},
	}
}

var errExist = fmt.Errorf("fake: %w", syscall.EEXIST)

// mutate records a call and applies failIf.
func (f *fakeKernel) mutate(desc string) error {
	f.calls++
	f.log = append(f.log, desc)
	if f.failIf != nil {
		return f.failIf(desc)
	}
	return nil
}

func (f *fakeKernel) needLink(name string, kind LinkKind) error {
	l, ok := f.links[name]
	if !ok || (kind != "" && l.Kind != kind) {
		return fmt.Errorf("fake: no %s link %q", kind, name)
	}
	return nil
}

func (f *fakeKernel) State() (State, error) {
	var s State
	s.Links = slices.Collect(maps.Values(f.links))
	s.Addrs = slices.Collect(maps.Keys(f.addrs))
	s.Routes = slices.Collect(maps.Values(f.routes))
	s.Neighs = slices.Collect(maps.Values(f.neighs))
	s.FDBs = slices.Collect(maps.Values(f.fdbs))
	s.Rules = slices.Collect(maps.Keys(f.rules))
	return s, nil
}

func (f *fakeKernel) LinkMTU(name string) (int, error) {
	if mtu, ok := f.other[name]; ok {
		return mtu, nil
	}
	if l, ok := f.links[name]; ok {
		return l.MTU, nil
	}
	return 0, fmt.Errorf("fake: no link %q", name)
}

func (f *fakeKernel) AddLink(l Link) error {
	if err := f.mutate("add " + l.String()); err != nil {
		return err
	}
	if _, ok := f.links[l.Name]; ok {
		return errExist
	}
	if _, ok := f.other[l.VtepDev]; l.Kind == KindVXLAN && !ok {
		return fmt.Errorf("fake: no underlay %q", l.VtepDev)
	}
	f.links[l.Name] = l
	return nil
}

func (f *fakeKernel) UpdateLink(cur, want Link) error {
	if err := f.mutate("update " + want.String()); err != nil {
		return err
	}
	have, ok := f.links[want.Name]
	switch {
	case !ok:
		return fmt.Errorf("fake: no link %q", want.Name)
	case have != cur:
		return fmt.Errorf("fake: update %s from stale %v (have %v)", want.Name, cur, have)
	case !want.sameIdentity(have):
		return fmt.Errorf("fake: %s cannot change identity in place", want.Name)
	}
	f.links[want.Name] = want
	return nil
}

func (f *fakeKernel) DelLink(name string) error {
	if err := f.mutate("delete link " + name); err != nil {
		return err
	}
	if _, ok := f.veths[name]; ok {
		delete(f.veths, name)
		return nil
	}
	delete(f.links, name)
	maps.DeleteFunc(f.addrs, func(a Addr, _ bool) bool { return a.Link == name })
	maps.DeleteFunc(f.routes, func(_ routeKey, r Route) bool { return r.Dev == name })
	maps.DeleteFunc(f.neighs, func(_ [2]string, n Neigh) bool { return n.Link == name })
	maps.DeleteFunc(f.fdbs, func(_ [2]string, x FDB) bool { return x.Link == name })
	return nil
}

func (f *fakeKernel) AddAddr(a Addr) error {
	if err := f.mutate("add " + a.String()); err != nil {
		return err
	}
	if err := f.needLink(a.Link, ""); err != nil {
		return err
	}
	if f.addrs[a] {
		return errExist
	}
	f.addrs[a] = true
	return nil
}

func (f *fakeKernel) DelAddr(a Addr) error {
	if err := f.mutate("delete " + a.String()); err != nil {
		return err
	}
	delete(f.addrs, a)
	return nil
}

func (f *fakeKernel) setRoute(r Route, replace bool) error {
	if r.Dev != "" {
		if err := f.needLink(r.Dev, ""); err != nil {
			return err
		}
	}
	if _, ok := f.routes[r.key()]; ok && !replace {
		return errExist
	}
	f.routes[r.key()] = r
	return nil
}

func (f *fakeKernel) AddRoute(r Route) error {
	if err := f.mutate("add " + r.String()); err != nil {
		return err
	}
	return f.setRoute(r, false)
}

func (f *fakeKernel) ReplaceRoute(r Route) error {
	if err := f.mutate("replace " + r.String()); err != nil {
		return err
	}
	return f.setRoute(r, true)
}

func (f *fakeKernel) DelRoute(r Route) error {
	if err := f.mutate("delete " + r.String()); err != nil {
		return err
	}
	delete(f.routes, r.key())
	return nil
}

func (f *fakeKernel) SetNeigh(n Neigh) error {
	if err := f.mutate("set " + n.String()); err != nil {
		return err
	}
	if err := f.needLink(n.Link, KindVXLAN); err != nil {
		return err
	}
	f.neighs[n.key()] = n
	return nil
}

func (f *fakeKernel) DelNeigh(n Neigh) error {
	if err := f.mutate("delete " + n.String()); err != nil {
		return err
	}
	delete(f.neighs, n.key())
	return nil
}

func (f *fakeKernel) SetFDB(x FDB) error {
	if err := f.mutate("set " + x.String()); err != nil {
		return err
	}
	if err := f.needLink(x.Link, KindVXLAN); err != nil {
		return err
	}
	f.fdbs[x.key()] = x
	return nil
}

func (f *fakeKernel) DelFDB(x FDB) error {
	if err := f.mutate("delete " + x.String()); err != nil {
		return err
	}
	delete(f.fdbs, x.key())
	return nil
}

func (f *fakeKernel) AddRule(r Rule) error {
	if err := f.mutate("add " + r.String()); err != nil {
		return err
	}
	if f.rules[r] {
		return errExist
	}
	f.rules[r] = true
	return nil
}

func (f *fakeKernel) DelRule(r Rule) error {
	if err := f.mutate("delete " + r.String()); err != nil {
		return err
	}
	delete(f.rules, r)
	return nil
}

func (v TaskVeth) String() string {
	return fmt.Sprintf("veth %s alias=%q master=%s mtu=%d peer=%s@%s addr=%s gw=%s default=%v routes=%v",
		v.Host, v.Alias, v.Bridge, v.MTU, v.Peer, v.NetNS, v.Addr, v.Gateway, v.Default, v.Routes)
}

func (f *fakeKernel) AddTaskVeth(v TaskVeth) error {
	if err := f.mutate("add " + v.String()); err != nil {
		return err
	}
	if err := f.needLink(v.Bridge, KindBridge); err != nil {
		return err
	}
	f.veths[v.Host] = v
	return nil
}

func (f *fakeKernel) TaskVeths() ([]TaskVethInfo, error) {
	var out []TaskVethInfo
	for _, v := range f.veths {
		out = append(out, TaskVethInfo{Name: v.Host, Alias: v.Alias})
	}
	return out, nil
}

// text renders everything the fake holds as sorted lines.
func (f *fakeKernel) text() string {
	s, _ := f.State()
	lines := s.Lines()
	for _, v := range f.veths {
		lines = append(lines, v.String())
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// failOn returns a failIf that fails calls whose description contains sub.
func failOn(sub string) func(string) error {
	return func(desc string) error {
		if strings.Contains(desc, sub) {
			return errors.New("injected failure")
		}
		return nil
	}
}
