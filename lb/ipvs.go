package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/google/nftables"
	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ipvsSysctls are set in the dataplane's namespace: conntrack=1 keeps
// IPVS connections in conntrack so the masquerade rule and conntrack
// cleanup see them; the expire_* settings drop IPVS connections whose real
// server was removed or quiesced instead of keeping them pinned.
var ipvsSysctls = map[string]string{
	"net/ipv4/vs/conntrack":                 "1",
	"net/ipv4/vs/expire_nodest_conn":        "1",
	"net/ipv4/vs/expire_quiescent_template": "1",
}

// ipvsDP is the IPVS dataplane; see doc.go.
type ipvsDP struct {
	mu     sync.Mutex
	opts   Options
	log    *slog.Logger
	h      *nsHandles
	ipvs   *ipvs.Handle
	cc     *nftables.Conn
	table  *nftables.Table
	nft    *ipvsNftState       // what the table holds; nil: rebuild it
	synced bool                // have mirrors the kernel
	have   map[vsKey]ipvsVS    // IPVS services this dataplane owns
	vips   map[netip.Addr]bool // addresses on the dummy device
	// marks are the fwmarks of all-port VIPs and published ports (nil
	// until read back from a previous run's table); lastMark is the n of
	// the last mark handed out (see assignMarks).
	marks    map[markOwner]uint32
	lastMark uint32
	svcs     map[string]Service // last applied services (flows)
	closed   bool
}

var _ Dataplane = (*ipvsDP)(nil)

func newIPVS(opts Options) (*ipvsDP, error) {
	h, err := openNS(opts.NetNS)
	if err != nil {
		return nil, err
	}
	ih, err := ipvs.New(h.path)
	if err != nil {
		h.close()
		return nil, fmt.Errorf("open IPVS netlink handle in namespace %q (is the ip_vs module loaded?): %w", opts.NetNS, err)
	}
	return &ipvsDP{
		opts:  opts,
		log:   opts.Logger.With("dataplane", KindIPVS),
		h:     h,
		ipvs:  ih,
		table: &nftables.Table{Name: opts.TableName, Family: nftables.TableFamilyIPv4},
		svcs:  map[string]Service{},
	}, nil
}

// Name implements Dataplane.
func (d *ipvsDP) Name() string { return KindIPVS }

// Apply implements Dataplane. The first Apply (and the first after a failed
// one) reads the IPVS services this dataplane owns back from the kernel
// and reconciles them, so an agent restart neither fails on nor disturbs
// what a previous run programmed.
func (d *ipvsDP) Apply(ctx context.Context, cfg Config) error {
	desired, err := normalize(cfg)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply IPVS config: %w", err)
	}
	if !d.synced {
		if err := d.sync(desired); err != nil {
			return err
		}
	}
	marks, last, err := assignMarks(d.marks, desired, usedMarks(d.have), d.opts.MasqueradeMark, d.lastMark)
	if err != nil {
		return err
	}
	d.marks, d.lastMark = marks, last
	want := vipSet(desired)
	if err := d.addVIPs(want); err != nil {
		d.synced = false
		return err
	}
	ops := ipvsPlan(d.have, ipvsDesired(desired, marks))
	for i, op := range ops {
		if err := d.do(op); err != nil {
			d.synced = false
			return fmt.Errorf("IPVS %s (step %d of %d): %w", op, i+1, len(ops), err)
		}
		applyOp(d.have, op)
	}
	if err := d.applyNft(ipvsNftWant(desired, marks)); err != nil {
		return err
	}
	flows := flowsToCut(d.svcs, desired)
	d.svcs = desired
	if err := d.delVIPs(want); err != nil {
		d.synced = false
		return err
	}
	if len(ops) > 0 {
		d.log.Info("IPVS dataplane applied", "services", len(desired), "operations", len(ops))
	}
	n, err := d.h.deleteFlows(flows)
	if n > 0 {
		d.log.Debug("cut connections to removed backends", "conntrack_entries", n)
	}
	return err
}

func usedMarks(have map[vsKey]ipvsVS) map[uint32]bool {
	out := map[uint32]bool{}
	for k := range have {
		if k.Mark != 0 {
			out[k.Mark] = true
		}
	}
	return out
}

