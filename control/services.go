package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/internal/idgen"
	"github.com/shoal-org/shoal/store"
)

// ServiceCreate fills the server's defaults into the spec, admits it
// against the cluster and its limits, and records the service at its
// first revision with its VIPs.
func (o *Ops) ServiceCreate(ctx context.Context, req api.ServiceCreateRequest) (api.ServiceCreateResponse, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.ServiceCreateResponse{}, err
	}
	if err := normalizeSpec(&req.Spec); err != nil {
		return api.ServiceCreateResponse{}, err
	}
	now := cl.now()
	svc := &types.Service{ID: idgen.New(), Spec: req.Spec, SpecVersion: 1,
		Revisions: []types.Revision{{Number: 1, Spec: req.Spec, CreatedAt: now, Cause: "create"}}}
	var release func()
	if svc.RegistryAuth, release, err = cl.sealRegistryAuth(ctx, svc.ID, req.RegistryAuth); err != nil {
		return api.ServiceCreateResponse{}, err
	}
	defer release()
	err = cl.commitService(ctx, func(v *store.View) ([]store.Op, error) {
		if v.ServiceByName(svc.Spec.Name) != nil {
			return nil, &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf(
				"service %q already exists: pick another name, or change it with `agentctl service update`", svc.Spec.Name)}
		}
		guards, err := withVIPs(v, svc)
		return append([]store.Op{{Kind: store.OpCreate, Table: store.TableServices, Service: svc}}, guards...), err
	})
	if err != nil {
		return api.ServiceCreateResponse{}, err
	}
	return api.ServiceCreateResponse{ID: svc.ID}, nil
}

// sealRegistryAuth checks an X-Registry-Auth value and seals it for
// service id ("" is none: nil). The caller calls release once the sealed
// account is committed (see Cluster.Seal).
func (cl *Cluster) sealRegistryAuth(ctx context.Context, id, encoded string) (sealed *types.Sealed, release func(), err error) {
	release = func() {}
	if encoded == "" {
		return nil, release, nil
	}
	auth, err := api.DecodeRegistryAuth(encoded)
	if err != nil {
		return nil, release, fault.Invalidf("%v", err)
	}
	data, err := json.Marshal(auth)
	if err != nil {
		return nil, release, err
	}
	sealed, release, err = cl.Seal(ctx, data, []byte(id))
	if err != nil {
		return nil, func() {}, fmt.Errorf("seal the registry account: %w", err)
	}
	return sealed, release, nil
}

// serviceViews adds task counts to services, marked with where they come
// from; a service's registry account is only said to be there.
func serviceViews(v *store.View, svcs []*types.Service, fresh api.Freshness) []api.Service {
	out := make([]api.Service, 0, len(svcs))
	for _, s := range svcs {
		as := api.Service{Service: *s, DesiredTasks: s.Spec.Mode.Replicas, Freshness: fresh, WithRegistryAuth: s.RegistryAuth != nil}
		as.RegistryAuth = nil
		// A global service wants one task per eligible node: the tasks
		// the leader keeps desired running.
		desired := uint64(0)
		for _, t := range v.TasksByService(s.ID) {
			if t.DesiredState == types.TaskRunning {
				desired++
				if t.Status.State == types.TaskRunning && (t.Status.Healthy == nil || *t.Status.Healthy) {
					as.RunningTasks++
				}
			}
		}
		if s.Spec.Mode.Global {
			as.DesiredTasks = desired
		}
		out = append(out, as)
	}
	return out
}

// Services lists the services with their task counts.
func (o *Ops) Services(ctx context.Context) ([]api.Service, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, err
	}
	fresh := cl.Sync(ctx)
	v := cl.Store.View()
	return serviceViews(v, v.Services(), fresh), nil
}

// Service is one service of Services, by ID, ID prefix or name.
func (o *Ops) Service(ctx context.Context, ref string) (api.Service, error) {
	cl, err := o.cluster()
	if err != nil {
		return api.Service{}, err
	}
	fresh := cl.Sync(ctx)
	v := cl.Store.View()
	s, err := v.FindService(ref)
	if err != nil {
		return api.Service{}, err
	}
	return serviceViews(v, []*types.Service{s}, fresh)[0], nil
}

// findService returns the cluster and the service ref names in this
// agent's replica (the leader's, for the writes that use it).
func (o *Ops) findService(ref string) (*Cluster, *types.Service, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, nil, err
	}
	s, err := cl.Store.View().FindService(ref)
	return cl, s, err
}

