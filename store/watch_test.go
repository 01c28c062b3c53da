package store

import (
	"bytes"
	"context"
	"errors"
	"github.com/shoal-org/shoal/api/types"
	"io"
	"sync"
	"testing"
	"time"
)

// pending returns the value waiting on ch, if any, without blocking.
func pending(ch <-chan uint64) (uint64, bool) {
	select {
	case idx, ok := <-ch:
		return idx, ok
	default:
		return 0, false
	}
}

func TestSubscribe(t *testing.T) {
	cases := []struct {
		name   string
		tables []Table
		ops    [][]Op // commands applied while nobody reads
		want   uint64 // pending notification afterwards (0 = none)
	}{
		{name: "coalesces to latest", tables: []Table{TableTasks},
			ops:  [][]Op{{put(task("t1", "s", "n"))}, {put(task("t2", "s", "n"))}, {put(task("t3", "s", "n"))}},
			want: 3},
		{name: "other table is filtered", tables: []Table{TableNodes},
			ops: [][]Op{{put(task("t1", "s", "n"))}, {put(service("s1", "web"))}}},
		{name: "latest matching change only", tables: []Table{TableNodes, TableNetworks},
			ops:  [][]Op{{put(network("w", "front"))}, {put(node("n1", "h"))}, {put(task("t1", "s", "n"))}},
			want: 2},
		{name: "batch touching the table", tables: []Table{TableServices},
			ops:  [][]Op{{put(task("t1", "s", "n")), put(service("s1", "web"))}},
			want: 1},
		{name: "no tables means all", ops: [][]Op{{put(node("n1", "h"))}, {put(&types.Cluster{ID: "c"})}}, want: 2},
		{name: "rejected command is silent", tables: []Table{TableTasks},
			ops: [][]Op{{put(task("t1", "s", "n")), del(TableTasks, "absent")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			ch, cancel := h.s.Subscribe(tc.tables...)
			defer cancel()
			for _, ops := range tc.ops {
				h.apply(ops...)
			}
			got, ok := pending(ch)
			if tc.want == 0 && ok {
				t.Fatalf("unexpected notification %d", got)
			}
			if tc.want != 0 && (!ok || got != tc.want) {
				t.Fatalf("notification = %d (present %v), want %d", got, ok, tc.want)
			}
			if extra, ok := pending(ch); ok {
				t.Fatalf("second notification %d: not coalesced", extra)
			}
		})
	}
}

func TestSubscribeCancel(t *testing.T) {
	h := newHarness(t)
	ch, cancel := h.s.Subscribe(TableNodes)
	other, cancelOther := h.s.Subscribe(TableNodes)
	defer cancelOther()
	h.must(put(node("n1", "h")))
	cancel()
	cancel() // idempotent
	// The channel is closed once its buffered value is drained.
	if idx, ok := <-ch; !ok || idx != 1 {
		t.Fatalf("buffered value = %d, %v; want 1, true", idx, ok)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed after cancel")
	}
	h.must(put(node("n2", "h"))) // must not panic on the closed channel
	if idx, ok := pending(other); !ok || idx != 2 {
		t.Fatalf("remaining subscriber got %d, %v; want 2", idx, ok)
	}
}

func TestRestoreNotifiesEveryone(t *testing.T) {
	src := newHarness(t)
	src.must(put(node("n1", "h")))
	var buf bytes.Buffer
	v := src.s.View()
	if err := writeSnapshot(&buf, v.txn, v.index); err != nil {
		t.Fatal(err)
	}
	dst := New(quietLogger())
	nets, c1 := dst.Subscribe(TableNetworks) // a table the snapshot does not even hold
	all, c2 := dst.Subscribe()
	defer c1()
	defer c2()
	if err := dst.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan uint64{"networks": nets, "all": all} {
		if idx, ok := pending(ch); !ok || idx != 1 {
			t.Errorf("%s subscriber after restore: %d, %v; want 1", name, idx, ok)
		}
	}
}

// TestSubscribeConcurrent runs a reader against a writer (for -race): the
// reader must end up seeing the final index, and Apply must never block.
func TestSubscribeConcurrent(t *testing.T) {
	h := newHarness(t)
	ch, cancel := h.s.Subscribe(TableTasks)
	const n = 500
	var wg sync.WaitGroup
	var last uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for idx := range ch {
			if idx < last {
				t.Errorf("notification went backwards: %d after %d", idx, last)
			}
			last = idx
			if h.s.View().Index() < idx {
				t.Errorf("view behind notification %d", idx)
			}
		}
	}()
	for i := range n {
		h.must(put(task("t", "s", string(rune('a'+i%26)))))
	}
	cancel() // Apply has returned, so the last index is buffered or read
	wg.Wait()
	if last != n {
		t.Fatalf("reader's last notification = %d, want %d", last, n)
	}
}

func TestWaitIndex(t *testing.T) {
	h := newHarness(t)
	h.must(put(node("n1", "h")))

	t.Run("already reached", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // even a dead context: the index is already there
		if err := h.s.WaitIndex(ctx, 1); err != nil {
			t.Fatalf("WaitIndex(1) = %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		err := h.s.WaitIndex(ctx, 100)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitIndex(100) = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("wakes on apply", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		const waiters = 4
		errs := make(chan error, waiters)
		for range waiters {
			go func() { errs <- h.s.WaitIndex(ctx, 4) }()
		}
		h.must(put(node("n2", "h")))
		h.apply(del(TableNodes, "absent")) // a rejected command counts too
		h.must(put(node("n3", "h")))
		for range waiters {
			if err := <-errs; err != nil {
				t.Fatalf("WaitIndex(4) = %v", err)
			}
		}
		if h.s.Index() < 4 {
			t.Fatalf("waiter returned at index %d", h.s.Index())
		}
	})
}
