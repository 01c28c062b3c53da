package control

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/keyring"
	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/netplan"
	"github.com/shoal-org/shoal/store"
)

// The test cluster: one node, "n1", leading itself, over a real store fed
// as raft feeds it (one log entry per command, in order), without raft.

const (
	selfID   = "node-1"
	selfName = "n1"
	apiPort  = 4647
)

// testDataKey is the test cluster's data key.
var testDataKey = make([]byte, 32)

// clock is the fixed time the test cluster dates revisions with.
var clock = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

type testCluster struct {
	*Cluster
	ops *Ops

	mu      sync.Mutex
	idx     uint64
	removed []string // RemovePeer's calls
	rt      Runtime  // what Runtime returns; nil: containerd not connected
}

// newTestCluster returns a one-node cluster: the cluster record, the
// default network and node n1, Ready.
func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	tc := &testCluster{}
	tc.Cluster = &Cluster{
		NodeID: selfID, NodeName: selfName,
		Store: store.New(slog.New(slog.NewTextHandler(io.Discard, nil))),
		Apply: tc.apply,
		Sync:  func(context.Context) api.Freshness { return api.Freshness{Authoritative: true} },
		Servers: func() ([]membership.ServerInfo, error) {
			return []membership.ServerInfo{{ID: selfID, Address: "10.0.0.1:4648", Voter: true}}, nil
		},
		LeaderID: func() string { return selfID },
		Members: func() []membership.Member {
			return []membership.Member{{ID: selfID, Name: selfName, Addr: "10.0.0.1", Port: 4649, Status: membership.StatusAlive}}
		},
		RemovePeer: func(_ context.Context, id string) error {
			tc.mu.Lock()
			defer tc.mu.Unlock()
			tc.removed = append(tc.removed, id)
			return nil
		},
		Runtime: func() Runtime { tc.mu.Lock(); defer tc.mu.Unlock(); return tc.rt },
		Dial:    func(addr string) *api.Client { return api.NewHTTPClient("https://"+addr, nil) },
		Now:     func() time.Time { return clock },
		Seal: func(_ context.Context, data, aad []byte) (*types.Sealed, func(), error) {
			nonce, ct, err := keyring.Seal(testDataKey, data, aad)
			return &types.Sealed{KeyID: "k1", Nonce: nonce, Ciphertext: ct}, func() {}, err
		},
	}
	tc.ops = New(func() (*Cluster, error) { return tc.Cluster, nil })
	tc.mustApply(t,
		store.Op{Kind: store.OpCreate, Table: store.TableCluster, Cluster: &types.Cluster{ID: "c1", OverlayCIDR: "10.240.0.0/16"}},
		netplan.DefaultNetworkOp("10.240.0.0/16"),
		store.Op{Kind: store.OpCreate, Table: store.TableNodes, Node: &types.Node{ID: selfID, Hostname: selfName,
			Addr: "10.0.0.1", APIPort: apiPort, Status: types.NodeReady, Availability: types.AvailabilityActive}})
	return tc
}

// apply is the seam's Apply: the command as the next raft log entry.
func (tc *testCluster) apply(_ context.Context, cmd store.Command) (uint64, error) {
	data, err := store.EncodeCommand(cmd)
	if err != nil {
		return 0, err
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.idx++
	res := tc.Store.Apply(&raft.Log{Index: tc.idx, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: clock})
	r := res.(*store.Result)
	return r.Index, r.Err
}

func (tc *testCluster) mustApply(t *testing.T, ops ...store.Op) {
	t.Helper()
	if _, err := tc.apply(context.Background(), store.Command{Ops: ops}); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// refused fails t unless err is an API error answered with status code
// whose message mentions want.
func refused(t *testing.T, what string, err error, code int, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want %d mentioning %q", what, code, want)
	}
	if got := apiserver.StatusOf(err); got != code || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %d %v, want %d mentioning %q", what, got, err, code, want)
	}
}

// Ops serve the cluster's part of the API's backend.
var _ apiserver.Operations = (*Ops)(nil)
