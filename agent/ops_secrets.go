package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/control"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/internal/idgen"
	"github.com/shoal-org/shoal/keyring"
	"github.com/shoal-org/shoal/spec"
	"github.com/shoal-org/shoal/store"
)

// Secrets and configs: create, list, inspect, relabel, remove. A secret's
// payload is sealed with the cluster's data key (datakey.go) before it
// reaches raft, and no read returns it.

// withoutPayload is what a read returns of a secret.
func withoutPayload(s *types.Secret) types.Secret {
	out := *s.Copy()
	out.Sealed = nil
	return out
}

func (a *Agent) Secrets(ctx context.Context) ([]types.Secret, error) {
	cl, err := a.cluster()
	if err != nil {
		return nil, err
	}
	cl.syncRead(ctx)
	out := []types.Secret{}
	for _, s := range cl.store.View().Secrets() {
		out = append(out, withoutPayload(s))
	}
	return out, nil
}

func (a *Agent) Secret(ctx context.Context, ref string) (types.Secret, error) {
	cl, err := a.cluster()
	if err != nil {
		return types.Secret{}, err
	}
	cl.syncRead(ctx)
	s, err := cl.store.View().FindSecret(ref)
	if err != nil {
		return types.Secret{}, err
	}
	return withoutPayload(s), nil
}

func (a *Agent) Configs(ctx context.Context) ([]types.Config, error) {
	cl, err := a.cluster()
	if err != nil {
		return nil, err
	}
	cl.syncRead(ctx)
	out := []types.Config{}
	for _, c := range cl.store.View().Configs() {
		out = append(out, *c)
	}
	return out, nil
}

func (a *Agent) Config(ctx context.Context, ref string) (types.Config, error) {
	cl, err := a.cluster()
	if err != nil {
		return types.Config{}, err
	}
	cl.syncRead(ctx)
	c, err := cl.store.View().FindConfig(ref)
	if err != nil {
		return types.Config{}, err
	}
	return *c, nil
}

// FileCreate creates a secret (sealed) or a config. Runs on the leader.
func (a *Agent) FileCreate(ctx context.Context, kind api.FileKind, req api.FileCreateRequest) (api.FileCreateResponse, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.FileCreateResponse{}, err
	}
	v := cl.store.View()
	if err := admitFile(v, kind, req); err != nil {
		return api.FileCreateResponse{}, err
	}
	id := idgen.New()
	if kind == api.KindConfig {
		c := &types.Config{ID: id, Spec: types.ConfigSpec{Name: req.Name, Labels: req.Labels, Data: req.Data}}
		_, err := cl.apply(ctx, store.Command{Ops: []store.Op{{Kind: store.OpCreate, Table: store.TableConfigs, Config: c}}})
		return api.FileCreateResponse{ID: id}, err
	}
	// One secret create at a time: the first one makes the data key.
	cl.dek.create.Lock()
	defer cl.dek.create.Unlock()
	dk, ops, err := cl.dataKey(ctx)
	if err != nil {
		return api.FileCreateResponse{}, err
	}
	nonce, ct, err := keyring.Seal(dk.Key, req.Data, []byte(id))
	if err != nil {
		return api.FileCreateResponse{}, fmt.Errorf("seal secret %q: %w", req.Name, err)
	}
	s := &types.Secret{ID: id, Spec: types.SecretSpec{Name: req.Name, Labels: req.Labels},
		Sealed: &types.Sealed{KeyID: dk.ID, Nonce: nonce, Ciphertext: ct}}
	ops = append(ops, store.Op{Kind: store.OpCreate, Table: store.TableSecrets, Secret: s})
	if _, err := cl.apply(ctx, store.Command{Ops: ops}); err != nil {
		return api.FileCreateResponse{}, err
	}
	cl.log.Info("secret created", "secret", req.Name, "id", id)
	return api.FileCreateResponse{ID: id}, nil
}

// admitFile checks a create request: a valid name that no object of the
// kind uses (case aside, as docker), a payload of 1 byte to 500 KiB, and
// labels within the limits.
func admitFile(v *store.View, kind api.FileKind, req api.FileCreateRequest) error {
	noun := string(kind)
	if err := spec.ValidateFileName(noun, req.Name); err != nil {
		return control.SpecError(err)
	}
	if err := spec.ValidateFileData(noun, req.Name, req.Data); err != nil {
		return control.SpecError(err)
	}
	if err := spec.CheckLabels("label", req.Labels, control.ClusterLimits(v)); err != nil {
		return control.SpecError(err)
	}
	var names []string
	if kind == api.KindSecret {
		for _, s := range v.Secrets() {
			names = append(names, s.Spec.Name)
		}
	} else {
		for _, c := range v.Configs() {
			names = append(names, c.Spec.Name)
		}
	}
	for _, n := range names {
		if strings.EqualFold(n, req.Name) {
			return fault.Conflictf("%s %q already exists (as %q): a %s's data cannot change; create one under another name and move services to it with `agentctl service update --%s-rm %s --%s-add NEW SERVICE`",
				noun, req.Name, n, noun, noun, n, noun)
		}
	}
	return nil
}

// findFile resolves ref to a secret or config and returns its ID, name
// and version.
func findFile(v *store.View, kind api.FileKind, ref string) (id, name string, version uint64, err error) {
	if kind == api.KindSecret {
		s, err := v.FindSecret(ref)
		if err != nil {
			return "", "", 0, err
		}
		return s.ID, s.Spec.Name, s.Version, nil
	}
	c, err := v.FindConfig(ref)
	if err != nil {
		return "", "", 0, err
	}
	return c.ID, c.Spec.Name, c.Version, nil
}

// FileUpdate replaces a secret's or config's labels, the only change
// allowed. Runs on the leader.
func (a *Agent) FileUpdate(ctx context.Context, kind api.FileKind, ref string, upd api.FileUpdate) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	v := cl.store.View()
	id, name, version, err := findFile(v, kind, ref)
	if err != nil {
		return err
	}
	if upd.Version != 0 && upd.Version != version {
		return fault.Conflictf("%s %q is at version %d, not %d: inspect it again and retry", kind, name, version, upd.Version)
	}
	if err := spec.CheckLabels("label", upd.Labels, control.ClusterLimits(v)); err != nil {
		return control.SpecError(err)
	}
	op := store.Op{Kind: store.OpPut, IfVersion: version}
	if kind == api.KindSecret {
		s := v.Secret(id).Copy()
		s.Spec.Labels = upd.Labels
		op.Table, op.Secret = store.TableSecrets, s
	} else {
		c := v.Config(id).Copy()
		c.Spec.Labels = upd.Labels
		op.Table, op.Config = store.TableConfigs, c
	}
	_, err = cl.apply(ctx, store.Command{Ops: []store.Op{op}})
	return err
}

// FileRemove removes a secret or config; the store refuses while a
// service uses it, naming the services. Runs on the leader.
func (a *Agent) FileRemove(ctx context.Context, kind api.FileKind, ref string) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	id, _, version, err := findFile(cl.store.View(), kind, ref)
	if err != nil {
		return err
	}
	table := store.TableConfigs
	if kind == api.KindSecret {
		table = store.TableSecrets
	}
	_, err = cl.apply(ctx, store.Command{Ops: []store.Op{{Kind: store.OpDelete, Table: table, ID: id, IfVersion: version}}})
	return err
}
