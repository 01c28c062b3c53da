// Command agentctl controls a shoal cluster through any of its agents.
package main

import (
	"os"

	"github.com/shoal-org/shoal/cli"
)

func main() { os.Exit(cli.RunCtl(os.Args[1:])) }
