// Command agent is the shoal daemon and its local administration commands.
package main

import (
	"os"

	"github.com/shoal-org/shoal/cli"
)

func main() { os.Exit(cli.RunAgent(os.Args[1:])) }
