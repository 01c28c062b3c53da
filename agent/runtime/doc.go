// Package runtime is the node's container runtime: it runs shoal tasks as
// containerd containers through the containerd Go client (v1.7 client, which
// works against the containerd 1.6 daemon Debian ships), in a containerd
// namespace of its own ("shoal").
//
// # Life cycle and agent restarts
//
// Each container is run by containerd's default runc v2 shim, which is a
// child of containerd, not of the agent. Containers therefore outlive the
// agent process: a restarted agent calls List to find its containers again
// (same IDs, same labels) and adopts them instead of restarting them. Nothing
// in this package keeps per-container state in memory; containerd is the
// source of truth.
//
// # Logs: the trade-off
//
// A container's stdout and stderr go to StateDir/logs/<id>.log through
// cio.LogFile: the shim itself opens the file (in append mode) and writes to
// it, so logging goes on while the agent is down or restarting. The price is
// that lines carry no per-line timestamp or stream name: the shim copies raw
// bytes and stdout and stderr are interleaved in one file. A copier in the
// agent could add both, but it would die with the agent and, once its pipe
// filled, block the container. A logging binary started by the shim
// (cio.BinaryIO) could add them without that risk; it is left for later
// because it needs an executable installed on every node. There is no
// rotation yet: the file grows until the container is removed and the agent
// deletes it.
//
// # Exits come after the last line
//
// The shim reports a task's exit as soon as its process is gone, while its
// copy of the process's output into the log may still be draining the
// pipes: a reader told of the exit at once could miss the last lines, the
// very ones a crashed task's user needs. So the runtime reaps a stopped
// task (deletes it, which waits for the shim's copy to end) before any of
// Status, List, Stop or Exits reports the exit, and keeps the exit code and
// time in the container's labels from then on. An exited container thus
// has no task; Start creates a new one.
//
// # Networking
//
// Spec.NetNSPath names a network namespace (a bind-mounted nsfs file such as
// /run/netns/X) that the container joins; the overlay creates one per task.
// An empty NetNSPath means the host network: the container stays in the
// network namespace containerd's shim runs in, which is the agent's own
// when containerd and the agent run side by side as they do on a node and
// in the lab; the host's /etc/hosts and /etc/resolv.conf are then used.
// Spec.Hosts and Spec.ResolvConf replace either file by a host file of the
// caller's, bind-mounted read-only (the agent's service discovery).
//
// # Labels
//
// Spec.Labels are stored as containerd container labels and returned by
// List. The package keeps a few labels of its own under the
// "io.shoal.runtime/" prefix (image as asked for, stop signal, stop grace);
// List and Status hide them.
//
// # Concurrency
//
// A Runtime is safe for concurrent use. Operations on the same container
// ID from several goroutines are not serialised here: the agent owns one
// loop per task.
package runtime
