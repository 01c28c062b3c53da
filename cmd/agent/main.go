// Command agent is the shoal daemon and its local administration commands.
package main

import (
	"os"
	goruntime "runtime"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/cli/daemon"
)

// init keeps the main goroutine on the process's main thread for good, so
// that no other goroutine ever runs there. Goroutines that move their
// thread into a task's network namespace and end locked (internal/nsthread,
// when it cannot move a thread back) have that thread discarded, but the
// runtime cannot discard the main thread: it keeps it, in the task's
// namespace (this happened when overlay pinned a task's namespace on a
// thread it never moved back). /proc/PID/ns/net shows the main thread's
// namespace, so the agent then looked as if it ran in a task's network
// namespace: `nsenter -t PID -n` entered the task, and the lab took the
// agent for gone.
func init() { goruntime.LockOSThread() }

func main() {
	if runtime.IsLogDriver(os.Args[1:]) { // started by containerd's shim for a task
		os.Exit(runtime.RunLogDriver(os.Args[1:]))
	}
	os.Exit(daemon.RunAgent(os.Args[1:]))
}
