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
	synced bool                // have mirrors the kernel
	have   map[Frontend]ipvsVS // IPVS services this dataplane owns
	vips   map[netip.Addr]bool // addresses on the dummy device
	svcs   map[string]Service  // last applied services (nft rules, flows)
	closed bool
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
// one) reads the IPVS services on the dummy device's addresses back from
// the kernel and reconciles them, so an agent restart neither fails on nor
// disturbs what a previous run programmed.
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
	want := vipSet(desired)
	if err := d.addVIPs(want); err != nil {
		d.synced = false
		return err
	}
	ops := ipvsPlan(d.have, ipvsDesired(desired))
	for i, op := range ops {
		if err := d.do(op); err != nil {
			d.synced = false
			return fmt.Errorf("IPVS %s (step %d of %d): %w", op, i+1, len(ops), err)
		}
		applyOp(d.have, op)
	}
	if err := d.applyNft(desired); err != nil {
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

// sync reads back the state of the kernel: addresses on the dummy device
// (creating it if missing) and the IPVS services that are ours, those on
// those addresses or at a desired frontend.
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
	wantFE := ipvsDesired(desired)
	svcs, err := d.ipvs.GetServices()
	if err != nil {
		return fmt.Errorf("list IPVS services: %w", err)
	}
	d.have = map[Frontend]ipvsVS{}
	for _, s := range svcs {
		fe, ok := frontendOf(s)
		if !ok {
			continue
		}
		if _, want := wantFE[fe]; !want && !d.vips[fe.VIP] {
			continue // not ours
		}
		vs := ipvsVS{Sched: s.SchedName, Dests: map[netip.AddrPort]int{}}
		dests, err := d.ipvs.GetDestinations(s)
		if err != nil {
			return fmt.Errorf("list real servers of IPVS service %s: %w", fe, err)
		}
		for _, dst := range dests {
			if ip, ok := netip.AddrFromSlice(dst.Address); ok {
				vs.Dests[netip.AddrPortFrom(ip.Unmap(), dst.Port)] = dst.Weight
			}
		}
		d.have[fe] = vs
	}
	d.synced = true
	return nil
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
