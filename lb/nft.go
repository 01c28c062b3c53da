package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"github.com/google/nftables"
)

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("lb: dataplane closed")

// nftService is what the nftables dataplane programmed for one service.
type nftService struct {
	svc   Service
	id    uint32
	slots []netip.AddrPort
}

// nftDP is the nftables dataplane; see doc.go for the table's layout.
type nftDP struct {
	mu     sync.Mutex
	opts   Options
	log    *slog.Logger
	h      *nsHandles
	cc     *nftables.Conn // nil until needed and after a failed commit
	table  *nftables.Table
	ready  bool // the table was (re)built by a successful Apply
	nextID uint32
	svcs   map[string]*nftService
	closed bool
	// lastOps counts the operations the last Apply committed (tests).
	lastOps int
}

var _ Dataplane = (*nftDP)(nil)

func newNft(opts Options) (*nftDP, error) {
	h, err := openNS(opts.NetNS)
	if err != nil {
		return nil, err
	}
	return &nftDP{
		opts:  opts,
		log:   opts.Logger.With("dataplane", KindNftables),
		h:     h,
		table: &nftables.Table{Name: opts.TableName, Family: nftables.TableFamilyIPv4},
		svcs:  map[string]*nftService{},
	}, nil
}

// Name implements Dataplane.
func (d *nftDP) Name() string { return KindNftables }

func (d *nftDP) conn() (*nftables.Conn, error) {
	if d.cc == nil {
		cc, err := newNftConn(d.h)
		if err != nil {
			return nil, err
		}
		d.cc = cc
	}
	return d.cc, nil
}

// dropConn discards the connection, and any operation still queued on it.
func (d *nftDP) dropConn() {
	if d.cc != nil {
		_ = d.cc.CloseLasting()
		d.cc = nil
	}
}

// Apply implements Dataplane. The first Apply replaces any table of the same
// name left by a previous run in one transaction, so that traffic to
// existing services is never left without rules; later ones change only the
// objects of the services that changed.
func (d *nftDP) Apply(ctx context.Context, cfg Config) error {
	desired, err := normalize(cfg)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply nftables config: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	cc, err := d.conn()
	if err != nil {
		return err
	}
	b := &batch{cc: cc}
	old := d.svcs
	if !d.ready {
		resetTable(cc, d.table)
		d.table = cc.AddTable(d.table)
		b.ops++
		if err := addBase(cc, d.table, d.opts.MasqueradeMark); err != nil {
			d.dropConn()
			return err
		}
		old = map[string]*nftService{}
	}
	next, st := d.plan(b, old, desired)
	flows := flowsToCut(servicesOf(d.svcs), desired)
	if err := b.commit(); err != nil {
		d.dropConn()
		d.ready = false
		return err
	}
	d.ready, d.svcs, d.lastOps = true, next, b.ops
	if b.ops > 0 {
		d.log.Info("nftables dataplane applied", "services", len(next), "added", st.added,
			"removed", st.removed, "changed", st.changed, "operations", b.ops)
	}
	n, err := d.h.deleteFlows(flows)
	if n > 0 {
		d.log.Debug("cut connections to removed backends", "conntrack_entries", n)
	}
	return err
}

type applyStats struct{ added, removed, changed int }

// plan queues on b the changes from old to desired and returns the state
// reached if they commit.
func (d *nftDP) plan(b *batch, old map[string]*nftService, desired map[string]Service) (map[string]*nftService, applyStats) {
	next := make(map[string]*nftService, len(desired))
	var st applyStats
	for _, k := range sortedKeys(old) {
		o := old[k]
		s, keep := desired[k]
		if keep && s.Frontend() == o.svc.Frontend() {
			continue
		}
		d.removeService(b, o)
		st.removed++
	}
	// Published ports leave before any is added, so that services may
	// trade them in one Apply.
	for _, k := range sortedKeys(desired) {
		s := desired[k]
		if o, ok := old[k]; ok && o.svc.Frontend() == s.Frontend() && o.svc.PublishedPort != s.PublishedPort && o.svc.PublishedPort != 0 {
			b.delElems(publishedMap(d.table), []nftables.SetElement{{Key: pubKey(o.svc.Proto, o.svc.PublishedPort)}})
		}
	}
	for _, k := range sortedKeys(desired) {
		s := desired[k]
		o, ok := old[k]
		if !ok || o.svc.Frontend() != s.Frontend() {
			d.nextID++
			next[k] = d.addService(b, s, d.nextID)
			st.added++
			continue
		}
		n, changed := d.updateService(b, o, s)
		next[k] = n
		if changed {
			st.changed++
		}
	}
	return next, st
}

