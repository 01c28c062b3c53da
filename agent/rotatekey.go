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
// secret is opened with the old key and sealed again under a new one, the
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
	if s.Sealed == nil || s.Sealed.KeyID != old.ID {
		return store.Op{}, fmt.Errorf("secret %q is not sealed with the cluster's data key %s", s.Spec.Name, old.ID)
	}
	data, err := keyring.Open(old.Key, s.Sealed.Nonce, s.Sealed.Ciphertext, []byte(s.ID))
	if err != nil {
		return store.Op{}, fmt.Errorf("open secret %q: %w", s.Spec.Name, err)
	}
	nonce, ct, err := keyring.Seal(next.Key, data, []byte(s.ID))
	if err != nil {
		return store.Op{}, fmt.Errorf("seal secret %q: %w", s.Spec.Name, err)
	}
	cp := s.Copy()
	cp.Sealed = &types.Sealed{KeyID: next.ID, Nonce: nonce, Ciphertext: ct}
	return store.Op{Kind: store.OpPut, Table: store.TableSecrets, Secret: cp, IfVersion: s.Version}, nil
}
