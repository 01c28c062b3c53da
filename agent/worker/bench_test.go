package worker

import (
	"fmt"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

// BenchmarkPlan plans over a node with 1000 tasks in mixed states (a
// quarter each: to start, running, exited, desired shutdown) and their
// containers, the work the loop does after every event.
func BenchmarkPlan(b *testing.B) {
	s := snapshot{Now: planNow, Containers: map[string]ctrState{}, InFlight: map[string]opKind{}, Reported: map[string]types.TaskState{}}
	for i := range 1000 {
		id := fmt.Sprintf("task-%04d", i)
		switch i % 4 {
		case 0:
			s.Tasks = append(s.Tasks, ptask(id, types.TaskRunning, types.TaskAssigned))
		case 1:
			s.Tasks = append(s.Tasks, ptask(id, types.TaskRunning, types.TaskRunning))
			s.Containers[id] = running
		case 2:
			s.Tasks = append(s.Tasks, ptask(id, types.TaskRunning, types.TaskRunning))
			s.Containers[id] = exited1
		case 3:
			s.Tasks = append(s.Tasks, ptask(id, types.TaskShutdown, types.TaskRunning))
			s.Containers[id] = running
			s.InFlight[id] = opStop
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if acts := plan(s); len(acts) != 500 {
			b.Fatalf("%d actions, want 500", len(acts))
		}
	}
}
