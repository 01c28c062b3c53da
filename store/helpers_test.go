package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-org/shoal/api/types"
)

// epoch is the base of the log timestamps tests feed to Apply.
var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// harness applies commands to a store with increasing log indexes, the way
// raft would, and stamps each log one second after the previous one.
type harness struct {
	t   testing.TB
	s   *Store
	idx uint64
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, s: New(quietLogger())}
}

// logFor returns the raft log carrying cmd at the next index.
func (h *harness) logFor(cmd Command) *raft.Log {
	h.t.Helper()
	data, err := EncodeCommand(cmd)
	if err != nil {
		h.t.Fatalf("EncodeCommand: %v", err)
	}
	h.idx++
	return &raft.Log{
		Index: h.idx, Term: 1, Type: raft.LogCommand, Data: data,
		AppendedAt: epoch.Add(time.Duration(h.idx) * time.Second),
	}
}

// apply applies ops as one command and returns its result.
func (h *harness) apply(ops ...Op) *Result {
	h.t.Helper()
	return h.applyRaw(h.logFor(Command{Ops: ops}))
}

func (h *harness) applyRaw(l *raft.Log) *Result {
	h.t.Helper()
	raw := h.s.Apply(l)
	res, ok := raw.(*Result)
	if !ok {
		h.t.Fatalf("Apply returned %T, want *Result", raw)
	}
	if res.Index != l.Index {
		h.t.Fatalf("Result.Index = %d, want %d", res.Index, l.Index)
	}
	return res
}

// must applies ops and fails the test if the command is rejected.
func (h *harness) must(ops ...Op) uint64 {
	h.t.Helper()
	if res := h.apply(ops...); res.Err != nil {
		h.t.Fatalf("apply %v: %v", describe(Command{Ops: ops}), res.Err)
	}
	return h.idx
}

func put(obj object) Op    { return opFor(OpPut, obj) }
func create(obj object) Op { return opFor(OpCreate, obj) }

func opFor(kind OpKind, obj object) Op {
	op := Op{Kind: kind}
	switch o := obj.(type) {
	case *types.Cluster:
		op.Table, op.Cluster = TableCluster, o
	case *types.Node:
		op.Table, op.Node = TableNodes, o
	case *types.Service:
		op.Table, op.Service = TableServices, o
	case *types.Task:
		op.Table, op.Task = TableTasks, o
	case *types.Network:
		op.Table, op.Network = TableNetworks, o
	case *types.Secret:
		op.Table, op.Secret = TableSecrets, o
	case *types.Config:
		op.Table, op.Config = TableConfigs, o
	case *types.WrappedKey:
		op.Table, op.Key = TableKeys, o
	default:
		panic(fmt.Sprintf("opFor: %T", obj))
	}
	return op
}

func del(table Table, id string) Op { return Op{Kind: OpDelete, Table: table, ID: id} }

func ifVersion(op Op, v uint64) Op { op.IfVersion = v; return op }

func node(id, host string) *types.Node {
	return &types.Node{ID: id, Hostname: host, Addr: "10.0.0.1", Status: types.NodeReady, Availability: types.AvailabilityActive}
}

func service(id, name string) *types.Service {
	return &types.Service{ID: id, Spec: types.ServiceSpec{Name: name, Task: types.TaskTemplate{Image: "web:v1"}, Mode: types.ServiceMode{Replicas: 3}}}
}

func task(id, serviceID, nodeID string) *types.Task {
	return &types.Task{
		ID: id, ServiceID: serviceID, ServiceName: "svc-" + serviceID, NodeID: nodeID, Slot: 1,
		Spec: types.TaskTemplate{Image: "web:v1", Env: []string{"A=1"}}, DesiredState: types.TaskRunning,
		Status: types.TaskStatus{State: types.TaskRunning, ContainerID: "c-" + id},
	}
}

func network(id, name string) *types.Network {
	return &types.Network{ID: id, Name: name, Subnet: "10.10.0.0/16", VNI: 4097}
}

// dump renders the whole state of s (with its index) in snapshot form, to
// compare stores.
func dump(t testing.TB, s *Store) string {
	t.Helper()
	v := s.View()
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, v.txn, v.index); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return buf.String()
}

// wantErr checks that err wraps want (nil meaning no error).
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
}
