package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/cli"
	"github.com/shoal-org/shoal/doctor"
)

// TestDoctorCommand runs `agent doctor` on this machine with a containerd
// socket that does not exist: the report names it and the command fails.
func TestDoctorCommand(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "containerd.sock")
	var out bytes.Buffer
	cmd := &DoctorCmd{Containerd: missing, DataDir: dir, Bind: "127.0.0.1", Format: "json"}
	err := cmd.Run(&AgentCLI{APISocket: filepath.Join(dir, "agent.sock")}, &cli.Globals{Out: &out})
	if err == nil {
		t.Fatal("no containerd, yet agent doctor succeeded")
	}
	var r doctor.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("--format json: %v\n%s", err, out.String())
	}
	f, ok := r.Find("containerd")
	if !ok || f.Status != doctor.Fail || f.Fix == "" {
		t.Errorf("containerd finding %+v", f)
	}

	// The exit status, through the command line.
	stdout := os.Stdout
	os.Stdout, _ = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer func() { os.Stdout = stdout }()
	if rc := RunAgent([]string{"doctor", "--containerd", missing, "--bind", "127.0.0.1", "--data-dir", dir,
		"--api-socket", filepath.Join(dir, "agent.sock")}); rc != 1 {
		t.Errorf("agent doctor without containerd exited %d, want 1", rc)
	}
}

// TestDoctorPortDefaults keeps the defaults the help names in step with
// the api constants that doctor.Run applies to zero ports.
func TestDoctorPortDefaults(t *testing.T) {
	typ := reflect.TypeOf(DoctorCmd{})
	for field, port := range map[string]int{"GossipPort": api.DefaultGossipPort, "RaftPort": api.DefaultRaftPort, "APIPort": api.DefaultAPIPort} {
		f, _ := typ.FieldByName(field)
		if want := fmt.Sprintf("(default %d)", port); !strings.Contains(f.Tag.Get("help"), want) {
			t.Errorf("%s help %q does not say %s", field, f.Tag.Get("help"), want)
		}
	}
}
