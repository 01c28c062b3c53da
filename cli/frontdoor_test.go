package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api"
)

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
	}
	for _, tt := range tests {
		err := parseOnly(&AgentCLI{}, "agent", tt.args)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("agent %q: %v", tt.args, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("agent %q: %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// TestHostFlagErrors: a bad --host names the flag and what to write.
func TestHostFlagErrors(t *testing.T) {
	for host, want := range map[string]string{
		"10.0.0.1:7948": "--host (or SHOAL_HOST) \"10.0.0.1:7948\": no scheme: write tcp://10.0.0.1:7948",
		"tcp://h:x":     `port "x" is not a number`,
		"tcp://h":       "--tlscacert",
	} {
		_, err := (&CtlCLI{Host: host}).client()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--host %q: %v, want %q", host, err, want)
		}
	}
	_, err := (&CtlCLI{Host: "tcp://h", TLSCACert: "/nonexistent/ca.pem"}).client()
	if err == nil || !strings.Contains(err.Error(), "--tlscert is missing") {
		t.Errorf("only --tlscacert: %v", err)
	}
}

// TestTemplateErrors: a --format naming a field that does not exist lists
// the fields there are, not Go's internal type name.
func TestTemplateErrors(t *testing.T) {
	var out bytes.Buffer
	err := printTemplate(&out, "{{.Nope}}", []api.Info{{Name: "n1"}})
	if err == nil || !strings.Contains(err.Error(), "no field .Nope") || !strings.Contains(err.Error(), ".Name") ||
		strings.Contains(err.Error(), "api.Info") {
		t.Errorf("unknown field: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q before failing", out.String())
	}
	err = printTemplate(&out, "{{.Name", []api.Info{{Name: "n1"}})
	if err == nil || !strings.Contains(err.Error(), "not a valid Go template") || !strings.Contains(err.Error(), ".APIPort") {
		t.Errorf("bad syntax: %v", err)
	}
	if err := printTemplate(&out, "{{.Name}}", []api.Info{{Name: "n1"}}); err != nil || out.String() != "n1\n" {
		t.Errorf("good template: %q, %v", out.String(), err)
	}
}
