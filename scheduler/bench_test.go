package scheduler

import (
	"fmt"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

// benchNodes returns n ready nodes in 3 zones with room for every task.
func benchNodes(n int) []*types.Node {
	nodes := make([]*types.Node, n)
	for i := range nodes {
		nodes[i] = nd(fmt.Sprintf("node-%04d", i), label("zone", fmt.Sprintf("z%d", i%3)),
			label("env", "prod"), res(1024, 1<<40))
	}
	return nodes
}

func benchServices(n int, opts ...func(*types.TaskTemplate)) []*types.Service {
	svcs := make([]*types.Service, n)
	for i := range svcs {
		svcs[i] = svc(fmt.Sprintf("svc-%03d", i), opts...)
	}
	return svcs
}

// benchPlace places perService tasks of every service on a fresh
// Scheduler per iteration and checks that all were placed.
func benchPlace(b *testing.B, nodes []*types.Node, tasks []*types.Task, svcs []*types.Service, perService int) {
	b.ReportAllocs()
	for b.Loop() {
		s := New(nodes, tasks)
		for _, sv := range svcs {
			got, err := s.Place(sv, perService)
			if err != nil || len(got) != perService {
				b.Fatalf("placed %d of %d: %v", len(got), perService, err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(svcs)*perService), "ns/task")
}

// BenchmarkPlace100kOn1kNodes is swarmkit's benchmark: 100k tasks on 1k
// nodes (swarmkit took 22.6 s in 2016), as 100 services of 1000 tasks.
func BenchmarkPlace100kOn1kNodes(b *testing.B) {
	benchPlace(b, benchNodes(1000), nil, benchServices(100, constraints("node.labels.env==prod"), reserve(0.1, 1<<20)), 1000)
}

// BenchmarkPlaceOneService100k places one service of 100k tasks.
func BenchmarkPlaceOneService100k(b *testing.B) {
	benchPlace(b, benchNodes(1000), nil, benchServices(1, reserve(0.1, 1<<20)), 100_000)
}

// BenchmarkPlace100kSpreadOverZones adds a placement preference.
func BenchmarkPlace100kSpreadOverZones(b *testing.B) {
	benchPlace(b, benchNodes(1000), nil, benchServices(100, prefs("node.labels.zone")), 1000)
}

// BenchmarkPlace100kBinpack uses the binpack strategy with MaxReplicas.
func BenchmarkPlace100kBinpack(b *testing.B) {
	benchPlace(b, benchNodes(1000), nil, benchServices(100, binpack, reserve(1, 1<<30), maxPerNode(10)), 1000)
}

// BenchmarkPlaceOnBusyCluster places 10k more tasks where 100k already run:
// the cost of one plan that scales 10 services up by 1000.
func BenchmarkPlaceOnBusyCluster(b *testing.B) {
	nodes := benchNodes(1000)
	svcs := benchServices(100)
	var tasks []*types.Task
	for i := range 100_000 {
		tasks = append(tasks, running(svcs[i%100], nodes[i%1000].ID))
	}
	benchPlace(b, nodes, tasks, svcs[:10], 1000)
}
