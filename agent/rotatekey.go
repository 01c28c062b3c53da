package agent

import (
	"context"
	"fmt"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/keyring"
	"github.com/shoal-org/shoal/store"
)

// RotateDataKey replaces the cluster's data key in one raft command: every
// secret (and service registry account) is opened with the old key and
// sealed again under a new one, the
// new key is wrapped for every ready voter (this leader included), and the
// copies of the old key that could not be replaced are dropped (the key
// loop wraps the new key for those voters once they answer). Runs on the
// leader. Old raft log entries and snapshots still hold what the old key
// sealed until raft compacts them.
func (a *Agent) RotateDataKey(ctx context.Context) (api.RotateKeyResponse, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.RotateKeyResponse{}, err
	}
	cl.dek.create.Lock()
	defer cl.dek.create.Unlock()
	v := cl.store.View()
	var old keyring.DataKey
	if len(v.WrappedKeys()) > 0 {
		if old, _, err = cl.dataKey(ctx); err != nil {
			return api.RotateKeyResponse{}, err
		}
	}
	next, ops, err := cl.newDataKey(ctx, v)
	if err != nil {
		return api.RotateKeyResponse{}, err
	}
	resp := api.RotateKeyResponse{KeyID: next.ID, Voters: len(ops)}
	for i := range ops { // newDataKey creates; the rows may exist
		if cur := v.WrappedKey(ops[i].Key.ID); cur != nil {
			ops[i].Kind, ops[i].IfVersion = store.OpPut, cur.Version
		}
	}
	for _, k := range v.WrappedKeys() {
		if !wrappedIn(ops, k.ID) {
			ops = append(ops, store.Op{Kind: store.OpDelete, Table: store.TableKeys, ID: k.ID, IfVersion: k.Version})
		}
	}
	for _, s := range v.Secrets() {
		op, err := reseal(s, old, next)
		if err != nil {
			return api.RotateKeyResponse{}, err
		}
		ops = append(ops, op)
		resp.Resealed++
	}
	for _, svc := range v.Services() {
		if svc.RegistryAuth == nil {
			continue
		}
		sealed, err := resealed(svc.RegistryAuth, old, next, svc.ID, "the registry account of service "+svc.Spec.Name)
		if err != nil {
			return api.RotateKeyResponse{}, err
		}
		cp := svc.Copy()
		cp.RegistryAuth = sealed
		ops = append(ops, store.Op{Kind: store.OpPut, Table: store.TableServices, Service: cp, IfVersion: svc.Version})
		resp.Resealed++
	}
	if _, err := cl.apply(ctx, store.Command{Ops: ops}); err != nil {
		return api.RotateKeyResponse{}, err
	}
	cl.log.Info("data key rotated", "key", next.ID, "resealed", resp.Resealed, "voters", resp.Voters)
	return resp, nil
}

func wrappedIn(ops []store.Op, nodeID string) bool {
	for _, op := range ops {
		if op.Key != nil && op.Key.ID == nodeID {
			return true
		}
	}
	return false
}

// reseal returns the op that stores s sealed under next instead of old.
func reseal(s *types.Secret, old, next keyring.DataKey) (store.Op, error) {
	sealed, err := resealed(s.Sealed, old, next, s.ID, fmt.Sprintf("secret %q", s.Spec.Name))
	if err != nil {
		return store.Op{}, err
	}
	cp := s.Copy()
	cp.Sealed = sealed
	return store.Op{Kind: store.OpPut, Table: store.TableSecrets, Secret: cp, IfVersion: s.Version}, nil
}

// resealed opens sl (sealed under old, id as additional data) and seals
// it again under next; what names it in errors.
func resealed(sl *types.Sealed, old, next keyring.DataKey, id, what string) (*types.Sealed, error) {
	data, err := openSealed(sl, old, id, what)
	if err != nil {
		return nil, err
	}
	nonce, ct, err := keyring.Seal(next.Key, data, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", what, err)
	}
	return &types.Sealed{KeyID: next.ID, Nonce: nonce, Ciphertext: ct}, nil
}
