package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/keyring"
	"github.com/shoal-org/shoal/pki"
)

// TestDataKeyPerVoter: on a cluster of four (three voters), the first
// secret makes a data key that ends up wrapped for exactly the voters,
// each of which unwraps it with its own node key; the store holds neither
// the key nor the payload in plaintext; and the leader hands a task's
// secrets to the task's node only.
func TestDataKeyPerVoter(t *testing.T) {
	agents := formCluster(t, "k1", "k2", "k3", "k4")
	ctx := context.Background()
	eventually(t, 30*time.Second, "3 voters", func() error {
		if n := voters(agents[0].nodes(t)); n != 3 {
			return fmt.Errorf("%d voters", n)
		}
		return nil
	})
	payload := []byte("hunter2-" + t.Name())
	if _, err := agents[3].c.SecretCreate(ctx, api.FileCreateRequest{Name: "pw", Data: payload}); err != nil {
		t.Fatal(err)
	}
	var dek []byte
	eventually(t, 30*time.Second, "a copy of the data key for each voter only", func() (err error) {
		dek, err = keyCopies(t, agents)
		return err
	})
	cl, _ := agents[0].a.cluster()
	snap := dump(t, cl)
	if bytes.Contains(snap, payload) || bytes.Contains(snap, dek) {
		t.Fatal("the store holds the payload or the data key in plaintext")
	}

	spec := types.ServiceSpec{Name: "db", Mode: types.ServiceMode{Replicas: 1},
		Task: types.TaskTemplate{Image: "web:v1", Secrets: []types.FileRef{{Name: "pw"}}}}
	if _, err := agents[1].c.ServiceCreate(ctx, api.ServiceCreateRequest{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	var task *types.Task
	eventually(t, 30*time.Second, "the task assigned", func() error {
		for _, tk := range cl.store.View().Tasks() {
			if tk.NodeID != "" {
				task = tk
				return nil
			}
		}
		return errors.New("no assigned task")
	})
	resp, err := agents[0].a.TaskSecrets(ctx, task.NodeID, api.TaskSecretsRequest{TaskID: task.ID})
	if err != nil || len(resp.Secrets) != 1 || !bytes.Equal(resp.Secrets[0].Data, payload) {
		t.Fatalf("the task's node got %+v, %v", resp, err)
	}
	for _, ta := range agents {
		other, _ := ta.a.cluster()
		if other.id.NodeID == task.NodeID {
			continue
		}
		_, err := agents[0].a.TaskSecrets(ctx, other.id.NodeID, api.TaskSecretsRequest{TaskID: task.ID})
		if fe, ok := fault.As(err); !ok || fe.Kind != fault.Forbidden {
			t.Errorf("node %s got the secrets of a task of another node: %v", ta.a.cfg.Name, err)
		}
	}
	if _, err := agents[1].a.TaskSecrets(ctx, task.NodeID, api.TaskSecretsRequest{TaskID: task.ID}); err == nil {
		t.Error("a follower handed out task secrets")
	}

	checkRotation(t, agents, cl, task, payload)
}

// keyCopies checks that exactly the voters hold a copy of the data key and
// that each unwraps the same key with its own node key, which it returns.
func keyCopies(t *testing.T, agents []*testAgent) ([]byte, error) {
	var dek []byte
	roles := map[string]types.Role{}
	for _, n := range agents[0].nodes(t) {
		roles[n.ID] = n.Role
	}
	for _, ta := range agents {
		cl, err := ta.a.cluster()
		if err != nil {
			return nil, err
		}
		v := cl.store.View()
		k := v.WrappedKey(cl.id.NodeID)
		if (k != nil) != (roles[cl.id.NodeID] == types.RoleVoter) || len(v.WrappedKeys()) != 3 {
			return nil, fmt.Errorf("%s (%s) has copy %v; %d copies", ta.a.cfg.Name, roles[cl.id.NodeID], k != nil, len(v.WrappedKeys()))
		}
		if k == nil {
			continue
		}
		priv, err := pki.NodeECDHKey(cl.id.keyPEM)
		if err != nil {
			return nil, err
		}
		key, err := keyring.Unwrap(priv, k.KeyID, k.Wrapped)
		if err != nil {
			return nil, fmt.Errorf("%s cannot unwrap its copy: %w", ta.a.cfg.Name, err)
		}
		if dek != nil && !bytes.Equal(dek, key) {
			return nil, errors.New("voters unwrap different keys")
		}
		dek = key
	}
	return dek, nil
}

// checkRotation rotates the data key through a follower and checks that
// every copy and the secret moved to the new key, and that the task's
// secret still opens.
func checkRotation(t *testing.T, agents []*testAgent, cl *cluster, task *types.Task, payload []byte) {
	ctx := context.Background()
	// Rotation: a new key for every voter, the secret sealed again under it.
	oldKey := cl.store.View().SecretByName("pw").Sealed.KeyID
	rot, err := agents[2].c.RotateDataKey(ctx)
	if err != nil || rot.KeyID == oldKey || rot.Resealed != 1 || rot.Voters != 3 {
		t.Fatalf("rotate: %+v, %v (old key %s)", rot, err, oldKey)
	}
	v := cl.store.View()
	if k := v.SecretByName("pw").Sealed.KeyID; k != rot.KeyID {
		t.Fatalf("secret still sealed with %s", k)
	}
	for _, k := range v.WrappedKeys() {
		if k.KeyID != rot.KeyID {
			t.Errorf("copy for %s is of key %s", k.ID, k.KeyID)
		}
	}
	resp, err := agents[0].a.TaskSecrets(ctx, task.NodeID, api.TaskSecretsRequest{TaskID: task.ID})
	if err != nil || len(resp.Secrets) != 1 || !bytes.Equal(resp.Secrets[0].Data, payload) {
		t.Fatalf("after rotation the task's node got %+v, %v", resp, err)
	}
}

func voters(ns []api.Node) int {
	n := 0
	for _, x := range ns {
		if x.Role == types.RoleVoter {
			n++
		}
	}
	return n
}

// dump is the leader's store as a snapshot would write it.
func dump(t *testing.T, cl *cluster) []byte {
	t.Helper()
	snap, err := cl.store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "mem" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }
