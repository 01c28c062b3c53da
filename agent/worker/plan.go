package worker

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// opKind is the kind of a slow runtime operation running for one task.
type opKind int

const (
	opStart  opKind = iota + 1 // pull, create, start
	opStop                     // drain, stop with grace
	opRemove                   // remove the container (its log stays)
)

func (k opKind) String() string {
	switch k {
	case opStart:
		return "start"
	case opStop:
		return "stop"
	case opRemove:
		return "remove"
	}
	return fmt.Sprintf("op(%d)", int(k))
}

// actionKind is what the worker's loop is asked to do for one task.
type actionKind int

const (
	actReport actionKind = iota + 1 // report Status for the task
	actStart                        // run opStart for Task
	actStop                         // run opStop (Task is nil for a container without a task here)
	actRemove                       // run opRemove
	actCancel                       // cancel the task's in-flight start: it is not wanted any more
)

func (k actionKind) String() string {
	switch k {
	case actReport:
		return "report"
	case actStart:
		return "start"
	case actStop:
		return "stop"
	case actRemove:
		return "remove"
	case actCancel:
		return "cancel"
	}
	return fmt.Sprintf("action(%d)", int(k))
}

// action is one step of a plan. ID is the task ID, which is also the
// container ID.
type action struct {
	Kind   actionKind
	ID     string
	Task   *types.Task      // actStart, actStop (nil when the task is not assigned here)
	Status types.TaskStatus // actReport
}

// ctrState is what the worker knows about one task's container; a
// container that is not in the map does not exist.
type ctrState struct {
	Running bool
	// Exited is true once the container's process ran and exited;
	// ExitCode is then its exit status.
	Exited   bool
	ExitCode int
}

// healthMark is what plan knows of a container's healthcheck.
type healthMark int

const (
	hmNone      healthMark = iota // no healthcheck
	hmChecked                     // has one; reported unhealthy until it passes
	hmUnhealthy                   // failed Retries times in a row: stop it, fail the task
)

// snapshot is everything plan decides from.
type snapshot struct {
	Now time.Time
	// Tasks are the tasks the store assigns to this node.
	Tasks []*types.Task
	// Containers are this node's task containers, by task ID.
	Containers map[string]ctrState
	// InFlight holds the operation running for a task ID, if any.
	InFlight map[string]opKind
	// Reported is the latest state the worker reported per task (the
	// leader may not have accepted it yet).
	Reported map[string]types.TaskState
	// Health marks the containers that have a healthcheck, by task ID.
	Health map[string]healthMark
}

// Status messages, as swarm words them.
const (
	msgPreparing = "preparing"
	msgStarting  = "starting"
	msgStarted   = "started"
	msgFinished  = "finished"
	msgShutdown  = "shutdown"
)

