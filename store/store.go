package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
)

// Store is the replicated cluster state: a raft.FSM over an in-memory
// database. Raft calls Apply, Snapshot and Restore from its FSM goroutine;
// every other method may be called from any goroutine at any time.
type Store struct {
	logger *slog.Logger

	// writeMu serialises Apply and Restore. Raft already does; the lock
	// makes direct callers (tests, tools) safe too and is uncontended.
	writeMu sync.Mutex
	// db is replaced wholesale by Restore; readers load it once per View.
	db    atomic.Pointer[memdb.MemDB]
	index atomic.Uint64

	mu     sync.Mutex // guards subs and waitCh
	subs   map[*subscriber]struct{}
	waitCh chan struct{} // closed when Index advances; nil when nobody waits
}

type subscriber struct {
	ch     chan uint64
	tables tableSet
}

var (
	_ raft.FSM         = (*Store)(nil)
	_ raft.FSMSnapshot = (*fsmSnapshot)(nil)
)

// New returns an empty store at index 0. A nil logger means slog.Default().
func New(logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Store{logger: logger, subs: make(map[*subscriber]struct{})}
	s.db.Store(newDB())
	return s
}

// Apply implements raft.FSM. It decodes a Command from l.Data and applies
// its ops atomically, stamping Meta from l (Version = l.Index, times from
// l.AppendedAt). It returns a *Result; a failed or malformed command changes
// nothing but still advances Index(). Apply never panics on bad input.
func (s *Store) Apply(l *raft.Log) any {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	st := stamp{index: l.Index, at: l.AppendedAt.UTC().Round(0)}
	db := s.db.Load()
	cmd, err := decodeCommand(l.Data)
	var touched tableSet
	if err == nil {
		touched, err = s.commit(db, cmd, st)
	}
	if err != nil {
		touched = 0
		s.logger.Debug("store: command rejected", "index", l.Index, "err", err)
		if ierr := commitIndexOnly(db, l.Index); ierr != nil {
			s.logger.Error("store: cannot record index of rejected command", "index", l.Index, "err", ierr)
		}
	}
	s.index.Store(l.Index)
	s.notify(l.Index, touched, false)
	return &Result{Index: l.Index, Err: err}
}

// commit runs cmd in one write transaction and commits it with the index,
// or aborts it on the first error.
func (s *Store) commit(db *memdb.MemDB, cmd Command, st stamp) (tableSet, error) {
	txn := db.Txn(true)
	touched, err := runCommand(txn, cmd, st, s.logger)
	if err == nil {
		err = setIndex(txn, st.index)
	}
	if err != nil {
		txn.Abort()
		return 0, err
	}
	txn.Commit()
	s.logger.Debug("store: applied", "index", st.index, "command", describe(cmd))
	return touched, nil
}

// Index returns the raft index of the last applied log entry.
func (s *Store) Index() uint64 { return s.index.Load() }

// View returns a consistent, read-only, point-in-time view of the store.
// It stays valid (and unchanged) however long it is kept; later writes do
// not show in it. Objects it returns are shared: see View.
func (s *Store) View() *View {
	txn := s.db.Load().Txn(false)
	return &View{txn: txn, index: txnIndex(txn)}
}

// Subscribe returns a channel that receives the store's index after every
// applied change touching one of tables (all tables if none are given) and
// after every Restore. The channel has a buffer of one and notifications
// coalesce: a slow reader finds only the latest index, never blocks Apply,
// and should re-read the store through a View. The returned func cancels
// the subscription and closes the channel; it may be called more than once.
func (s *Store) Subscribe(tables ...Table) (<-chan uint64, func()) {
	sub := &subscriber{ch: make(chan uint64, 1)}
	for _, t := range tables {
		sub.tables |= t.bit()
	}
	if len(tables) == 0 {
		sub.tables = ^tableSet(0)
	}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	cancel := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[sub]; ok {
			delete(s.subs, sub)
			close(sub.ch)
		}
	}
	return sub.ch, cancel
}

// notify wakes WaitIndex callers and the subscribers of touched tables (all
// subscribers when all is set). Sends happen under s.mu, which every sender
// holds, so after draining a full buffer the send cannot block.
func (s *Store) notify(idx uint64, touched tableSet, all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waitCh != nil {
		close(s.waitCh)
		s.waitCh = nil
	}
	if touched == 0 && !all {
		return
	}
	for sub := range s.subs {
		if !all && sub.tables&touched == 0 {
			continue
		}
		select {
		case <-sub.ch:
		default:
		}
		select {
		case sub.ch <- idx:
		default:
		}
	}
}

// WaitIndex blocks until Index() >= idx, returning nil, or until ctx ends,
// returning an error that wraps ctx.Err().
func (s *Store) WaitIndex(ctx context.Context, idx uint64) error {
	for {
		if s.index.Load() >= idx {
			return nil
		}
		s.mu.Lock()
		if s.index.Load() >= idx {
			s.mu.Unlock()
			return nil
		}
		if s.waitCh == nil {
			s.waitCh = make(chan struct{})
		}
		ch := s.waitCh
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for store index %d (applied %d): %w", idx, s.Index(), ctx.Err())
		}
	}
}
