package store

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-org/shoal/api/types"
)

const (
	benchTasks    = 100_000
	benchServices = 100 // so each service has 1,000 tasks
	benchNodes    = 50
)

// benchTask is a task of realistic size (about 700 bytes of JSON).
func benchTask(i int) *types.Task {
	tk := task(fmt.Sprintf("task-%07d", i), fmt.Sprintf("svc-%03d", i%benchServices), fmt.Sprintf("node-%02d", i%benchNodes))
	tk.Slot = i/benchServices + 1
	tk.SpecVersion = 3
	tk.Spec.Env = []string{"A=1", "B=2", "LOG_LEVEL=info"}
	tk.Spec.Labels = map[string]string{"team": "web", "tier": "frontend"}
	tk.Spec.Placement.Constraints = []string{"node.labels.zone==a"}
	tk.Spec.RestartPolicy = types.RestartPolicy{Condition: "any", Delay: 5 * time.Second}
	tk.Spec.Networks = []string{"net-front"}
	tk.Status.Timestamp = epoch
	tk.Addresses = map[string]string{"net-front": fmt.Sprintf("10.0.%d.%d", i/250%256, i%250+2)}
	return tk
}

// bigStore returns a store holding benchTasks tasks, filled 1,000 per
// command.
func bigStore(b *testing.B) *harness {
	b.Helper()
	h := newHarness(b)
	for start := 0; start < benchTasks; start += 1000 {
		ops := make([]Op, 0, 1000)
		for i := start; i < start+1000; i++ {
			ops = append(ops, put(benchTask(i)))
		}
		h.must(ops...)
	}
	return h
}

// BenchmarkApplyTaskBatch100 applies one command of 100 task puts (replacing
// existing tasks) to a store of 100k tasks; the timing includes decoding.
func BenchmarkApplyTaskBatch100(b *testing.B) {
	h := bigStore(b)
	ops := make([]Op, 100)
	for i := range ops {
		tk := benchTask(i * 997)
		tk.Status.State = types.TaskFailed
		ops[i] = put(tk)
	}
	data, err := EncodeCommand(Command{Ops: ops})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		h.idx++
		res := h.s.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: data, AppendedAt: epoch})
		if err := res.(*Result).Err; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTasksByService takes a View and lists one service's 1,000 tasks
// out of 100k.
func BenchmarkTasksByService(b *testing.B) {
	h := bigStore(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		got := h.s.View().TasksByService(fmt.Sprintf("svc-%03d", i%benchServices))
		if len(got) != benchTasks/benchServices {
			b.Fatalf("got %d tasks", len(got))
		}
		i++
	}
}

// bufferSink is a raft.SnapshotSink over a reusable buffer, so that the
// benchmark measures the store rather than a growing test buffer. The real
// raft sink is used in snapshot_test.go and raft_test.go.
type bufferSink struct{ bytes.Buffer }

func (s *bufferSink) ID() string    { return "bench" }
func (s *bufferSink) Cancel() error { return nil }
func (s *bufferSink) Close() error  { return nil }

var _ raft.SnapshotSink = (*bufferSink)(nil)

// BenchmarkSnapshotRestore100k persists a snapshot of 100k tasks and
// restores it into a fresh store: "persist" and "restore" alone, "both" as
// a follower catching up would see it (minus the network).
func BenchmarkSnapshotRestore100k(b *testing.B) {
	h := bigStore(b)
	var sink bufferSink
	doPersist := func() {
		sink.Reset()
		snap, err := h.s.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if err := snap.Persist(&sink); err != nil {
			b.Fatal(err)
		}
		snap.Release()
	}
	doRestore := func() {
		r := New(quietLogger())
		if err := r.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
			b.Fatal(err)
		}
		if r.Index() != h.s.Index() {
			b.Fatalf("restored index %d, want %d", r.Index(), h.s.Index())
		}
	}
	doPersist()
	b.Logf("snapshot of %d tasks: %.1f MiB", benchTasks, float64(sink.Len())/(1<<20))
	b.Run("persist", func(b *testing.B) {
		b.SetBytes(int64(sink.Len()))
		b.ReportAllocs()
		for b.Loop() {
			doPersist()
		}
	})
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(int64(sink.Len()))
		b.ReportAllocs()
		for b.Loop() {
			doRestore()
		}
	})
	b.Run("both", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			doPersist()
			doRestore()
		}
	})
}
