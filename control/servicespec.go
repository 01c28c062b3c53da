package control

import (
	"errors"
	"reflect"
	"time"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/rollout"
	"github.com/shoal-org/shoal/spec"
	"github.com/shoal-org/shoal/store"
)

// maxRevisions is how many past specs a service keeps for rollback.
const maxRevisions = 10

// normalizeSpec fills the server's defaults into s and validates every
// field on its own (package spec); the checks against the cluster and its
// limits follow in admitService. It changes nothing in the store.
func normalizeSpec(s *types.ServiceSpec) error {
	spec.Defaults(s)
	return specError(spec.ValidateService(s))
}

// admitService checks svc's spec against the rest of the cluster in v and
// the cluster's limits (names, published ports, counts, sizes).
func admitService(v *store.View, svc *types.Service) error {
	return specError(spec.CheckService(specCluster(v), &svc.Spec, svc.ID, clusterLimits(v)))
}

// specCluster is the part of v the front door's checks read.
func specCluster(v *store.View) spec.Cluster {
	return spec.Cluster{Services: v.Services(), Nodes: v.Nodes(), Networks: v.Networks()}
}

// clusterLimits is the front door's limits with the cluster's overrides.
func clusterLimits(v *store.View) spec.Limits {
	if c := v.Cluster(); c != nil {
		return spec.Effective(c.Limits)
	}
	return spec.DefaultLimits()
}

// specError turns the front door's refusals into 400s (409 for a clash
// with the cluster's state).
func specError(err error) error {
	var e *spec.Error
	if errors.As(err, &e) {
		kind := fault.Invalid
		if e.Conflict {
			kind = fault.Conflict
		}
		return &fault.Error{Kind: kind, Msg: e.Error()}
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// changeSpec records a new spec on svc (a copy the caller will write):
// a change to the task template or the endpoint starts a new revision and
// a rolling update (a rollback when rollback is set) that replaces every
// outdated slot; a change of replicas alone does not. An update that
// changes nothing of the kind resumes a paused update, as in swarm.
func changeSpec(svc *types.Service, next types.ServiceSpec, cause string, now time.Time, rollback bool) {
	old := svc.Spec.Copy()
	// A spec stored before the server filled defaults (an old revision
	// rolled back to included) compares as filled, so that filling them is
	// not a change that restarts every task.
	spec.Defaults(&old)
	spec.Defaults(&next)
	svc.Spec = next
	if reflect.DeepEqual(old.Task, next.Task) && reflect.DeepEqual(old.Endpoint, next.Endpoint) {
		if st, ok := rollout.ResumeUpdate(svc.UpdateStatus); ok {
			svc.UpdateStatus = st
		}
		return
	}
	prev := old
	svc.PreviousSpec = &prev
	svc.SpecVersion++
	svc.UpdateStatus = rollout.BeginUpdate(svc.UpdateStatus, now, rollback)
	num := uint64(1)
	if n := len(svc.Revisions); n > 0 {
		num = svc.Revisions[n-1].Number + 1
	}
	svc.Revisions = append(svc.Revisions, types.Revision{Number: num, Spec: next, CreatedAt: now, Cause: cause})
	if len(svc.Revisions) > maxRevisions {
		svc.Revisions = svc.Revisions[len(svc.Revisions)-maxRevisions:]
	}
}

// revisionSpec finds revision n of svc.
func revisionSpec(svc *types.Service, n uint64) (types.ServiceSpec, error) {
	for _, r := range svc.Revisions {
		if r.Number == n {
			return r.Spec, nil
		}
	}
	have := make([]uint64, 0, len(svc.Revisions))
	for _, r := range svc.Revisions {
		have = append(have, r.Number)
	}
	return types.ServiceSpec{}, fault.Invalidf("service %q has no revision %d (kept: %v; see `agentctl service history %s`)",
		svc.Spec.Name, n, have, svc.Spec.Name)
}

// SpecError is specError for the agent's own operations (secrets and
// configs): the front door's refusals as 400s and 409s.
func SpecError(err error) error { return specError(err) }

// ClusterLimits are the limits in force in view v.
func ClusterLimits(v *store.View) spec.Limits { return clusterLimits(v) }
