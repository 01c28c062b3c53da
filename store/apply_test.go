package store

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-org/shoal/api/types"
)

func TestApplyOps(t *testing.T) {
	cases := []struct {
		name  string
		setup []Op // applied one command each; must succeed
		ops   []Op
		want  error
		check func(t *testing.T, v *View)
	}{
		{
			name: "create node",
			ops:  []Op{create(node("n1", "h1"))},
			check: func(t *testing.T, v *View) {
				if n := v.Node("n1"); n == nil || n.Hostname != "h1" {
					t.Fatalf("Node(n1) = %+v", n)
				}
			},
		},
		{name: "create existing", setup: []Op{put(node("n1", "h1"))}, ops: []Op{create(node("n1", "h2"))}, want: ErrExists},
		{
			name: "put creates", ops: []Op{put(service("s1", "web"))},
			check: func(t *testing.T, v *View) {
				if v.Service("s1") == nil || v.ServiceByName("web") == nil {
					t.Fatal("service s1/web missing")
				}
			},
		},
		{
			name: "put replaces", setup: []Op{put(node("n1", "h1"))}, ops: []Op{put(node("n1", "h2"))},
			check: func(t *testing.T, v *View) {
				if got := v.Node("n1").Hostname; got != "h2" {
					t.Fatalf("hostname = %q, want h2", got)
				}
				if got := len(v.NodesByHostname("h1")); got != 0 {
					t.Fatalf("old hostname still indexed (%d nodes)", got)
				}
			},
		},
		{
			name: "delete", setup: []Op{put(task("t1", "s1", "n1"))}, ops: []Op{del(TableTasks, "t1")},
			check: func(t *testing.T, v *View) {
				if v.Task("t1") != nil || len(v.TasksByService("s1")) != 0 || len(v.TasksByNode("n1")) != 0 {
					t.Fatal("task t1 still present")
				}
			},
		},
		{name: "delete absent", ops: []Op{del(TableTasks, "t1")}, want: ErrNotFound},
		{name: "delete without ID", ops: []Op{del(TableTasks, "")}, want: ErrInvalid},
		{name: "empty ID", ops: []Op{put(node("", "h1"))}, want: ErrInvalid},
		{name: "NUL in ID", ops: []Op{put(node("a\x00b", "h1"))}, want: ErrInvalid},
		{name: "no object", ops: []Op{{Kind: OpPut, Table: TableNodes}}, want: ErrInvalid},
		{name: "object of other table", ops: []Op{{Kind: OpPut, Table: TableNodes, Task: task("t1", "s", "n")}}, want: ErrInvalid},
		{name: "two objects", ops: []Op{{Kind: OpPut, Table: TableNodes, Node: node("n1", "h"), Task: task("t1", "s", "n")}}, want: ErrInvalid},
		{name: "unknown table", ops: []Op{{Kind: OpDelete, Table: "volumes", ID: "x"}}, want: ErrInvalid},
		{name: "unknown kind", ops: []Op{{Kind: "upsert", Table: TableNodes, Node: node("n1", "h")}}, want: ErrInvalid},
		{name: "service without name", ops: []Op{put(service("s1", ""))}, want: ErrInvalid},
		{name: "network without name", ops: []Op{put(network("w1", ""))}, want: ErrInvalid},
		{
			name: "cluster row", ops: []Op{put(&types.Cluster{ID: "c-42", JoinSecret: "s3cret"})},
			check: func(t *testing.T, v *View) {
				if c := v.Cluster(); c == nil || c.ID != "c-42" || c.JoinSecret != "s3cret" {
					t.Fatalf("Cluster() = %+v", c)
				}
			},
		},
		{
			name: "cluster is a single row", setup: []Op{put(&types.Cluster{ID: "a"})}, ops: []Op{create(&types.Cluster{ID: "b"})},
			want: ErrExists,
		},
		{
			name: "delete cluster", setup: []Op{put(&types.Cluster{ID: "a"})}, ops: []Op{del(TableCluster, "")},
			check: func(t *testing.T, v *View) {
				if v.Cluster() != nil {
					t.Fatal("cluster still present")
				}
			},
		},
		// The setup op is applied at index 1, so the stored version is 1.
		{name: "put if version matches", setup: []Op{put(node("n1", "h1"))}, ops: []Op{ifVersion(put(node("n1", "h2")), 1)}},
		{name: "put if version differs", setup: []Op{put(node("n1", "h1"))}, ops: []Op{ifVersion(put(node("n1", "h2")), 7)}, want: ErrConflict},
		{name: "put if version of absent", ops: []Op{ifVersion(put(node("n1", "h2")), 1)}, want: ErrConflict},
		{name: "delete if version differs", setup: []Op{put(node("n1", "h1"))}, ops: []Op{ifVersion(del(TableNodes, "n1"), 2)}, want: ErrConflict},
		{name: "delete if version matches", setup: []Op{put(node("n1", "h1"))}, ops: []Op{ifVersion(del(TableNodes, "n1"), 1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for _, op := range tc.setup {
				h.must(op)
			}
			before := dump(t, h.s)
			res := h.apply(tc.ops...)
			wantErr(t, res.Err, tc.want)
			if h.s.Index() != h.idx || h.s.View().Index() != h.idx {
				t.Fatalf("Index() = %d, View().Index() = %d, want %d", h.s.Index(), h.s.View().Index(), h.idx)
			}
			if tc.want != nil {
				if after := dump(t, h.s); stripIndex(after) != stripIndex(before) {
					t.Fatalf("failed command changed the store:\nbefore %s\nafter  %s", before, after)
				}
				return
			}
			if tc.check != nil {
				tc.check(t, h.s.View())
			}
		})
	}
}

// stripIndex drops the snapshot header line, which holds the index.
func stripIndex(dump string) string {
	for i := range len(dump) {
		if dump[i] == '\n' {
			return dump[i+1:]
		}
	}
	return dump
}

func TestMetaStamping(t *testing.T) {
	h := newHarness(t)
	n := node("n1", "h1")
	n.Meta = types.Meta{Version: 99, CreatedAt: time.Unix(1, 0)} // ignored: Apply stamps
	i1 := h.must(put(n))
	i2 := h.must(put(node("n1", "h2")))

	got := h.s.View().Node("n1")
	if got.Meta.Version != i2 {
		t.Errorf("Meta.Version = %d, want %d", got.Meta.Version, i2)
	}
	wantCreated := epoch.Add(time.Duration(i1) * time.Second)
	wantUpdated := epoch.Add(time.Duration(i2) * time.Second)
	if !got.CreatedAt.Equal(wantCreated) || !got.UpdatedAt.Equal(wantUpdated) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v; want %v, %v", got.CreatedAt, got.UpdatedAt, wantCreated, wantUpdated)
	}
	if got.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt location = %v, want UTC", got.UpdatedAt.Location())
	}
	// A delete and re-create starts a new CreatedAt.
	h.must(del(TableNodes, "n1"))
	i4 := h.must(put(node("n1", "h3")))
	if got := h.s.View().Node("n1").CreatedAt; !got.Equal(epoch.Add(time.Duration(i4) * time.Second)) {
		t.Errorf("CreatedAt after re-create = %v", got)
	}
}

