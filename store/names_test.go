package store

import (
	"errors"
	"github.com/shoal-org/shoal/api/types"
	"testing"
)

func TestNameUniqueness(t *testing.T) {
	renamed := func(s *types.Service, name string) *types.Service { s.Spec.Name = name; return s }
	cases := []struct {
		name    string
		setup   []Op
		ops     []Op
		want    error
		wantMsg string
		byName  map[string]string // name -> service ID expected after (""=absent)
	}{
		{
			name: "create with taken name", setup: []Op{put(service("s1", "web"))},
			ops: []Op{put(service("s2", "web"))}, want: ErrNameTaken,
			wantMsg: `service name "web" is already in use by service s1; choose another name`,
		},
		{
			name: "rename to taken name", setup: []Op{put(service("s1", "web")), put(service("s2", "api"))},
			ops: []Op{put(renamed(service("s2", ""), "web"))}, want: ErrNameTaken,
		},
		{
			name: "rename frees old name", setup: []Op{put(service("s1", "web"))},
			ops:    []Op{put(renamed(service("s1", ""), "www")), put(service("s2", "web"))},
			byName: map[string]string{"web": "s2", "www": "s1"},
		},
		{
			name: "swap names via a temporary", setup: []Op{put(service("s1", "a")), put(service("s2", "b"))},
			ops: []Op{
				put(renamed(service("s1", ""), "tmp")),
				put(renamed(service("s2", ""), "a")),
				put(renamed(service("s1", ""), "b")),
			},
			byName: map[string]string{"a": "s2", "b": "s1", "tmp": ""},
		},
		{
			name: "swap without temporary fails", setup: []Op{put(service("s1", "a")), put(service("s2", "b"))},
			ops:  []Op{put(renamed(service("s1", ""), "b")), put(renamed(service("s2", ""), "a"))},
			want: ErrNameTaken,
		},
		{
			name: "put same service keeps its name", setup: []Op{put(service("s1", "web"))},
			ops: []Op{put(service("s1", "web"))}, byName: map[string]string{"web": "s1"},
		},
		{
			name: "delete frees name", setup: []Op{put(service("s1", "web"))},
			ops: []Op{del(TableServices, "s1"), put(service("s2", "web"))}, byName: map[string]string{"web": "s2"},
		},
		{
			name: "network name taken", setup: []Op{put(network("w1", "front"))},
			ops: []Op{put(network("w2", "front"))}, want: ErrNameTaken,
			wantMsg: `network name "front" is already in use by network w1; choose another name`,
		},
		{
			name: "service and network may share a name", setup: []Op{put(network("w1", "web"))},
			ops: []Op{put(service("s1", "web"))}, byName: map[string]string{"web": "s1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for _, op := range tc.setup {
				h.must(op)
			}
			res := h.apply(tc.ops...)
			wantErr(t, res.Err, tc.want)
			if tc.wantMsg != "" && res.Err.Error() != tc.wantMsg {
				t.Fatalf("message = %q, want %q", res.Err, tc.wantMsg)
			}
			v := h.s.View()
			for name, id := range tc.byName {
				got := v.ServiceByName(name)
				if (got == nil) != (id == "") || (got != nil && got.ID != id) {
					t.Errorf("ServiceByName(%q) = %+v, want ID %q", name, got, id)
				}
			}
		})
	}
}

func TestNetworkRename(t *testing.T) {
	h := newHarness(t)
	h.must(put(network("w1", "front")))
	n := network("w1", "back")
	h.must(put(n))
	v := h.s.View()
	if v.NetworkByName("front") != nil || v.NetworkByName("back") == nil {
		t.Fatal("network rename not reflected in the name index")
	}
	if res := h.apply(put(network("w2", "back"))); !errors.Is(res.Err, ErrNameTaken) {
		t.Fatalf("reusing a renamed network's name: %v, want ErrNameTaken", res.Err)
	}
}
