package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// parseOnly parses args with the real command tree of grammar (a fresh
// *CtlCLI) without running anything: help and errors go
// nowhere, and kong's exit is turned into a return.
func parseOnly(grammar any, name string, args []string) error {
	k, err := kong.New(grammar, kong.Name(name), kong.Writers(io.Discard, io.Discard), kong.Exit(func(int) {}))
	if err != nil {
		return err
	}
	_, err = k.Parse(args)
	return err
}

// FuzzParseArgs parses argument vectors (one argument per line of the
// input) with agentctl's command tree. Parsing, the flags'
// own decoders and the commands' Validate hooks must never panic.
func FuzzParseArgs(f *testing.F) {
	for _, seed := range []string{
		"service\ncreate\n--name\nweb\n--replicas\n3\n--publish\n8080:80\nreg/web:v1",
		"service\nupdate\n--image\nreg/web:v2\n--update-delay\n10s\nweb",
		"service\nscale\nweb=6",
		"node\nupdate\n--label-add\nenv=prod\nn1",
		"network\ncreate\n--subnet\n10.250.0.0/16\nback",
		"service\nls\n--format\n{{.Name}}",
		"run\n--bind\n999.1.1.1\n--voter-grace\n-1s",
		"run\n--gossip-port\n7948\n--api-port\n7948",
		"join\n--token\nSHOALTKN-1-x-y\n10.0.0.1:7946",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		args := strings.Split(in, "\n")
		_ = parseOnly(&CtlCLI{}, "agentctl", args)
	})
}
