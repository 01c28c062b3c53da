// Package worker is the node agent's task executor (swarm's "worker"): it
// watches this node's replica of the store for the tasks assigned to the
// node, runs them through the container runtime, and reports what it
// observes to the leader, which writes it to the store.
//
// # Shape
//
// One loop goroutine owns all state: the containers it knows of, the
// operation in flight per task, and the last state it reported per task.
// It wakes on store changes (tasks table), container exits, the end of an
// operation, and timers, and then calls plan, a pure function from the
// tasks, containers and operations in flight to actions (report a status,
// start, stop, remove, cancel a start). Slow operations (pull, stop with a
// grace period) run in a goroutine per task, at most one per task, so one
// slow task never holds up another; they tell the loop what they saw
// through a channel and never touch its state. Run waits for all of them.
//
// Healthcheck probes run in a goroutine per task (at most one), and each
// Release call in one of its own; they too talk to the loop only through
// channels, and Run waits for them.
//
// Reports go through a reporter goroutine that gathers updates for
// DefaultReportWindow into one Report call, keeps only the newest status
// per task, and retries failed calls with backoff (100 ms doubling to 2 s).
// A task's latest status is kept until a call carrying it succeeds or the
// task is gone from the store. Addresses ride on one update and survive
// its replacement by a newer one.
//
// # Life cycle (swarm semantics)
//
// A task is run only while it is assigned to this node: its NodeID is the
// node's and its observed state is at least assigned (a global task that
// no node can take waits pending with a NodeID set, and is never run).
// With desired state running it goes preparing (image pulled once;
// Config.Network sets up its network, Config.Files its secret and config
// files, bind-mounted read-only) → starting (container created: ID =
// task ID, labels LabelTaskID, LabelServiceID, LabelServiceName, LabelSlot
// and LabelHealthcheck over the task's own labels, EnvTaskID and
// EnvService added to the environment; reported with the network's
// addresses) → running. A failed pull, healthcheck form, network or create
// rejects the task with the message of the part that failed; a failed
// start fails it. When the container exits, the task is complete
// (exit 0) or failed ("task: non-zero exit (N)"); the worker never
// restarts a task, the leader replaces it. A container whose task leaves
// (desired shutdown, deleted, or assigned elsewhere) is stopped after
// StopDrain with the task's stop signal and grace period, and its task,
// if still here, reported shutdown with the exit code.
//
// Observed state only moves forward (store.TaskState.Rank): a status is
// reported only if it is beyond both the store's and the last reported
// one, so none is reported twice. The one exception is a change of health
// of a running task, reported as running again (the leader accepts a
// status of equal rank).
//
// A stopped or exited container is removed (its log file stays) once the
// store shows its task's final state, that is once the leader has accepted
// it, or at once if the task is gone or not assigned here. Until then the
// container keeps the exit code, so an agent that restarts before the
// leader accepted can report it again.
//
// # Healthchecks (docker's and swarm's semantics)
//
// A container's healthcheck is the task's over the image's HEALTHCHECK,
// field by field (a task that sets only timings keeps the image's test);
// ["NONE"] disables it. Defaults: Interval DefaultHealthInterval, Timeout
// DefaultHealthTimeout, Retries DefaultHealthRetries, no start period.
// ["CMD", prog, args...] runs prog, ["CMD-SHELL", cmd] runs /bin/sh -c cmd,
// through the runtime's Exec, Interval after the previous probe ended.
// A task with a healthcheck is reported running with Healthy=false, then
// running with Healthy=true after its first passing probe (the leader and
// the load balancers count it as serving only then). Failures count
// against Retries once the start period is over or a probe has passed;
// Retries failures in a row make the container unhealthy: it is reported
// Healthy=false (if it was healthy), stopped like a task that leaves
// (StopDrain, stop signal, grace period), and its task failed with
// "task: container unhealthy" and the exit code. A probe is cancelled as
// soon as its task's container stops running, an operation begins for it,
// or the task is no longer wanted. The effective healthcheck is kept in
// the container's LabelHealthcheck, so that an adopted container is
// probed again, from the health the store shows (its start period begins
// at adoption).
//
// # Networks
//
// Config.Network is called in the start operation before Create; nil
// hooks mean the network namespace of containerd's shims and nothing to
// release. Config.Release is called, in a goroutine of its own, for every
// task that may hold a network (one the worker started, one whose
// container it found, one Config.Leftovers names) once it has no
// container, no operation and will not be started again: after the
// container is removed, or right after a failed Network or Create. A
// failed Release is retried with backoff; a start waits for a Release in
// flight for the same task.
//
// # Adoption
//
// Containers outlive the agent. At start (and whenever the runtime's
// exit stream breaks) the worker subscribes to exits first and then lists
// the containers labelled LabelTaskID, so no exit falls in between. A
// running container whose task is still wanted is kept, not restarted,
// and reported running if the store does not say so already; the others
// are stopped and removed by the rules above. A container of a task an
// earlier agent left half-started is started again (create and start are
// idempotent).
//
// # Cancelling
//
// A start in flight for a task that is no longer wanted is cancelled; the
// image pull itself runs to its end (the runtime shares one pull among
// all tasks of an image), and the task is then stopped or cleaned up as
// usual. When Run's context ends, operations are abandoned and containers
// are left as they are for the next worker to adopt.
package worker
