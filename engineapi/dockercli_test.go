package engineapi

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerCLI is the real docker client this test drives; the test skips
// without it.
const dockerCLI = "/usr/local/bin/docker"

// dockerEnv serves the Engine API over b on a unix socket and returns a
// function running the real docker CLI against it.
func dockerEnv(t *testing.T, b *fakeBackend) func(args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("SHOAL_DOCKER_CLI")
	if bin == "" {
		bin = dockerCLI
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no docker CLI at %s (set SHOAL_DOCKER_CLI): %v", bin, err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: New(b).Handler(false)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(dir, "config"), "HOME=" + dir, "PATH=/usr/bin:/bin"}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
}

func TestDockerCLISmoke(t *testing.T) {
	b := newFake()
	docker := dockerEnv(t, b)
	for _, args := range [][]string{
		{"version"}, {"info"}, {"node", "ls"}, {"node", "inspect", "--pretty", "beta"},
		{"service", "create", "--detach", "--name", "web", "--replicas", "3", "reg:5000/web:v1"},
		{"service", "ls"}, {"service", "ps", "web"}, {"service", "inspect", "--pretty", "web"},
		{"service", "scale", "--detach", "web=5"},
		{"service", "update", "--detach", "--image", "reg:5000/web:v2", "web"},
		{"service", "ls"}, {"service", "ps", "web"},
		{"service", "rm", "web"}, {"ps"}, {"run", "busybox"},
	} {
		out, err := docker(args...)
		t.Logf("docker %s: err=%v\n%s", strings.Join(args, " "), err, out)
	}
	t.Log(b.writes())
}
