// Command lab turns this Linux machine into a lab of shoal nodes for
// end-to-end tests, benchmarks and the demo. See package lab.
package main

import (
	"os"

	"github.com/shoal-org/shoal/e2e/lab"
)

func main() {
	os.Exit(lab.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