func TestBatchIsAtomic(t *testing.T) {
	h := newHarness(t)
	h.must(put(service("s1", "web")))
	before := dump(t, h.s)
	ch, cancel := h.s.Subscribe()
	defer cancel()

	res := h.apply(
		put(task("t1", "s1", "n1")),
		put(node("n1", "h1")),
		del(TableServices, "s1"),
		put(service("s2", "api")),
		del(TableTasks, "nope"), // fails: everything above must vanish
	)
	wantErr(t, res.Err, ErrNotFound)
	if after := dump(t, h.s); stripIndex(after) != stripIndex(before) {
		t.Fatalf("failed batch left changes:\nbefore %s\nafter  %s", before, after)
	}
	if h.s.Index() != res.Index {
		t.Fatalf("Index() = %d, want %d (a rejected command still advances the index)", h.s.Index(), res.Index)
	}
	select {
	case idx := <-ch:
		t.Fatalf("rejected command notified subscribers (index %d)", idx)
	default:
	}
	// The same batch minus the failing op applies in full.
	h.must(put(task("t1", "s1", "n1")), put(node("n1", "h1")), del(TableServices, "s1"), put(service("s2", "api")))
	v := h.s.View()
	if v.Task("t1") == nil || v.Node("n1") == nil || v.Service("s1") != nil || v.ServiceByName("api") == nil {
		t.Fatal("successful batch not fully applied")
	}
}

