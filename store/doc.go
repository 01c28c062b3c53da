// Package store is shoal's replicated cluster state: the raft finite state
// machine that every agent runs, holding the cluster row, nodes, services,
// tasks and networks (their types are in package api/types; the store owns
// how they are kept, versioned, watched and snapshotted).
//
// # Writes
//
// Only the raft leader writes. It builds a Command (a list of Ops), encodes
// it with EncodeCommand and passes the bytes to raft.Apply; every replica's
// Store.Apply then decodes and applies it in one go-memdb transaction, so a
// command takes effect entirely or not at all. Apply is deterministic: Meta
// is stamped from the raft log (Version = log index, times = the leader's
// AppendedAt), never from the local clock. Because objects arrive encoded,
// each replica owns what it stores: a caller mutating its objects after
// EncodeCommand cannot change the store.
//
// Optimistic concurrency: read an object through a View, Copy it, change the
// copy and put it back with Op.IfVersion = the Meta.Version read. If someone
// else wrote the object meanwhile, the command fails with ErrConflict and
// the caller re-reads and retries.
//
// # Reads
//
// View gives a consistent point-in-time read transaction (memdb's immutable
// radix trees make it free of locks and safe to keep). Objects a View
// returns are shared and must never be modified.
//
// # Watching
//
// Subscribe delivers coalesced "something changed, now at index N"
// notifications per table; watchers re-read through a View. They suit
// level-triggered reconcile loops: a slow loop never blocks Apply and never
// sees stale backlog. WaitIndex lets a caller that got an index from
// raft.Apply (or from a forwarded write) wait until its own replica has
// caught up, for read-your-writes.
//
// # Snapshots
//
// Snapshot is O(1) (it captures the current memdb root); Persist streams
// newline-delimited JSON, versioned in its header, while Apply continues.
// Restore builds a fresh database and swaps it in atomically.
package store
