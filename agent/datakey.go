package agent

import (
	"context"
	"crypto/ecdh"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/keyring"
	"github.com/shoal-org/shoal/pki"
	"github.com/shoal-org/shoal/store"
)

// The cluster's data key (see package keyring) lives in the store only
// wrapped for each raft voter (store.TableKeys, one row per voter). The
// leader unwraps its own copy with its node key when it needs the key (to
// seal a new secret or to hand a task's secrets to its node), keeps it in
// memory, wraps it for every voter that lacks a copy and drops the copy of
// a node that is no longer a voter (keyLoop). Non-voters never hold one.

// dataKeyCache is the leader's unwrapped data key.
type dataKeyCache struct {
	// create serialises secret creation, so that two first secrets do not
	// make two data keys.
	create sync.Mutex
	mu     sync.Mutex
	key    keyring.DataKey // zero until unwrapped
}

// forget drops the unwrapped key: an agent that no longer leads keeps no
// reference to it. (The bytes are not zeroed: an operation still running
// may hold them, and must not seal under zeros.)
func (c *dataKeyCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key = keyring.DataKey{}
}

// errNoKeyCopy: this voter has no wrapped copy of the data key yet.
func errNoKeyCopy(node string) error {
	return fault.Unavailablef("this leader (%s) holds no copy of the cluster's data key yet (it became a voter moments ago): retry in a few seconds", node)
}

// dataKey returns the cluster's data key, unwrapped with this node's key.
// When the cluster has none yet it makes one and returns the ops that
// store it wrapped for this node and every reachable voter: the caller
// applies them with its own write. Leader only.
func (cl *cluster) dataKey(ctx context.Context) (keyring.DataKey, []store.Op, error) {
	v := cl.store.View()
	if len(v.WrappedKeys()) == 0 {
		return cl.newDataKey(ctx, v)
	}
	own := v.WrappedKey(cl.id.NodeID)
	if own == nil {
		return keyring.DataKey{}, nil, errNoKeyCopy(cl.id.NodeID)
	}
	cl.dek.mu.Lock()
	defer cl.dek.mu.Unlock()
	if cl.dek.key.ID == own.KeyID {
		return cl.dek.key, nil, nil
	}
	priv, err := pki.NodeECDHKey(cl.id.keyPEM)
	if err != nil {
		return keyring.DataKey{}, nil, fmt.Errorf("unwrap the cluster's data key: %w", err)
	}
	key, err := keyring.Unwrap(priv, own.KeyID, own.Wrapped)
	if err != nil {
		return keyring.DataKey{}, nil, fmt.Errorf("unwrap the cluster's data key with this node's key: %w", err)
	}
	cl.dek.key = keyring.DataKey{ID: own.KeyID, Key: key}
	return cl.dek.key, nil, nil
}

// newDataKey makes the cluster's first data key and wraps it for this
// node and for every other ready voter it can reach now (the key loop
// wraps it for the rest).
func (cl *cluster) newDataKey(ctx context.Context, v *store.View) (keyring.DataKey, []store.Op, error) {
	dk, err := keyring.NewDataKey()
	if err != nil {
		return dk, nil, err
	}
	var ops []store.Op
	for _, n := range v.Nodes() {
		if n.ID != cl.id.NodeID && (n.Role != types.RoleVoter || n.Status != types.NodeReady) {
			continue
		}
		op, err := cl.wrapFor(ctx, n, dk, nil)
		if err != nil {
			if n.ID == cl.id.NodeID {
				return dk, nil, err
			}
			cl.log.Warn("data key: cannot wrap it for a voter yet; retrying later", "node", n.Hostname, "err", err)
			continue
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 { // this node is not in the nodes table yet
		op, err := cl.wrapFor(ctx, &types.Node{ID: cl.id.NodeID}, dk, nil)
		if err != nil {
			return dk, nil, err
		}
		ops = append(ops, op)
	}
	cl.dek.mu.Lock()
	cl.dek.key = dk
	cl.dek.mu.Unlock()
	cl.log.Info("data key made for secrets", "key", dk.ID, "wrapped_for", len(ops))
	return dk, ops, nil
}

// wrapFor returns the op that stores dk wrapped for node n (replacing cur,
// its current copy, if any).
func (cl *cluster) wrapFor(ctx context.Context, n *types.Node, dk keyring.DataKey, cur *types.WrappedKey) (store.Op, error) {
	pub, err := cl.nodePublicKey(ctx, n)
	if err != nil {
		return store.Op{}, err
	}
	w, err := keyring.Wrap(pub, dk.ID, dk.Key)
	if err != nil {
		return store.Op{}, err
	}
	op := store.Op{Kind: store.OpCreate, Table: store.TableKeys, Key: &types.WrappedKey{ID: n.ID, KeyID: dk.ID, Wrapped: w}}
	if cur != nil {
		op.Kind, op.IfVersion = store.OpPut, cur.Version
	}
	return op, nil
}

// nodePublicKey is node n's public key: this node's from its certificate,
// another's from the certificate it presents on its API port, verified
// against the cluster CA and checked to be n's node certificate.
func (cl *cluster) nodePublicKey(ctx context.Context, n *types.Node) (*ecdh.PublicKey, error) {
	if n.ID == cl.id.NodeID {
		return pki.CertECDHKeyPEM(cl.id.certPEM)
	}
	if n.Addr == "" || n.APIPort == 0 {
		return nil, fmt.Errorf("node %s has no API address yet", n.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cl.clientTLS}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(n.Addr, strconv.Itoa(n.APIPort)))
	if err != nil {
		return nil, fmt.Errorf("read node %s's certificate: %w", n.ID, err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 || pki.NodeID(certs[0]) != n.ID || pki.IsClientCert(certs[0]) {
		return nil, fmt.Errorf("node %s at %s presented another node's certificate", n.ID, n.Addr)
	}
	return pki.CertECDHKey(certs[0])
}

// keyLoop keeps a wrapped copy of the data key for exactly the voters
// (this leader included) while this agent leads: on every change of the
// nodes or keys tables, and every few seconds for copies that could not
// be made (a voter that did not answer).
func (cl *cluster) keyLoop(ctx context.Context) {
	changes, unsubscribe := cl.store.Subscribe(store.TableNodes, store.TableKeys)
	defer unsubscribe()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		if err := cl.syncKeys(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, store.ErrConflict) {
			cl.log.Warn("data key copies", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

// syncKeys runs one round of keyLoop.
func (cl *cluster) syncKeys(ctx context.Context) error {
	v := cl.store.View()
	keys := v.WrappedKeys()
	if len(keys) == 0 {
		return nil // no secret yet: no data key
	}
	dk, _, err := cl.dataKey(ctx)
	if err != nil {
		return err
	}
	var ops []store.Op
	var errs []error
	for _, n := range v.Nodes() {
		cur := v.WrappedKey(n.ID)
		if n.Role != types.RoleVoter || n.Status != types.NodeReady || (cur != nil && cur.KeyID == dk.ID) {
			continue
		}
		op, err := cl.wrapFor(ctx, n, dk, cur)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cl.log.Info("data key wrapped for a voter", "node", n.Hostname)
		ops = append(ops, op)
	}
	for _, k := range keys {
		if n := v.Node(k.ID); k.ID != cl.id.NodeID && (n == nil || n.Role != types.RoleVoter) {
			cl.log.Info("data key copy dropped: node is no longer a voter", "node", k.ID)
			ops = append(ops, store.Op{Kind: store.OpDelete, Table: store.TableKeys, ID: k.ID, IfVersion: k.Version})
		}
	}
	if len(ops) > 0 {
		_, err := cl.apply(ctx, store.Command{Ops: ops})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// openSealed opens sl, sealed under dk with id as additional data; what
// names it in errors.
func openSealed(sl *types.Sealed, dk keyring.DataKey, id, what string) ([]byte, error) {
	switch {
	case sl == nil:
		return nil, fmt.Errorf("%s holds no sealed data", what)
	case sl.KeyID != dk.ID:
		return nil, fmt.Errorf("%s is sealed with data key %s, the cluster's is %s", what, sl.KeyID, dk.ID)
	}
	data, err := keyring.Open(dk.Key, sl.Nonce, sl.Ciphertext, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", what, err)
	}
	return data, nil
}
