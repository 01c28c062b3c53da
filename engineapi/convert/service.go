package convert

import (
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// Service is s as a Docker service; withStatus adds ServiceStatus (the
// running and desired task counts of `docker service ls`).
func Service(s api.Service, withStatus bool) swarm.Service {
	spec := ServiceSpec(s.Spec)
	out := swarm.Service{
		ID:       s.ID,
		Meta:     meta(s.Meta),
		Spec:     spec,
		Endpoint: swarm.Endpoint{Spec: *spec.EndpointSpec, Ports: spec.EndpointSpec.Ports},
	}
	if s.PreviousSpec != nil {
		prev := ServiceSpec(*s.PreviousSpec)
		out.PreviousSpec = &prev
	}
	if u := s.UpdateStatus; u != nil {
		out.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateState(u.State), StartedAt: timePtr(u.StartedAt),
			CompletedAt: timePtr(u.CompletedAt), Message: u.Message}
	}
	if withStatus {
		out.ServiceStatus = &swarm.ServiceStatus{RunningTasks: s.RunningTasks, DesiredTasks: s.DesiredTasks}
	}
	return out
}

// Task is t as a Docker task. Its Version is the spec version of the
// service it was made from, as swarm's tasks carry the service's.
func Task(t api.Task) swarm.Task {
	out := swarm.Task{
		ID:           t.ID,
		Meta:         meta(t.Meta),
		Annotations:  swarm.Annotations{Labels: map[string]string{}},
		Spec:         TaskSpec(t.Spec),
		ServiceID:    t.ServiceID,
		Slot:         t.Slot,
		NodeID:       t.NodeID,
		DesiredState: swarm.TaskState(t.DesiredState),
		Status: swarm.TaskStatus{
			Timestamp: t.Status.Timestamp,
			State:     TaskState(t.Status.State),
			Message:   t.Status.Message,
			Err:       t.Status.Err,
			// Always an object: the swarm visualizer reads it.
			ContainerStatus: &swarm.ContainerStatus{ContainerID: t.Status.ContainerID, ExitCode: t.Status.ExitCode},
		},
	}
	if out.Status.Message == "" {
		out.Status.Message = string(t.Status.State)
	}
	return out
}

// TaskState is Docker's name for s; the two life cycles share their names.
func TaskState(s types.TaskState) swarm.TaskState { return swarm.TaskState(s) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
