package control

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
)

// putTasks stores tasks of service svc on node n1, all assigned.
func (tc *testCluster) putTasks(t *testing.T, svc *types.Service, ids ...string) {
	t.Helper()
	var ops []store.Op
	for i, id := range ids {
		ops = append(ops, store.Op{Kind: store.OpCreate, Table: store.TableTasks, Task: &types.Task{ID: id, ServiceID: svc.ID,
			ServiceName: svc.Spec.Name, Slot: i + 1, NodeID: selfID, SpecVersion: 1, Spec: svc.Spec.Task,
			DesiredState: types.TaskRunning, Status: types.TaskStatus{State: types.TaskAssigned}}})
	}
	tc.mustApply(t, ops...)
}

// TestReportTaskStatus: reported states are recorded with their
// addresses; a state never moves backwards, and reports of tasks that are
// gone are dropped without failing the others.
func TestReportTaskStatus(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	tc.create(t, webSpec("web", "web", 2))
	svc := tc.Store.View().ServiceByName("web")
	tc.putTasks(t, svc, "t2", "t1")
	report := func(ups ...types.TaskUpdate) {
		t.Helper()
		if err := tc.ops.ReportTaskStatus(ctx, ups); err != nil {
			t.Fatalf("report %+v: %v", ups, err)
		}
	}
	states := func() string {
		tasks, err := tc.ops.Tasks(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, at := range tasks {
			out = append(out, fmt.Sprintf("%s@%s %s %v", at.ID, at.NodeHostname, at.Status.State, at.Addresses))
		}
		return strings.Join(out, ", ")
	}
	report(types.TaskUpdate{TaskID: "t1", Status: types.TaskStatus{State: types.TaskRunning}, Addresses: map[string]string{"shoal": "10.240.1.5"}},
		types.TaskUpdate{TaskID: "t2", Status: types.TaskStatus{State: types.TaskStarting}},
		types.TaskUpdate{TaskID: "gone", Status: types.TaskStatus{State: types.TaskRunning}})
	want := "t1@n1 running map[shoal:10.240.1.5], t2@n1 starting map[]"
	if got := states(); got != want {
		t.Fatalf("after the first report: %s, want %s", got, want)
	}
	// A late starting after running, and a report without addresses,
	// change nothing of what was recorded.
	report(types.TaskUpdate{TaskID: "t1", Status: types.TaskStatus{State: types.TaskStarting}},
		types.TaskUpdate{TaskID: "t2", Status: types.TaskStatus{State: types.TaskFailed, Err: "exit 1"}})
	if got, want := states(), "t1@n1 running map[shoal:10.240.1.5], t2@n1 failed map[]"; got != want {
		t.Errorf("after a late report: %s, want %s", got, want)
	}
	all, err := tc.ops.Tasks(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	one, err := tc.ops.Task(ctx, "t2")
	if err != nil || one.Status.Err != "exit 1" || one.NodeHostname != selfName || !reflect.DeepEqual(one, all[1]) {
		t.Errorf("task t2: %+v, %v; want it failed with its error, as the list shows it", one, err)
	}
}
