// Package rollout holds the leader's orchestration logic. This part,
// Reconcile, is pure: it turns a snapshot of nodes, services and tasks and
// the current time into a Plan (tasks to create, update and delete) that
// the leader's loop applies through raft. It does no I/O, reads no clock
// and starts no goroutines. Template changes (rolling updates) are not
// handled here; Reconcile leaves outdated tasks that run alone, and every
// task it creates uses the service's current spec and SpecVersion.
//
// # Slots
//
// A replicated service has Replicas slots, numbered from 1; a global
// service has one slot per node (Slot 0, keyed by NodeID). A slot is
// occupied while it holds a live task (desired state at most running and
// not terminal), or while its newest task ended on its own (failed,
// complete, rejected) and the restart policy says to wait, or not to
// restart at all. Every other slot is dead. As in swarm, the number of
// occupied slots is what is compared with Replicas:
//
//   - too few: dead slots are refilled first (those emptied in this plan,
//     by a restart, a lost node or a drain, before older ones, then by
//     number), then the lowest unused numbers;
//   - too many: slots are removed, emptiest first (no live task, then not
//     yet assigned, then not yet running), then the task that is the most
//     copies deep on its node (so nodes with the most tasks of the service
//     lose one first), then the highest slot number.
//
// Removed and unneeded dead slots are reaped: their non-terminal tasks get
// desired state shutdown (the agent stops them) and their terminal tasks
// are deleted. A slot that holds several live tasks (a start-first update
// in progress) is left to the updater.
//
// # Nodes
//
// Tasks on a node that is down or no longer in the cluster are marked
// orphaned with desired state shutdown and replaced at once, without
// backoff. A drained node, or one that no longer meets a task's own
// constraints, has its tasks shut down and replaced elsewhere. A paused
// node, or one whose status is unknown, keeps its tasks but gets no new
// ones (not even restarts of global tasks). Tasks that were never assigned
// and are no longer wanted are deleted outright, as no agent runs them.
//
// # Restarts
//
// Condition any (the default) restarts every task that ended on its own;
// on-failure all but those that completed with exit code 0; none never.
// A restart replaces the ended task, whose desired state becomes shutdown,
// in the same slot after a delay: Delay (0 means DefaultRestartDelay) ×
// 2^(k−1), capped at max(MaxRestartDelay, Delay), where k counts the
// consecutive tasks of the slot, newest first, that ended on their own;
// a task that ran at least the policy's Window (BackoffReset when there is
// no Window) before ending closes the count, so a task that failed after
// running for a while restarts after the base delay, as Kubernetes' crash
// loop backoff does. While a restart waits, Plan.WakeAt says when it is due.
//
// MaxAttempts limits restarts: when more than MaxAttempts tasks of the
// current SpecVersion ended on their own within the last Window (ever, if
// Window is 0), the slot is not restarted: it stays occupied by its last
// task, whose desired state becomes shutdown and whose status keeps the
// error. With a Window, restarts resume once enough of those tasks have
// left it (WakeAt says when); any change to the service's spec starts the
// count afresh. Attempts are counted from the slot's task history, and
// history needed for the count is kept even beyond the history limit.
//
// # History
//
// Each slot keeps Input.HistoryLimit finished tasks (terminal, desired
// state past running); older ones are deleted. Tasks of deleted services
// get desired state shutdown and are deleted once terminal.
//
// # Placement
//
// New tasks are placed by package scheduler, after every task that stops
// in this plan has stopped counting. A task that fits nowhere is created
// (or kept) pending with Status.Err set to the scheduler's explanation,
// and placed again by the next Reconcile that finds room.
package rollout
