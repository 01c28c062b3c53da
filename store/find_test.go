package store

import (
	"fmt"
	"testing"
)

func TestFind(t *testing.T) {
	h := newHarness(t)
	h.must(
		put(node("abc123", "shared")), put(node("abd456", "shared")),
		put(node("xyz789", "solo")), put(node("solo", "other")), // ID "solo" beats hostname "solo"
		put(node("qq1", "abc")), // hostname "abc" beats the ID prefix "abc"
		put(service("svc111", "web")), put(service("svc222", "api")), put(service("web", "frontend")),
		put(task("task-1", "svc111", "abc123")), put(task("task-2", "svc111", "abc123")), put(task("zz", "svc111", "")),
		put(network("net1", "front")), put(network("net2", "back")),
	)
	for i := range 7 {
		h.must(put(task(fmt.Sprintf("many%d", i), "svc222", "")))
	}
	v := h.s.View()

	type find func(ref string) (string, error)
	key := func(o object, err error) (string, error) {
		if err != nil {
			return "", err
		}
		return keyOf(o), nil
	}
	nodes := func(r string) (string, error) { return key(v.FindNode(r)) }
	services := func(r string) (string, error) { return key(v.FindService(r)) }
	tasks := func(r string) (string, error) { return key(v.FindTask(r)) }
	networks := func(r string) (string, error) { return key(v.FindNetwork(r)) }

	cases := []struct {
		name    string
		find    find
		ref     string
		wantID  string
		want    error
		wantMsg string
	}{
		{name: "node by ID", find: nodes, ref: "abd456", wantID: "abd456"},
		{name: "node by unique hostname", find: nodes, ref: "other", wantID: "solo"},
		{name: "node ID before hostname", find: nodes, ref: "solo", wantID: "solo"},
		{name: "node hostname before prefix", find: nodes, ref: "abc", wantID: "qq1"},
		{name: "node by prefix", find: nodes, ref: "xy", wantID: "xyz789"},
		{
			name: "node shared hostname", find: nodes, ref: "shared", want: ErrAmbiguous,
			wantMsg: `node reference "shared" is ambiguous: matches abc123, abd456`,
		},
		{
			name: "node ambiguous prefix", find: nodes, ref: "ab", want: ErrAmbiguous,
			wantMsg: `node reference "ab" is ambiguous: matches abc123, abd456`,
		},
		{name: "node not found", find: nodes, ref: "nope", want: ErrNotFound, wantMsg: `node "nope" not found`},
		{name: "node empty", find: nodes, ref: "", want: ErrInvalid},
		{name: "service by ID", find: services, ref: "svc222", wantID: "svc222"},
		{name: "service ID before name", find: services, ref: "web", wantID: "web"},
		{name: "service by name", find: services, ref: "frontend", wantID: "web"},
		{name: "service by prefix", find: services, ref: "svc1", wantID: "svc111"},
		{name: "service ambiguous prefix", find: services, ref: "svc", want: ErrAmbiguous,
			wantMsg: `service reference "svc" is ambiguous: matches svc111, svc222`},
		{name: "service not found", find: services, ref: "db", want: ErrNotFound, wantMsg: `service "db" not found`},
		{name: "task by ID", find: tasks, ref: "zz", wantID: "zz"},
		{name: "task by prefix", find: tasks, ref: "task-2", wantID: "task-2"},
		{name: "task ambiguous prefix", find: tasks, ref: "task", want: ErrAmbiguous},
		{name: "task ambiguity list is bounded", find: tasks, ref: "many", want: ErrAmbiguous,
			wantMsg: `task reference "many" is ambiguous: matches many0, many1, many2, many3, many4 and 2 more`},
		{name: "task not found", find: tasks, ref: "y", want: ErrNotFound, wantMsg: `task "y" not found`},
		{name: "network by name", find: networks, ref: "back", wantID: "net2"},
		{name: "network by ID", find: networks, ref: "net1", wantID: "net1"},
		{name: "network ambiguous prefix", find: networks, ref: "net", want: ErrAmbiguous},
		{name: "network not found", find: networks, ref: "middle", want: ErrNotFound, wantMsg: `network "middle" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.find(tc.ref)
			wantErr(t, err, tc.want)
			if tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Fatalf("message = %q, want %q", err, tc.wantMsg)
			}
			if id != tc.wantID {
				t.Fatalf("found %q, want %q", id, tc.wantID)
			}
		})
	}
}

func TestListOrderAndIndexes(t *testing.T) {
	h := newHarness(t)
	h.must(
		put(node("n3", "b")), put(node("n2", "a")), put(node("n1", "b")),
		put(service("s1", "zeta")), put(service("s2", "alpha")),
		put(network("w1", "y")), put(network("w2", "x")),
		put(task("t3", "s1", "n1")), put(task("t1", "s1", "n2")), put(task("t2", "s2", "n1")), put(task("t4", "s2", "")),
	)
	v := h.s.View()
	ids := func(objs ...object) (out []string) {
		for _, o := range objs {
			out = append(out, keyOf(o))
		}
		return out
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("Nodes", ids(asObjects(v.Nodes())...), "n2", "n1", "n3")
	check("Services", ids(asObjects(v.Services())...), "s2", "s1")
	check("Networks", ids(asObjects(v.Networks())...), "w2", "w1")
	check("Tasks", ids(asObjects(v.Tasks())...), "t1", "t2", "t3", "t4")
	check("TasksByService(s1)", ids(asObjects(v.TasksByService("s1"))...), "t1", "t3")
	check("TasksByService(s2)", ids(asObjects(v.TasksByService("s2"))...), "t2", "t4")
	check("TasksByNode(n1)", ids(asObjects(v.TasksByNode("n1"))...), "t2", "t3")
	check("TasksByNode(\"\")", ids(asObjects(v.TasksByNode(""))...))
	check("TasksByService(s)", ids(asObjects(v.TasksByService("s"))...)) // no prefix matching
	check("NodesByHostname(b)", ids(asObjects(v.NodesByHostname("b"))...), "n1", "n3")
	if v.Node("n") != nil || v.Service("s") != nil || v.ServiceByName("zet") != nil {
		t.Error("exact lookups matched a prefix")
	}
	// Moving a task to another node updates the node index.
	moved := task("t3", "s1", "n2")
	h.must(put(moved))
	v = h.s.View()
	check("TasksByNode(n1) after move", ids(asObjects(v.TasksByNode("n1"))...), "t2")
	check("TasksByNode(n2) after move", ids(asObjects(v.TasksByNode("n2"))...), "t1", "t3")
}

func asObjects[T any](in []*T) []object {
	out := make([]object, len(in))
	for i, o := range in {
		out[i] = any(o).(object)
	}
	return out
}
