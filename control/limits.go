package control

import (
	"context"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/spec"
	"github.com/shoal-org/shoal/store"
)

// limitRows lists the effective limits of cluster record c.
func limitRows(c *types.Cluster) []api.Limit {
	var overrides map[string]int64
	if c != nil {
		overrides = c.Limits
	}
	eff := spec.Effective(overrides)
	rows := make([]api.Limit, 0, len(spec.Table))
	for _, l := range spec.Table {
		v, _ := eff.Get(l.Key)
		rows = append(rows, api.Limit{Key: l.Key, Value: v, Default: l.Default, Why: l.Why})
	}
	return rows
}

// Limits answers the cluster's limits: the defaults with its overrides
// applied.
func (o *Ops) Limits(ctx context.Context) ([]api.Limit, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, err
	}
	cl.Sync(ctx)
	return limitRows(cl.Store.View().Cluster()), nil
}

// UpdateLimits stores new overrides in the cluster record; bad keys or
// values change nothing.
func (o *Ops) UpdateLimits(ctx context.Context, req api.LimitsUpdate) ([]api.Limit, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, err
	}
	c := cl.Store.View().Cluster()
	if c == nil {
		return nil, &fault.Error{Kind: fault.Unavailable, Msg: "the cluster record is missing on the leader; retry in a moment"}
	}
	cp := c.Copy()
	next, err := nextOverrides(cp.Limits, req)
	if err != nil {
		return nil, err
	}
	cp.Limits = next
	if _, err := cl.Apply(ctx, store.Command{Ops: []store.Op{{Kind: store.OpPut, Table: store.TableCluster, Cluster: cp, IfVersion: c.Version}}}); err != nil {
		return nil, err
	}
	return limitRows(cp), nil
}

// nextOverrides applies req to the overrides cur (a copy it may change).
func nextOverrides(cur map[string]int64, req api.LimitsUpdate) (map[string]int64, error) {
	if err := spec.CheckOverrides(req.Set); err != nil {
		return nil, specError(err)
	}
	if cur == nil {
		cur = map[string]int64{}
	}
	for _, k := range req.Reset {
		if _, ok := spec.DefaultLimits().Get(k); !ok {
			return nil, fault.Invalidf("--reset %q: not a limit (see `agentctl cluster limits`)", k)
		}
		delete(cur, k)
	}
	for k, v := range req.Set {
		if contains(req.Reset, k) {
			return nil, fault.Invalidf("limit %q is both set and reset: give one of them", k)
		}
		cur[k] = v
	}
	if len(cur) == 0 {
		return nil, nil
	}
	return cur, nil
}