// plan is the worker's pure decision step: from the tasks assigned to this
// node, the containers that exist and the operations in flight it returns
// the reports to send and the operations to begin, sorted by task ID. It
// never starts a second operation for a task that has one in flight, never
// starts a task that is not assigned to this node, and only reports states
// that move a task's observed state forward.
func plan(s snapshot) []action {
	tasks := make(map[string]*types.Task, len(s.Tasks))
	for _, t := range s.Tasks {
		tasks[t.ID] = t
	}
	ids := slices.Collect(maps.Keys(tasks))
	for id := range s.Containers {
		if tasks[id] == nil {
			ids = append(ids, id)
		}
	}
	for id := range s.InFlight {
		if _, ok := s.Containers[id]; !ok && tasks[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []action
	for _, id := range ids {
		out = append(out, planOne(s, id, tasks[id])...)
	}
	return out
}

// planOne decides for one task ID; t is nil when no task with that ID is
// assigned to this node (deleted, or assigned elsewhere).
func planOne(s snapshot, id string, t *types.Task) []action {
	c, has := s.Containers[id]
	wantRun := t != nil && t.DesiredState == types.TaskRunning
	if k, busy := s.InFlight[id]; busy {
		if k == opStart && !wantRun {
			return []action{{Kind: actCancel, ID: id}}
		}
		return nil
	}
	switch {
	case t == nil:
		if has && c.Running {
			return []action{{Kind: actStop, ID: id}}
		}
		if has {
			return []action{{Kind: actRemove, ID: id}}
		}
		return nil
	case wantRun:
		return planRunning(s, t, c, has)
	case t.DesiredState.Rank() > types.TaskRunning.Rank():
		return planShutdown(s, t, c, has)
	}
	return nil
}

// planRunning handles a task whose desired state is running.
func planRunning(s snapshot, t *types.Task, c ctrState, has bool) []action {
	observed := observedState(t, s.Reported)
	switch {
	case observed.Rank() < types.TaskAssigned.Rank():
		// Pending with this node's ID (a global task no node can take
		// yet): not assigned, so never run it.
		if has && c.Running {
			return []action{{Kind: actStop, ID: t.ID, Task: t}}
		}
		return nil
	case observed.Terminal():
		// The cluster counts the task as ended (and may have replaced
		// it): it must not keep running here.
		if has && c.Running {
			return []action{{Kind: actStop, ID: t.ID, Task: t}}
		}
		if has && t.Status.State.Terminal() {
			return []action{{Kind: actRemove, ID: t.ID}}
		}
		return nil // removed once the leader has accepted the final state
	case has && c.Running && s.Health[t.ID] == hmUnhealthy:
		return []action{{Kind: actStop, ID: t.ID, Task: t}}
	case has && c.Running:
		if observed.Rank() < types.TaskRunning.Rank() {
			st := types.TaskStatus{State: types.TaskRunning, Message: msgStarted, ContainerID: t.ID}
			if s.Health[t.ID] == hmChecked {
				st.Healthy = new(false) // until the first probe passes
			}
			return report(s, t, st)
		}
		return nil
	case s.Health[t.ID] == hmUnhealthy && (c.Exited || !has):
		// Stopped because its healthcheck failed (swarm fails the task).
		st := types.TaskStatus{State: types.TaskFailed, Message: msgFinished, Err: errUnhealthy, Healthy: new(false)}
		if has {
			st.ContainerID, st.ExitCode = t.ID, c.ExitCode
		}
		return report(s, t, st)
	case has && c.Exited:
		return report(s, t, exitStatus(t.ID, c.ExitCode))
	case observed.Rank() < types.TaskRunning.Rank():
		// Not started, or an earlier agent died half-way through
		// starting it: the start path is idempotent.
		return []action{{Kind: actStart, ID: t.ID, Task: t}}
	case has:
		return report(s, t, types.TaskStatus{State: types.TaskFailed, Message: msgFinished,
			Err: "task: container is not running and has no exit status", ContainerID: t.ID})
	default:
		return report(s, t, types.TaskStatus{State: types.TaskFailed, Message: msgFinished,
			Err: "task: container is gone"})
	}
}

// planShutdown handles a task whose desired state is shutdown or beyond.
func planShutdown(s snapshot, t *types.Task, c ctrState, has bool) []action {
	observed := observedState(t, s.Reported)
	switch {
	case has && c.Running:
		return []action{{Kind: actStop, ID: t.ID, Task: t}}
	case observed.Rank() < types.TaskAssigned.Rank():
		if has {
			return []action{{Kind: actRemove, ID: t.ID}}
		}
		return nil // never assigned here: the leader deletes it
	case !observed.Terminal():
		st := types.TaskStatus{State: types.TaskShutdown, Message: msgShutdown}
		if has {
			st.ContainerID, st.ExitCode = t.ID, c.ExitCode
		}
		return report(s, t, st)
	case has && t.Status.State.Terminal():
		return []action{{Kind: actRemove, ID: t.ID}}
	}
	return nil
}

// report returns the action reporting st for t, stamped now, or nothing if
// st would not move the task's observed state forward.
func report(s snapshot, t *types.Task, st types.TaskStatus) []action {
	if st.State.Rank() <= observedState(t, s.Reported).Rank() {
		return nil
	}
	st.Timestamp = s.Now
	return []action{{Kind: actReport, ID: t.ID, Status: st}}
}

// exitStatus is the status of a task whose container exited on its own.
func exitStatus(id string, code int) types.TaskStatus {
	if code == 0 {
		return types.TaskStatus{State: types.TaskComplete, Message: msgFinished, ContainerID: id}
	}
	return types.TaskStatus{State: types.TaskFailed, Message: msgFinished, ContainerID: id, ExitCode: code,
		Err: fmt.Sprintf("task: non-zero exit (%d)", code)}
}

// observedState is the furthest of the store's state for t and the state
// the worker last reported for it.
func observedState(t *types.Task, reported map[string]types.TaskState) types.TaskState {
	if r, ok := reported[t.ID]; ok && r.Rank() > t.Status.State.Rank() {
		return r
	}
	return t.Status.State
}