// sync reads back the state of the kernel: addresses on the dummy device
// (creating it if missing), the marks a previous run's table assigned (the
// first time), and the IPVS services that are ours: those on those
// addresses or at a desired frontend, and those of a firewall mark that
// includes MasqueradeMark.
func (d *ipvsDP) sync(desired map[string]Service) error {
	if err := d.h.setSysctls(ipvsSysctls); err != nil {
		return err
	}
	link, err := d.dummy()
	if err != nil {
		return err
	}
	addrs, err := d.h.nl.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", d.opts.DummyDevice, err)
	}
	d.vips = map[netip.Addr]bool{}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			d.vips[ip.Unmap()] = true
		}
	}
	if d.marks == nil {
		if err := d.adoptMarks(); err != nil {
			return err
		}
	}
	svcs, err := d.ipvs.GetServices()
	if err != nil {
		return fmt.Errorf("list IPVS services: %w", err)
	}
	d.have = map[vsKey]ipvsVS{}
	for _, s := range svcs {
		key, ok := d.owned(s, desired)
		if !ok {
			continue
		}
		vs := ipvsVS{Sched: s.SchedName, Dests: map[netip.AddrPort]int{}}
		dests, err := d.ipvs.GetDestinations(s)
		if err != nil {
			return fmt.Errorf("list real servers of IPVS service %s: %w", key, err)
		}
		for _, dst := range dests {
			if ip, ok := netip.AddrFromSlice(dst.Address); ok {
				vs.Dests[netip.AddrPortFrom(ip.Unmap(), dst.Port)] = dst.Weight
			}
		}
		d.have[key] = vs
		d.lastMark = max(d.lastMark, key.Mark&^d.opts.MasqueradeMark)
	}
	d.synced = true
	return nil
}

// adoptMarks takes the marks of a previous run's table that include
// MasqueradeMark, so that its firewall-mark services keep serving.
func (d *ipvsDP) adoptMarks() error {
	cc, err := d.nftConn()
	if err != nil {
		return err
	}
	old, err := readMarks(cc, d.table)
	if err != nil {
		return err
	}
	bit := d.opts.MasqueradeMark
	d.marks = map[markOwner]uint32{}
	for o, m := range old {
		if m&bit == bit {
			d.marks[o] = m
			d.lastMark = max(d.lastMark, m&^bit)
		}
	}
	return nil
}

// owned returns the key of an IPVS service if it is the dataplane's.
func (d *ipvsDP) owned(s *ipvs.Service, desired map[string]Service) (vsKey, bool) {
	if s.AddressFamily != unix.AF_INET {
		return vsKey{}, false
	}
	if s.FWMark != 0 {
		bit := d.opts.MasqueradeMark
		return vsKey{Mark: s.FWMark}, s.FWMark&bit == bit
	}
	fe, ok := frontendOf(s)
	if !ok {
		return vsKey{}, false
	}
	if d.vips[fe.VIP] {
		return vsKey{FE: fe}, true
	}
	for _, ds := range desired {
		if ds.VIP.IsValid() && ds.Frontend() == fe {
			return vsKey{FE: fe}, true
		}
	}
	return vsKey{}, false
}

func frontendOf(s *ipvs.Service) (Frontend, bool) {
	ip, ok := netip.AddrFromSlice(s.Address)
	if !ok || s.FWMark != 0 || s.AddressFamily != unix.AF_INET {
		return Frontend{}, false
	}
	var p Proto
	switch s.Protocol {
	case unix.IPPROTO_TCP:
		p = TCP
	case unix.IPPROTO_UDP:
		p = UDP
	default:
		return Frontend{}, false
	}
	return Frontend{VIP: ip.Unmap(), Port: s.Port, Proto: p}, true
}

// dummy returns the VIP device, creating it (up) if missing.
func (d *ipvsDP) dummy() (netlink.Link, error) {
	name := d.opts.DummyDevice
	link, err := d.h.nl.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return nil, fmt.Errorf("look up VIP device %s: %w", name, err)
		}
		if err := d.h.nl.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
			return nil, fmt.Errorf("create VIP device %s (is the dummy module available?): %w", name, err)
		}
		if link, err = d.h.nl.LinkByName(name); err != nil {
			return nil, fmt.Errorf("look up VIP device %s: %w", name, err)
		}
	}
	if err := d.h.nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bring VIP device %s up: %w", name, err)
	}
	return link, nil
}

func vipAddr(ip netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}
}

// addVIPs assigns missing VIPs to the dummy device: IPVS only sees packets
// addressed to a local address.
func (d *ipvsDP) addVIPs(want map[netip.Addr]bool) error {
	var link netlink.Link
	for ip := range want {
		if d.vips[ip] {
			continue
		}
		if link == nil {
			var err error
			if link, err = d.dummy(); err != nil {
				return err
			}
		}
		if err := d.h.nl.AddrReplace(link, vipAddr(ip)); err != nil {
			return fmt.Errorf("assign VIP %s to %s: %w", ip, d.opts.DummyDevice, err)
		}
		d.vips[ip] = true
	}
	return nil
}

// delVIPs removes the dummy device's VIPs that no service uses any more.
func (d *ipvsDP) delVIPs(want map[netip.Addr]bool) error {
	var link netlink.Link
	for ip := range d.vips {
		if want[ip] {
			continue
		}
		if link == nil {
			var err error
			if link, err = d.dummy(); err != nil {
				return err
			}
		}
		if err := d.h.nl.AddrDel(link, vipAddr(ip)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove VIP %s from %s: %w", ip, d.opts.DummyDevice, err)
		}
		delete(d.vips, ip)
	}
	return nil
}
