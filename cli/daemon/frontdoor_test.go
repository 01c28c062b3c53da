package daemon

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// parseAgent parses args with the real `agent` command tree without
// running anything (kong's exit turned into a return), so Validate hooks
// run as they do before the daemon starts.
func parseAgent(args []string) error {
	k, err := kong.New(&AgentCLI{}, kong.Name("agent"), kong.Writers(io.Discard, io.Discard), kong.Exit(func(int) {}))
	if err != nil {
		return err
	}
	_, err = k.Parse(args)
	return err
}

// TestAgentRunFlags: bad `agent run` flags are refused at parse time (so
// before the daemon starts or writes anything), naming the flag.
func TestAgentRunFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // "" for accepted
	}{
		{[]string{"run"}, ""},
		{[]string{"run", "--bind", "10.0.0.1", "--advertise", "10.0.0.1", "--api-port", "8000"}, ""},
		{[]string{"run", "--bind", "999.1.1.1"}, `--bind "999.1.1.1" is not an IP address`},
		{[]string{"run", "--bind", "example.com"}, `--bind "example.com"`},
		{[]string{"run", "--advertise", "banana"}, `--advertise "banana"`},
		{[]string{"run", "--advertise", "0.0.0.0"}, `--advertise "0.0.0.0"`},
		{[]string{"run", "--voter-grace=-1s"}, "--voter-grace -1s is negative"},
		{[]string{"run", "--stop-drain=-2s"}, "--stop-drain -2s is negative"},
		{[]string{"run", "--api-port", "0"}, "--api-port 0"},
		{[]string{"run", "--raft-port", "99999"}, "--raft-port 99999"},
		{[]string{"run", "--gossip-port=-1"}, "--gossip-port -1"},
		{[]string{"run", "--api-port", "7946"}, "--api-port 7946 is also --gossip-port"},
		{[]string{"run", "--raft-port", "7948"}, "--api-port 7948 is also --raft-port"},
		{[]string{"run", "--docker-tcp", ":2376"}, ""},
		{[]string{"run", "--docker-tcp", "10.0.0.1:2376"}, ""},
		{[]string{"run", "--docker-tcp", "2376"}, `--docker-tcp "2376": give HOST:PORT or :PORT`},
		{[]string{"run", "--docker-tcp", "host.example:2376"}, "the host must be an IP address"},
		{[]string{"run", "--docker-tcp", ":7948"}, "port 7948 is also --api-port"},
	}
	for _, tt := range tests {
		err := parseAgent(tt.args)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("agent %q: %v", tt.args, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("agent %q: %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// FuzzParseAgentArgs parses argument vectors (one argument per line) with
// the agent's command tree: parsing, the flags' decoders and Validate must
// never panic.
func FuzzParseAgentArgs(f *testing.F) {
	for _, seed := range []string{
		"run\n--bind\n999.1.1.1\n--voter-grace\n-1s",
		"run\n--gossip-port\n7948\n--api-port\n7948",
		"join\n--token\nSHOALTKN-1-x-y\n10.0.0.1:7946",
		"recover\n--advertise\n10.0.0.1\n--survivor\nx@y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) { _ = parseAgent(strings.Split(in, "\n")) })
}

// TestGossipProfileTimesRaft: --gossip-profile sets raft's timing with
// gossip's, so a slow host gets a longer leader lease as well as slower
// failure detection.
func TestGossipProfileTimesRaft(t *testing.T) {
	for profile, hb := range map[string]time.Duration{"fast": time.Second, "lan": 2 * time.Second, "slow": 5 * time.Second} {
		r := RunCmd{GossipProfile: profile}
		if got := r.config().RaftTiming.HeartbeatTimeout; got != hb {
			t.Errorf("--gossip-profile %s: raft heartbeat %v, want %v", profile, got, hb)
		}
	}
}
