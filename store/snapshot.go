package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"github.com/shoal-org/shoal/api/types"
)

// Snapshot stream format: newline-delimited JSON. The first value is a
// snapshotHeader, then one snapshotRecord per object (tables in allTables
// order, each by ID), then a record whose End is set, so that a truncated
// stream is detected. A new format gets a new Version; Restore keeps
// reading the old ones.
const (
	snapshotFormat  = "shoal-store-snapshot"
	snapshotVersion = 1
)

type snapshotHeader struct {
	Format  string `json:"Format"`
	Version int    `json:"Version"`
	Index   uint64 `json:"Index"`
}

type snapshotRecord struct {
	Cluster *types.Cluster    `json:"Cluster,omitempty"`
	Node    *types.Node       `json:"Node,omitempty"`
	Service *types.Service    `json:"Service,omitempty"`
	Task    *types.Task       `json:"Task,omitempty"`
	Network *types.Network    `json:"Network,omitempty"`
	Secret  *types.Secret     `json:"Secret,omitempty"`
	Config  *types.Config     `json:"Config,omitempty"`
	Key     *types.WrappedKey `json:"Key,omitempty"`
	End     *snapshotEnd      `json:"End,omitempty"`
}

type snapshotEnd struct {
	Count int `json:"Count"`
}

// fsmSnapshot is a point-in-time read transaction; Persist streams it while
// Apply goes on (memdb's immutable radix trees make that safe).
type fsmSnapshot struct {
	txn   *memdb.Txn
	index uint64
}

// Snapshot implements raft.FSM. It is O(1): it captures the current
// database root; the work happens in Persist.
func (s *Store) Snapshot() (raft.FSMSnapshot, error) {
	txn := s.db.Load().Snapshot().Txn(false)
	return &fsmSnapshot{txn: txn, index: txnIndex(txn)}, nil
}

// Persist implements raft.FSMSnapshot: it writes the snapshot to sink and
// closes it, or cancels the sink on error. Safe to run concurrently with
// Apply.
func (f *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, f.txn, f.index); err != nil {
		cerr := sink.Cancel()
		return errors.Join(fmt.Errorf("persist store snapshot at index %d: %w", f.index, err), cerr)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close store snapshot at index %d: %w", f.index, err)
	}
	return nil
}

// Release implements raft.FSMSnapshot; the read transaction needs no
// cleanup.
func (f *fsmSnapshot) Release() {}

// writeSnapshot streams every table of txn to w.
func writeSnapshot(w io.Writer, txn *memdb.Txn, index uint64) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Version: snapshotVersion, Index: index}); err != nil {
		return err
	}
	count := 0
	for _, t := range allTables {
		it, err := txn.Get(string(t), idxID)
		if err != nil {
			return fmt.Errorf("read table %s: %w", t, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			var rec snapshotRecord
			switch o := raw.(type) {
			case *types.Cluster:
				rec.Cluster = o
			case *types.Node:
				rec.Node = o
			case *types.Service:
				rec.Service = o
			case *types.Task:
				rec.Task = o
			case *types.Network:
				rec.Network = o
			case *types.Secret:
				rec.Secret = o
			case *types.Config:
				rec.Config = o
			case *types.WrappedKey:
				rec.Key = o
			}
			if err := enc.Encode(&rec); err != nil {
				return fmt.Errorf("write %s %s: %w", t.noun(), keyOf(raw), err)
			}
			count++
		}
	}
	if err := enc.Encode(snapshotRecord{End: &snapshotEnd{Count: count}}); err != nil {
		return err
	}
	return bw.Flush()
}

// Restore implements raft.FSM: it replaces the whole state with the
// snapshot read from rc, atomically (readers see the old state or the new,
// never a mix), and notifies every subscriber. On error the state is left
// as it was.
func (s *Store) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	db, idx, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restore store snapshot: %w", err)
	}
	s.writeMu.Lock()
	s.db.Store(db)
	s.index.Store(idx)
	s.writeMu.Unlock()
	s.notify(idx, 0, true)
	s.logger.Info("store: restored snapshot", "index", idx)
	return nil
}

// readSnapshot builds a new database from a snapshot stream.
func readSnapshot(r io.Reader) (*memdb.MemDB, uint64, error) {
	dec := json.NewDecoder(r)
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, 0, fmt.Errorf("read header: %w", err)
	}
	if h.Format != snapshotFormat {
		return nil, 0, fmt.Errorf("not a store snapshot (format %q)", h.Format)
	}
	if h.Version != snapshotVersion {
		return nil, 0, fmt.Errorf("snapshot version %d is not supported (want %d; written by a newer version?)",
			h.Version, snapshotVersion)
	}
	db := newDB()
	txn := db.Txn(true)
	if err := readRecords(dec, txn); err != nil {
		txn.Abort()
		return nil, 0, err
	}
	if err := setIndex(txn, h.Index); err != nil {
		txn.Abort()
		return nil, 0, err
	}
	txn.Commit()
	return db, h.Index, nil
}

// readRecords inserts records into txn up to and including the end marker.
func readRecords(dec *json.Decoder, txn *memdb.Txn) error {
	for count := 0; ; count++ {
		var rec snapshotRecord
		if err := dec.Decode(&rec); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read record %d: %w", count+1, err)
		}
		if rec.End != nil {
			if rec.End.Count != count {
				return fmt.Errorf("snapshot ends after %d records but says %d", count, rec.End.Count)
			}
			return nil
		}
		op := Op{Cluster: rec.Cluster, Node: rec.Node, Service: rec.Service, Task: rec.Task, Network: rec.Network,
			Secret: rec.Secret, Config: rec.Config, Key: rec.Key}
		obj, table := op.onlyObject()
		if obj == nil {
			return fmt.Errorf("record %d: want exactly one object", count+1)
		}
		if err := txn.Insert(string(table), obj); err != nil {
			return fmt.Errorf("record %d: insert %s %s: %w", count+1, table.noun(), keyOf(obj), err)
		}
	}
}
