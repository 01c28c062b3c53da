package lb

import (
	"errors"
	"fmt"

	"github.com/moby/ipvs"
	"golang.org/x/sys/unix"
)

func ipvsService(fe Frontend, sched string) *ipvs.Service {
	return &ipvs.Service{
		Address:       fe.VIP.AsSlice(),
		Protocol:      uint16(protoNumber(fe.Proto)),
		Port:          fe.Port,
		SchedName:     sched,
		AddressFamily: unix.AF_INET,
		Netmask:       0xffffffff,
	}
}

// do performs one IPVS change. Real servers use masquerading (NAT)
// forwarding, so a backend may sit on any reachable network.
func (d *ipvsDP) do(op ipvsOp) error {
	svc := ipvsService(op.FE, op.Sched)
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

// applyNft brings the helper table in line with desired: rebuilt whole
// (replacing a previous run's) the first time, by element changes after.
func (d *ipvsDP) applyNft(desired map[string]Service) error {
	if d.cc == nil {
		cc, err := newNftConn(d.h)
		if err != nil {
			return err
		}
		d.cc = cc
		resetTable(cc, d.table)
		d.table = cc.AddTable(d.table)
		if err := addIPVSBase(cc, d.table, d.opts.MasqueradeMark); err != nil {
			d.dropConn()
			return err
		}
		b := &batch{cc: cc, ops: 1}
		ipvsNftPlan(b, d.table, nil, desired)
		if err := b.commit(); err != nil {
			d.dropConn()
			return err
		}
		return nil
	}
	b := &batch{cc: d.cc}
	ipvsNftPlan(b, d.table, d.svcs, desired)
	if err := b.commit(); err != nil {
		d.dropConn() // the next Apply rebuilds the table
		return err
	}
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
	for _, fe := range sortedFrontends(d.have) {
		err := d.ipvs.DelService(ipvsService(fe, ""))
		if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete IPVS service %s: %w", fe, err))
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
	d.have, d.svcs, d.vips = nil, nil, nil
	return errors.Join(errs...)
}
