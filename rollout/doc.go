// Package rollout holds the leader's orchestration logic. This part,
// Reconcile, is pure: it turns a snapshot of nodes, services and tasks and
// the current time into a Plan (tasks to create, update and delete, and
// services whose update progress changed) that the leader's loop applies
// through raft. It does no I/O, reads no clock and starts no goroutines.
// Every task it creates uses the service's current spec and SpecVersion;
// tasks whose template is out of date are replaced only by a rolling
// update (see Rolling updates).
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
// # Rolling updates
//
// A task is outdated when its template (Task.Spec) differs from the
// service's Spec.Task; templates are compared, not SpecVersions, so a
// ForceUpdate bump is a change, and a rollback of a half-done update
// replaces only the slots the update reached. A live task whose template
// is current but whose SpecVersion is older (a rollback, a change outside
// the template) is relabelled with the service's SpecVersion.
//
// Outdated tasks are replaced only while the service's UpdateStatus.State
// is updating or rollback_started, using Spec.Update (Spec.Rollback while
// rolling back). The server fills every default before a spec is stored
// (package spec); for a spec that lacks them the updater falls back to the
// same values: Monitor 5s (DefaultMonitor), stop-first, failure action
// pause, and an unset (nil) Parallelism is 1. An explicit Parallelism 0
// means all slots at once. The updater takes batches of Parallelism slots that
// hold a live outdated task, lowest slot number (global: node ID) first:
//
//   - stop-first: the old task gets desired state shutdown; the slot stays
//     occupied, and its replacement (a new task in the same slot, placed by
//     the scheduler like any other) is created only once the old task is
//     terminal (its node going down makes it so), so two copies never run
//     and published ports never clash;
//   - start-first: the replacement is created first; the old task gets
//     desired state shutdown once the new one runs and is healthy.
//
// A slot of the batch is done when its new task has run, healthy (Healthy
// nil or true), for Monitor, measured from its running status's timestamp,
// and no outdated task of the slot is still stopping. The batch is done
// when all its slots are; the next batch starts Delay after that, and not
// before every outdated task told to stop has stopped, so that at most
// Parallelism slots are being replaced at any time. When no outdated slot
// is left the update completes at once (State completed, "update
// completed"; a rollback: rollback_completed, "rollback completed";
// CompletedAt = Now). Plan.WakeAt says when a monitor period or a delay
// ends.
//
// A new task of the batch that fails before its slot is done (it ends on
// its own while wanted running: failed, rejected or complete; or reports
// unhealthy) counts as one failure and leaves the batch; the restart policy
// restarts it as usual. While the update goes on, a failed start-first
// slot's old task is retired too, as if the slot had been replaced; when
// the update pauses, the old task keeps running and a resumed update takes
// the slot again. When failures exceed MaxFailureRatio × the slots the
// update replaces (those begun so far plus those still outdated, as swarm
// counts its dirty slots), the failure action applies: continue does
// nothing; pause sets State paused ("update paused due to failure or early
// termination of task ID"; while rolling back, rollback_paused, "rollback
// paused ..."); rollback (an update only: a rollback is never rolled back)
// swaps Spec and PreviousSpec (keeping the current Mode), increments
// SpecVersion, sets State rollback_started ("update rolled back due to
// failure or early termination of task ID") and rolls back with the
// Rollback config, beginning with the batch in flight and the failed slot.
// Without a previous spec it pauses instead.
//
// While paused nothing proceeds: no failure is counted, no batch closes
// or starts. Slots already in flight still finish their step (a stop-first
// slot is refilled once its old task stopped, a start-first slot retires
// its old task once the new one is healthy), so a pause never leaves a
// slot empty. Scaling and restarts work as usual during an update; new
// slots of a scale-up get the current spec directly; a batch slot removed
// by a scale-down leaves the batch. A global service updates per node the
// same way; nodes where it may not run (paused, drained, unknown, not
// meeting its constraints) are left alone and do not hold up completion.
//
// Progress lives in the store, so a new leader continues where the old
// one stopped: which slots are up to date, and since when their new tasks
// run, is read from the tasks; UpdateStatus keeps the rest (Updated,
// Failures, the batch in flight, BatchDoneAt). Plan.Services carries the
// changed statuses (and a rollback's swapped spec); the agent writes them
// with IfVersion checks in the same raft command as the task changes, so
// a batch is never started twice or skipped, and no slot is updated twice
// by one update. The agent starts an update by writing BeginUpdate's
// status with every template change (manual rollbacks included) and
// resumes a paused one with ResumeUpdate's when a user updates the service
// without changing its template.
//
// # Placement
//
// New tasks are placed by package scheduler, after every task that stops
// in this plan has stopped counting. A task that fits nowhere is created
// (or kept) pending with Status.Err set to the scheduler's explanation,
// and placed again by the next Reconcile that finds room.
package rollout
