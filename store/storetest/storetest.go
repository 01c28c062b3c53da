// Package storetest feeds a real store commands directly, as raft would
// after committing them, for the unit tests of the packages that read the
// store (the resolver, the network controller, the worker, events). It is
// test infrastructure: nothing outside tests imports it.
package storetest

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
)

// Feed is a store and the index of the last entry applied to it. Its
// methods are safe for concurrent use.
type Feed struct {
	*store.Store
	t   testing.TB
	mu  sync.Mutex
	idx uint64
}

// New returns an empty store to feed.
func New(t testing.TB) *Feed {
	return &Feed{Store: store.New(slog.New(slog.NewTextHandler(io.Discard, nil))), t: t}
}

// Apply commits cmd as the next log entry and returns the command's error
// (a failed precondition, say); an undecodable command fails the test.
func (f *Feed) Apply(cmd store.Command) error {
	data, err := store.EncodeCommand(cmd)
	if err != nil {
		f.t.Fatalf("storetest: encode %+v: %v", cmd, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idx++
	res, ok := f.Store.Apply(&raft.Log{Index: f.idx, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}).(*store.Result)
	if !ok {
		f.t.Fatalf("storetest: apply %+v: no result", cmd)
	}
	return res.Err
}

// Put writes objs (nodes, networks, services, tasks) in one command and
// fails the test if the store refuses it.
func (f *Feed) Put(objs ...any) {
	f.t.Helper()
	var cmd store.Command
	for _, o := range objs {
		cmd.Ops = append(cmd.Ops, PutOp(f.t, o))
	}
	if err := f.Apply(cmd); err != nil {
		f.t.Fatalf("storetest: put: %v", err)
	}
}

// Delete removes one object and fails the test if the store refuses it.
func (f *Feed) Delete(table store.Table, id string) {
	f.t.Helper()
	if err := f.Apply(store.Command{Ops: []store.Op{{Kind: store.OpDelete, Table: table, ID: id}}}); err != nil {
		f.t.Fatalf("storetest: delete %s %s: %v", table, id, err)
	}
}

// PutOp is the put operation of one object.
func PutOp(t testing.TB, o any) store.Op {
	op := store.Op{Kind: store.OpPut}
	switch o := o.(type) {
	case *types.Node:
		op.Table, op.Node = store.TableNodes, o
	case *types.Network:
		op.Table, op.Network = store.TableNetworks, o
	case *types.Service:
		op.Table, op.Service = store.TableServices, o
	case *types.Task:
		op.Table, op.Task = store.TableTasks, o
	case *types.Cluster:
		op.Table, op.Cluster = store.TableCluster, o
	default:
		t.Fatalf("storetest: cannot put a %T", o)
	}
	return op
}
