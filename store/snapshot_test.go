package store

import (
	"bytes"
	"fmt"
	"github.com/shoal-org/shoal/api/types/typestest"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/shoal-org/shoal/api/types"
)

// persist snapshots s into a real raft in-memory snapshot store and returns
// the bytes raft would ship to a follower.
func persist(t testing.TB, snap raft.FSMSnapshot) []byte {
	t.Helper()
	ss := raft.NewInmemSnapshotStore()
	sink, err := ss.Create(raft.SnapshotVersionMax, 1, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	snap.Release()
	_, rc, err := ss.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// populate writes fully filled objects of every kind to h's store.
func populate(h *harness) {
	c := typestest.Filled[types.Cluster](100)
	n1, n2 := typestest.Filled[types.Node](200), typestest.Filled[types.Node](300)
	n2.ID, n2.Hostname = "n2", n1.Hostname
	s1 := typestest.Filled[types.Service](400)
	tk := typestest.Filled[types.Task](500)
	tk.ServiceID, tk.NodeID = s1.ID, n1.ID
	w := typestest.Filled[types.Network](600)
	h.must(put(c), put(n1), put(n2))
	// The service's file references must name stored objects.
	var files []Op
	for i, r := range s1.Spec.Task.Secrets {
		sec := typestest.Filled[types.Secret](700 + 50*i)
		sec.Spec.Name, s1.Spec.Task.Secrets[i].ID = r.Name, sec.ID
		files = append(files, put(sec))
	}
	for i, r := range s1.Spec.Task.Configs {
		cfg := typestest.Filled[types.Config](800 + 50*i)
		cfg.Spec.Name, s1.Spec.Task.Configs[i].ID = r.Name, cfg.ID
		files = append(files, put(cfg))
	}
	files = append(files, put(typestest.Filled[types.WrappedKey](900)))
	h.must(append(files, put(s1), put(tk), put(w))...)
	h.must(put(n2)) // n2 gets a later version than n1
}

func TestSnapshotRoundTrip(t *testing.T) {
	h := newHarness(t)
	populate(h)
	want, orig := dump(t, h.s), h.s.View()
	snap, err := h.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after Snapshot() must not leak into it.
	h.must(put(node("late", "late")), del(TableNodes, "n2"))
	data := persist(t, snap)

	r := New(quietLogger())
	rh := &harness{t: t, s: r}
	rh.must(put(node("stale", "stale"))) // Restore replaces, not merges
	if err := r.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := dump(t, r); got != want {
		t.Fatalf("restored state differs:\ngot  %s\nwant %s", got, want)
	}
	v := r.View()
	if r.Index() != 3 || v.Index() != 3 {
		t.Fatalf("restored index %d/%d, want 3", r.Index(), v.Index())
	}
	n1 := orig.Node(typestest.Filled[types.Node](200).ID)
	if got := v.Node(n1.ID); !reflect.DeepEqual(got, n1) {
		t.Fatalf("node after restore:\n got %+v\nwant %+v", got, n1)
	}
	// Secondary indexes are rebuilt.
	s1 := orig.Services()[0]
	if v.ServiceByName(s1.Spec.Name) == nil || len(v.TasksByService(s1.ID)) != 1 ||
		len(v.TasksByNode(n1.ID)) != 1 || len(v.NodesByHostname(n1.Hostname)) != 2 ||
		v.NetworkByName(orig.Networks()[0].Name) == nil {
		t.Fatal("secondary indexes missing after restore")
	}
	// The restored store carries on from the snapshot's index.
	rh.idx = r.Index()
	rh.must(ifVersion(del(TableNodes, "n2"), 3))
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	h := newHarness(t)
	populate(h)
	snap, err := h.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	good := string(persist(t, snap))
	lines := strings.SplitAfter(good, "\n") // the last element is "" after the final newline
	cases := map[string]string{
		"empty":           "",
		"not json":        "hello\n",
		"other format":    `{"Format":"x","Version":1,"Index":3}` + "\n",
		"future version":  strings.Replace(good, `"Version":1,`, `"Version":2,`, 1),
		"truncated":       strings.Join(lines[:len(lines)-2], ""),
		"cut mid-record":  good[:len(good)/2],
		"empty record":    lines[0] + "{}\n" + strings.Join(lines[1:], ""),
		"count mismatch":  strings.Join(lines[:len(lines)-2], "") + `{"End":{"Count":99}}` + "\n",
		"record two objs": lines[0] + `{"Node":{"ID":"a"},"Task":{"ID":"b"}}` + "\n" + `{"End":{"Count":1}}` + "\n",
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			dst := newHarness(t)
			dst.must(put(node("keep", "keep")))
			before := dump(t, dst.s)
			if err := dst.s.Restore(io.NopCloser(strings.NewReader(data))); err == nil {
				t.Fatal("Restore accepted a bad snapshot")
			}
			if after := dump(t, dst.s); after != before || dst.s.Index() != 1 {
				t.Fatal("failed Restore changed the store")
			}
		})
	}
}

// TestPersistWhileApplying streams a snapshot while writes continue (run
// with -race); the snapshot must hold exactly the state at Snapshot().
func TestPersistWhileApplying(t *testing.T) {
	h := newHarness(t)
	for i := range 20 {
		ops := make([]Op, 0, 100)
		for j := range 100 {
			ops = append(ops, put(task(fmt.Sprintf("t%02d-%03d", i, j), "s1", "n1")))
		}
		h.must(ops...)
	}
	want := dump(t, h.s)
	snap, err := h.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		data = persist(t, snap)
	}()
	for i := range 200 {
		h.must(put(task(fmt.Sprintf("t00-%03d", i%100), "s2", "n2")), del(TableTasks, fmt.Sprintf("t01-%03d", i%100)),
			put(task(fmt.Sprintf("t01-%03d", i%100), "s3", "n3")))
	}
	wg.Wait()
	r := New(quietLogger())
	if err := r.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, r); got != want {
		t.Fatal("snapshot taken before concurrent writes does not match the state at Snapshot()")
	}
}