func servicesOf(m map[string]*nftService) map[string]Service {
	out := make(map[string]Service, len(m))
	for k, s := range m {
		out[k] = s.svc
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (d *nftDP) svcChain(id uint32) *nftables.Chain {
	return &nftables.Chain{Table: d.table, Name: svcChainName(id)}
}

func (d *nftDP) addService(b *batch, s Service, id uint32) *nftService {
	sl := slots(s.Backends)
	b.addSet(slotMap(d.table, id, s.AllPorts()), slotElems(sl, s.AllPorts()))
	c := b.addChain(d.svcChain(id))
	for _, r := range serviceRules(c, s, id, len(sl), d.opts.MasqueradeMark) {
		b.addRule(r)
	}
	d.frontendElems(b.addElems, s, c.Name)
	if s.PublishedPort != 0 {
		b.addElems(publishedMap(d.table), []nftables.SetElement{{Key: pubKey(s.Proto, s.PublishedPort), VerdictData: gotoVerdict(c.Name)}})
	}
	return &nftService{svc: s, id: id, slots: sl}
}

// frontendElems passes to op (add or delete) the elements that send s's
// VIP traffic to chain: one in vips for a port VIP, one per protocol in
// allvips for an all-port VIP, none for a published-port service.
func (d *nftDP) frontendElems(op func(*nftables.Set, []nftables.SetElement), s Service, chain string) {
	switch {
	case !s.VIP.IsValid():
	case s.AllPorts():
		var elems []nftables.SetElement
		for _, p := range allPortsProtos {
			elems = append(elems, nftables.SetElement{Key: allKey(s.VIP, p), VerdictData: gotoVerdict(chain)})
		}
		op(allVIPMap(d.table), elems)
	default:
		op(vipMap(d.table), []nftables.SetElement{{Key: vipKey(s.Frontend()), VerdictData: gotoVerdict(chain)}})
	}
}

func (d *nftDP) removeService(b *batch, o *nftService) {
	d.frontendElems(b.delElems, o.svc, svcChainName(o.id))
	if o.svc.PublishedPort != 0 {
		b.delElems(publishedMap(d.table), []nftables.SetElement{{Key: pubKey(o.svc.Proto, o.svc.PublishedPort)}})
	}
	c := d.svcChain(o.id)
	b.flushChain(c)
	b.delChain(c)
	b.delSet(slotMap(d.table, o.id, o.svc.AllPorts()))
}

// updateService queues the changes of a service whose frontend stays: its
// new published port (plan removed the old one), the slot map elements that
// differ, and its rules when the number of slots changes.
func (d *nftDP) updateService(b *batch, o *nftService, s Service) (*nftService, bool) {
	if o.svc.PublishedPort == s.PublishedPort && slices.Equal(o.svc.Backends, s.Backends) {
		return o, false
	}
	n := &nftService{svc: s, id: o.id, slots: slots(s.Backends)}
	chain := svcChainName(o.id)
	if o.svc.PublishedPort != s.PublishedPort && s.PublishedPort != 0 {
		// plan removed the old published port
		b.addElems(publishedMap(d.table), []nftables.SetElement{{Key: pubKey(s.Proto, s.PublishedPort), VerdictData: gotoVerdict(chain)}})
	}
	var del, add []nftables.SetElement
	for i := range max(len(o.slots), len(n.slots)) {
		if i < len(o.slots) && i < len(n.slots) && o.slots[i] == n.slots[i] {
			continue
		}
		if i < len(o.slots) {
			del = append(del, nftables.SetElement{Key: slotKey(i)})
		}
		if i < len(n.slots) {
			add = append(add, slotElem(i, n.slots[i], s.AllPorts()))
		}
	}
	m := slotMap(d.table, o.id, s.AllPorts())
	b.delElems(m, del)
	b.addElems(m, add)
	if len(o.slots) != len(n.slots) {
		c := d.svcChain(o.id)
		b.flushChain(c)
		for _, r := range serviceRules(c, s, o.id, len(n.slots), d.opts.MasqueradeMark) {
			b.addRule(r)
		}
	}
	return n, true
}

func slotElem(i int, ap netip.AddrPort, allPorts bool) nftables.SetElement {
	if allPorts {
		return nftables.SetElement{Key: slotKey(i), Val: addrVal(ap.Addr())}
	}
	return nftables.SetElement{Key: slotKey(i), Val: addrPortVal(ap)}
}

func slotElems(sl []netip.AddrPort, allPorts bool) []nftables.SetElement {
	out := make([]nftables.SetElement, 0, len(sl))
	for i := range sl {
		out = append(out, slotElem(i, sl[i], allPorts))
	}
	return out
}

// Close implements Dataplane: it deletes the table (whether this dataplane
// or a previous run made it). Existing connections keep their translation
// in conntrack.
func (d *nftDP) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	defer d.h.close()
	defer d.dropConn()
	cc, err := d.conn()
	if err != nil {
		return err
	}
	cc.AddTable(d.table)
	cc.DelTable(d.table)
	if err := cc.Flush(); err != nil {
		return fmt.Errorf("delete nftables table %s: %w", d.table.Name, err)
	}
	d.svcs = nil
	return nil
}
