package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api"
)

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
