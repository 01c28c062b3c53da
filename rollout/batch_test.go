package rollout

import (
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

// TestLargeScaleUpIsSplit: a scale-up of more tasks than MaxCreatesPerPlan
// (over two services, one of them global) is created over several plans,
// each within the bound and each asking to be run again at once, until
// every service has its tasks.
func TestLargeScaleUpIsSplit(t *testing.T) {
	nodes := []*types.Node{nd("a"), nd("b"), nd("c")}
	svcs := []*types.Service{rep("big", 1_234), glob("mon"), rep("small", 2)}
	var tasks []*types.Task
	newID := ids()
	plans := 0
	for ; plans < 10; plans++ {
		p := Reconcile(Input{Now: t0, Nodes: nodes, Services: svcs, Tasks: tasks}, newID)
		if len(p.Create) > MaxCreatesPerPlan {
			t.Fatalf("plan %d creates %d tasks, more than %d", plans, len(p.Create), MaxCreatesPerPlan)
		}
		if len(p.Create) == 0 {
			break
		}
		tasks = apply(tasks, p, t0)
		if len(tasks) < 1_234+3+2 && !p.WakeAt.Equal(t0) {
			t.Fatalf("plan %d held tasks back but WakeAt = %v, want now", plans, p.WakeAt)
		}
	}
	want := map[string]int{"big": 1_234, "mon": 3, "small": 2}
	got := map[string]int{}
	for _, tk := range tasks {
		got[tk.ServiceID]++
	}
	for svc, n := range want {
		if got[svc] != n {
			t.Errorf("service %s has %d tasks, want %d", svc, got[svc], n)
		}
	}
	if plans != 3 {
		t.Errorf("took %d plans, want 3 (1,239 tasks in batches of at most %d)", plans, MaxCreatesPerPlan)
	}
}
