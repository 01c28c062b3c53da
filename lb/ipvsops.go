package lb

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/moby/ipvs"
	"golang.org/x/sys/unix"
)

// ipvsService is the IPVS form of the virtual service k.
func ipvsService(k vsKey, sched string) *ipvs.Service {
	if k.Mark != 0 {
		return &ipvs.Service{FWMark: k.Mark, SchedName: sched, AddressFamily: unix.AF_INET, Netmask: 0xffffffff}
	}
	return &ipvs.Service{
		Address:       k.FE.VIP.AsSlice(),
		Protocol:      uint16(protoNumber(k.FE.Proto)),
		Port:          k.FE.Port,
		SchedName:     sched,
		AddressFamily: unix.AF_INET,
		Netmask:       0xffffffff,
	}
}

// do performs one IPVS change. Real servers use masquerading (NAT)
// forwarding, so a backend may sit on any reachable network; those of
// all-port VIPs have port 0 (the client's destination port is kept).
func (d *ipvsDP) do(op ipvsOp) error {
	svc := ipvsService(op.VS, op.Sched)
	dst := &ipvs.Destination{
		Address:         op.Dest.Addr().AsSlice(),
		Port:            op.Dest.Port(),
		Weight:          op.Weight,
		ConnectionFlags: ipvs.ConnectionFlagMasq,
		AddressFamily:   unix.AF_INET,
	}
	switch op.Kind {
	case opDelService:
		return d.ipvs.DelService(svc)
	case opAddService:
		return d.ipvs.NewService(svc)
	case opUpdateService:
		return d.ipvs.UpdateService(svc)
	case opAddDest:
		return d.ipvs.NewDestination(svc, dst)
	case opUpdateDest:
		return d.ipvs.UpdateDestination(svc, dst)
	case opDelDest:
		return d.ipvs.DelDestination(svc, dst)
	}
	return fmt.Errorf("unknown IPVS operation %d", op.Kind)
}

// nftConn returns the dataplane's nftables connection, opening it if
// needed.
func (d *ipvsDP) nftConn() (*nftables.Conn, error) {
	if d.cc == nil {
		cc, err := newNftConn(d.h)
		if err != nil {
			return nil, err
		}
		d.cc = cc
	}
	return d.cc, nil
}

// applyNft brings the helper table in line with want: rebuilt whole
// (replacing a previous run's) the first time and after a failed commit, by
// element changes after.
func (d *ipvsDP) applyNft(want *ipvsNftState) error {
	cc, err := d.nftConn()
	if err != nil {
		return err
	}
	b := &batch{cc: cc}
	if d.nft == nil {
		resetTable(cc, d.table)
		d.table = cc.AddTable(d.table)
		b.ops++
		addIPVSBase(b, d.table, d.opts.MasqueradeMark)
	}
	ipvsNftPlan(b, d.table, d.nft, want)
	if err := b.commit(); err != nil {
		d.dropConn() // discards what is queued
		d.nft = nil
		return err
	}
	d.nft = want
	return nil
}

func (d *ipvsDP) dropConn() {
	if d.cc != nil {
		_ = d.cc.CloseLasting()
		d.cc = nil
	}
}

// Close implements Dataplane: it deletes the IPVS services this dataplane
// owns, the VIP device and the nftables table. Existing connections keep
// their translation in conntrack until they end.
func (d *ipvsDP) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	defer d.h.close()
	defer d.ipvs.Close()
	defer d.dropConn()
	var errs []error
	if !d.synced {
		if err := d.sync(nil); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range sortedVS(d.have) {
		err := d.ipvs.DelService(ipvsService(k, ""))
		if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete IPVS service %s: %w", k, err))
		}
	}
	if link, err := d.h.nl.LinkByName(d.opts.DummyDevice); err == nil {
		if err := d.h.nl.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete VIP device %s: %w", d.opts.DummyDevice, err))
		}
	}
	d.dropConn()
	cc, err := newNftConn(d.h)
	if err == nil {
		d.cc = cc
		cc.AddTable(d.table)
		cc.DelTable(d.table)
		err = cc.Flush()
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("delete nftables table %s: %w", d.table.Name, err))
	}
	d.have, d.svcs, d.vips, d.nft = nil, nil, nil, nil
	return errors.Join(errs...)
}
