package rollout

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// benchCluster is 1k nodes and 100 services of 1000 running tasks each,
// with one finished task of history per slot (200k tasks in all).
func benchCluster() Input {
	in := Input{Now: t0}
	for i := range 1000 {
		in.Nodes = append(in.Nodes, nd(fmt.Sprintf("node-%04d", i), label("zone", fmt.Sprint(i%3))))
	}
	for s := range 100 {
		svc := rep(fmt.Sprintf("svc-%03d", s), 1000)
		in.Services = append(in.Services, svc)
		for slot := 1; slot <= 1000; slot++ {
			node := in.Nodes[(s*1000+slot)%1000].ID
			id := fmt.Sprintf("%s-%d", svc.ID, slot)
			in.Tasks = append(in.Tasks,
				tk(id+"-old", svc, slot, node, desired(types.TaskShutdown), ended(types.TaskShutdown, -2*time.Hour),
					created(-3*time.Hour)),
				tk(id, svc, slot, node))
		}
	}
	return in
}

func benchReconcile(b *testing.B, in Input, wantCreate int) {
	b.ReportAllocs()
	for b.Loop() {
		p := Reconcile(in, ids())
		if len(p.Create) != wantCreate {
			b.Fatalf("created %d tasks, want %d", len(p.Create), wantCreate)
		}
	}
}

// BenchmarkReconcileSteady: nothing to do; the cost of checking.
func BenchmarkReconcileSteady(b *testing.B) {
	benchReconcile(b, benchCluster(), 0)
}

// BenchmarkReconcileChurn: 10 nodes down (their 1000 tasks replaced), 5k
// tasks failed (restarted), 10 services scaled up by 500 and 10 down by 500.
func BenchmarkReconcileChurn(b *testing.B) {
	in := benchCluster()
	for i := range 10 {
		in.Nodes[i*97].Status = types.NodeDown
	}
	for i := 1; i < len(in.Tasks); i += 40 { // every 20th running task
		if t := in.Tasks[i]; in.Nodes[0].ID != t.NodeID {
			c := *t
			c.Status.State, c.Status.Timestamp = types.TaskFailed, t0.Add(-time.Minute)
			in.Tasks[i] = &c
		}
	}
	for s := range 20 {
		c := *in.Services[s]
		if s < 10 {
			c.Spec.Mode.Replicas = 1500
		} else {
			c.Spec.Mode.Replicas = 500
		}
		in.Services[s] = &c
	}
	p := Reconcile(in, ids())
	b.Logf("plan: %d create, %d update, %d delete", len(p.Create), len(p.Update), len(p.Delete))
	benchReconcile(b, in, len(p.Create))
}

// BenchmarkReconcileFromScratch: 100 services × 1000 replicas, no tasks yet.
func BenchmarkReconcileFromScratch(b *testing.B) {
	in := benchCluster()
	in.Tasks = nil
	benchReconcile(b, in, 100_000)
}

// BenchmarkReconcileUpdate: every service starts a rolling update
// (parallelism 50, stop-first): 5k old tasks stopped, progress written
// for 100 services, while 195k tasks are compared with their template.
func BenchmarkReconcileUpdate(b *testing.B) {
	in := benchCluster()
	for k, svc := range in.Services {
		par := uint64(50)
		svc.Spec.Update.Parallelism = &par
		in.Services[k] = changeImage(svc, "img:2", t0)
	}
	p := Reconcile(in, ids())
	if len(p.Update) != 5000 || len(p.Services) != 100 {
		b.Fatalf("plan: %d updates, %d services", len(p.Update), len(p.Services))
	}
	benchReconcile(b, in, 0)
}
