package leader

import (
	"context"
	"errors"
	"time"

	"github.com/shoal-org/shoal/netplan"
	"github.com/shoal-org/shoal/store"
)

// leaseLoop keeps every network's lease table in step with the nodes table:
// each node holds a block of every network, a removed node's blocks are
// freed. Like nodeLoop it compares the whole picture each round.
func (l *loops) leaseLoop(ctx context.Context) {
	changes, cancel := l.Store.Subscribe(store.TableNodes, store.TableNetworks)
	defer cancel()
	for {
		v := l.Store.View()
		if err := l.ensureDefaultNetwork(ctx, v); err != nil && ctx.Err() == nil {
			l.Log.Warn("create the default network", "err", err)
		}
		changed, errs := netplan.PlanLeases(v.Networks(), v.Nodes())
		for _, err := range errs {
			l.Log.Warn("overlay leases", "err", err)
		}
		if len(changed) > 0 {
			ops := make([]store.Op, 0, len(changed))
			for _, n := range changed {
				ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableNetworks, Network: n, IfVersion: n.Version})
			}
			if _, err := l.Apply(ctx, store.Command{Ops: ops}); err != nil && ctx.Err() == nil && !errors.Is(err, store.ErrConflict) {
				l.Log.Warn("write overlay leases", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		}
	}
}

// ensureDefaultNetwork creates the default network in a cluster made
// before networks existed.
func (l *loops) ensureDefaultNetwork(ctx context.Context, v *store.View) error {
	c := v.Cluster()
	if c == nil || c.OverlayCIDR == "" || v.DefaultNetwork() != nil {
		return nil
	}
	_, err := l.Apply(ctx, store.Command{Ops: []store.Op{netplan.DefaultNetworkOp(c.OverlayCIDR)}})
	return err
}