// ServiceUpdate writes a new spec for the service at the version the
// client read (0: any); the name and the mode never change. A change of
// the task or the endpoint starts a revision and a rolling update.
func (o *Ops) ServiceUpdate(ctx context.Context, ref string, req api.ServiceUpdateRequest) (api.ServiceUpdateResponse, error) {
	cl, s, err := o.findService(ref)
	if err != nil {
		return api.ServiceUpdateResponse{}, err
	}
	if req.Version != 0 && req.Version != s.Version {
		return api.ServiceUpdateResponse{}, &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf(
			"service %q changed since it was read (version %d, now %d): run the command again", s.Spec.Name, req.Version, s.Version)}
	}
	if req.Spec.Name != s.Spec.Name {
		return api.ServiceUpdateResponse{}, fault.Invalidf("service %q: renaming is not supported (create a new service instead)", s.Spec.Name)
	}
	if err := normalizeSpec(&req.Spec); err != nil {
		return api.ServiceUpdateResponse{}, err
	}
	if req.Spec.Mode.Global != s.Spec.Mode.Global {
		return api.ServiceUpdateResponse{}, fault.Invalidf("service %q: the mode (replicated or global) cannot change; create a new service instead", s.Spec.Name)
	}
	cause := req.Cause
	if cause == "" {
		cause = "update"
	}
	auth, release, err := cl.sealRegistryAuth(ctx, s.ID, req.RegistryAuth)
	if err != nil {
		return api.ServiceUpdateResponse{}, err
	}
	defer release()
	return cl.writeSpec(ctx, s, req.Spec, cause, false, auth)
}

// writeSpec commits a new spec for s, guarded by the version it was read
// at; auth, when set, replaces its registry account.
func (cl *Cluster) writeSpec(ctx context.Context, s *types.Service, spec types.ServiceSpec, cause string, rollback bool, auth *types.Sealed) (api.ServiceUpdateResponse, error) {
	cp := s.Copy()
	changeSpec(cp, spec, cause, cl.now(), rollback)
	if auth != nil {
		cp.RegistryAuth = auth
	}
	guards, err := withVIPs(cl.Store.View(), cp)
	if err != nil {
		return api.ServiceUpdateResponse{}, err
	}
	ops := append([]store.Op{{Kind: store.OpPut, Table: store.TableServices, Service: cp, IfVersion: s.Version}}, guards...)
	_, err = cl.Apply(ctx, store.Command{Ops: ops})
	if errors.Is(err, store.ErrConflict) {
		return api.ServiceUpdateResponse{}, &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf("service %q changed during the update: run the command again", s.Spec.Name)}
	}
	if err != nil {
		return api.ServiceUpdateResponse{}, err
	}
	return api.ServiceUpdateResponse{SpecVersion: cp.SpecVersion}, nil
}

// ServiceRollback goes back to the previous spec, or to revision
// req.ToRevision, keeping the replicas and the update and rollback
// settings.
func (o *Ops) ServiceRollback(ctx context.Context, ref string, req api.ServiceRollbackRequest) (api.ServiceUpdateResponse, error) {
	cl, s, err := o.findService(ref)
	if err != nil {
		return api.ServiceUpdateResponse{}, err
	}
	var spec types.ServiceSpec
	cause := "rollback"
	switch {
	case req.ToRevision != 0:
		if spec, err = revisionSpec(s, req.ToRevision); err != nil {
			return api.ServiceUpdateResponse{}, err
		}
		cause = fmt.Sprintf("rollback to revision %d", req.ToRevision)
	case s.PreviousSpec != nil:
		spec = *s.PreviousSpec
	default:
		return api.ServiceUpdateResponse{}, fault.Invalidf("service %q does not have a previous spec", s.Spec.Name)
	}
	// The replica count and the update and rollback settings stay as they
	// are (swarm's rollback changes the task template and endpoints): the
	// rollback runs under the service's current rollback settings.
	spec.Mode, spec.Update, spec.Rollback = s.Spec.Mode, s.Spec.Update, s.Spec.Rollback
	return cl.writeSpec(ctx, s, spec, cause, true, nil)
}

// ServiceHistory lists the revisions the service keeps, oldest first.
func (o *Ops) ServiceHistory(ctx context.Context, ref string) ([]types.Revision, error) {
	cl, err := o.cluster()
	if err != nil {
		return nil, err
	}
	cl.Sync(ctx)
	s, err := cl.Store.View().FindService(ref)
	if err != nil {
		return nil, err
	}
	return s.Revisions, nil
}

// ServiceRemove removes the service; the leader stops its tasks.
func (o *Ops) ServiceRemove(ctx context.Context, ref string) error {
	cl, err := o.cluster()
	if err != nil {
		return err
	}
	s, err := cl.Store.View().FindService(ref)
	if err != nil {
		return err
	}
	if _, err := cl.Apply(ctx, store.Command{Ops: []store.Op{{Kind: store.OpDelete, Table: store.TableServices, ID: s.ID}}}); err != nil {
		return err
	}
	return nil
}