func TestMalformedCommands(t *testing.T) {
	cases := map[string][]byte{
		"empty":          nil,
		"unknown format": append([]byte{0x7f}, `{"Ops":[]}`...),
		"bad json":       append([]byte{formatJSON}, `{"Ops":[`...),
		"wrong types":    append([]byte{formatJSON}, `{"Ops":[{"Kind":1,"Table":{}}]}`...),
		"ops not a list": append([]byte{formatJSON}, `{"Ops":"x"}`...),
		"null op object": append([]byte{formatJSON}, `{"Ops":[{"Kind":"put","Table":"nodes","Node":null}]}`...),
		"delete no id":   append([]byte{formatJSON}, `{"Ops":[{"Kind":"delete","Table":"tasks"}]}`...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.must(put(node("n1", "h1")))
			before := dump(t, h.s)
			h.idx++
			res := h.applyRaw(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: data})
			wantErr(t, res.Err, ErrInvalid)
			if after := dump(t, h.s); stripIndex(after) != stripIndex(before) {
				t.Fatalf("malformed command changed the store")
			}
		})
	}
}

func TestEmptyCommand(t *testing.T) {
	h := newHarness(t)
	if res := h.apply(); res.Err != nil || h.s.Index() != 1 {
		t.Fatalf("empty command: err %v, index %d", res.Err, h.s.Index())
	}
}

func TestStoredObjectsAreIsolated(t *testing.T) {
	h := newHarness(t)
	tk := task("t1", "s1", "n1")
	h.must(put(tk))
	tk.Spec.Env[0] = "MUTATED"
	tk.NodeID = "n2"
	got := h.s.View().Task("t1")
	if got.Spec.Env[0] != "A=1" || got.NodeID != "n1" {
		t.Fatalf("caller's mutation reached the store: %+v", got)
	}
	if len(h.s.View().TasksByNode("n2")) != 0 {
		t.Fatal("index changed by caller's mutation")
	}
}

func TestViewIsPointInTime(t *testing.T) {
	h := newHarness(t)
	h.must(put(node("n1", "h1")))
	v := h.s.View()
	h.must(put(node("n2", "h2")), del(TableNodes, "n1"))
	if v.Index() != 1 || len(v.Nodes()) != 1 || v.Node("n1") == nil {
		t.Fatalf("old view changed: index %d, nodes %d", v.Index(), len(v.Nodes()))
	}
	if nv := h.s.View(); nv.Index() != 2 || nv.Node("n1") != nil || nv.Node("n2") == nil {
		t.Fatal("new view does not show the write")
	}
}

// TestViewConcurrentReads shares one View between goroutines while writes
// go on (run with -race).
func TestViewConcurrentReads(t *testing.T) {
	h := newHarness(t)
	h.must(put(service("s1", "web")), put(task("t1", "s1", "n1")), put(task("t2", "s1", "n1")))
	v := h.s.View()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if len(v.TasksByService("s1")) != 2 || v.ServiceByName("web") == nil {
					t.Error("shared view changed")
					return
				}
				if _, err := v.FindTask("t"); !errors.Is(err, ErrAmbiguous) {
					t.Errorf("FindTask(t) = %v", err)
					return
				}
			}
		}()
	}
	for range 200 {
		h.must(put(task("t3", "s1", "n2")), del(TableTasks, "t3"))
	}
	wg.Wait()
}
