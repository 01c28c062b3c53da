// Command agent is the shoal daemon and its local administration commands.
package main

import (
	"os"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/cli"
)

func main() {
	if runtime.IsLogDriver(os.Args[1:]) { // started by containerd's shim for a task
		os.Exit(runtime.RunLogDriver(os.Args[1:]))
	}
	os.Exit(cli.RunAgent(os.Args[1:]))
}
