package engineapi

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-org/shoal/apiserver"
)

// dockerCLIs are the real docker clients the tests drive: the machine's
// (28.x, API 1.50) and those SHOAL_DOCKER_CLI lists (colon-separated),
// e.g. Debian's docker.io 20.10 (API 1.41) unpacked with
// `apt-get download docker.io && dpkg -x`. Those absent are skipped.
func dockerCLIs() []string {
	bins := []string{"/usr/local/bin/docker"}
	if env := os.Getenv("SHOAL_DOCKER_CLI"); env != "" {
		bins = append(bins, strings.Split(env, ":")...)
	}
	return bins
}

// dockerEnv serves the Engine API over b on a unix socket and returns a
// function running the docker CLI bin against it.
func dockerEnv(t *testing.T, b *fakeBackend, bin string) func(args ...string) (string, error) {
	t.Helper()
	return dockerEnvFor(t, b, bin)
}

// dockerEnvFor is dockerEnv over any backend.
func dockerEnvFor(t *testing.T, b apiserver.Backend, bin string) func(args ...string) (string, error) {
	t.Helper()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no docker CLI at %s: %v", bin, err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: recordBodies(New(b).Handler(false), os.Getenv("SHOAL_RECORD_REQUESTS"))}
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

// TestDockerCLI drives the Engine API with the real docker CLI (28.x)
// and checks what it prints and what reached the backend.
func TestDockerCLI(t *testing.T) {
	for _, bin := range dockerCLIs() {
		t.Run(bin, func(t *testing.T) { testDockerCLI(t, bin) })
	}
}

func testDockerCLI(t *testing.T, bin string) {
	b := newFake()
	docker := dockerEnv(t, b, bin)
	steps := []struct {
		args    []string
		want    []string // substrings of the output
		wantErr bool
	}{
		{args: []string{"version", "--format", "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}}"}, want: []string{"0.1.0 " + MaxAPIVersion + " " + MinAPIVersion}},
		{args: []string{"info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}} {{.Swarm.Managers}}"}, want: []string{"active true 3 2"}},
		{args: []string{"info"}, want: []string{"Swarm: active", "Is Manager: true", "ClusterID: cluster1"}},
		{args: []string{"node", "ls"}, want: []string{"alpha      Ready     Active         Leader", "beta       Ready     Active         Reachable", "gamma"}},
		{args: []string{"node", "update", "--label-add", "env=test", "--availability", "drain", "gamma"}, want: []string{"gamma"}},
		{args: []string{"node", "inspect", "--format", "{{.Spec.Availability}} {{.Spec.Labels}}", "gamma"}, want: []string{"drain map[env:test]"}},
		{args: []string{"node", "promote", "gamma"}, wantErr: true, want: []string{"automatically"}},
		{args: []string{"service", "create", "--name", "web", "--replicas", "3", "reg:5000/web:v1"}, want: []string{"overall progress: 3 out of 3 tasks", "verify: Service", "converged"}},
		{args: []string{"service", "create", "--detach", "--name", "web", "reg:5000/web:v1"}, wantErr: true, want: []string{"already exists"}},
		{args: []string{"service", "create", "--detach", "--tty", "--name", "tty", "busybox"}, wantErr: true, want: []string{"TTY is not served by shoal"}},
		{args: []string{"service", "ls"}, want: []string{"web       replicated   3/3        reg:5000/web:v1"}},
		{args: []string{"service", "ps", "web"}, want: []string{"web.1", "web.2", "web.3", "Running"}},
		{args: []string{"service", "inspect", "--format", "{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}}", "svc1"}, want: []string{"web 3"}},
		{args: []string{"service", "logs", "web"}, want: []string{"web.1.task", "@beta    | hello from task", "    | tail=-1 follow=false"}},
		{args: []string{"service", "logs", "-t", "--since", "2024-12-04T21:00:00Z", "--tail", "3", "web"},
			want: []string{"2026-12-04T21:00:00.000000005Z web.1.task", "    | tail=3 follow=false since=2024-12-04T21:00:00Z"}},
		{args: []string{"service", "scale", "--detach", "web=5"}, want: []string{"web scaled to 5"}},
		{args: []string{"service", "update", "--detach", "--image", "reg:5000/web:v2", "web"}, want: []string{"web"}},
		{args: []string{"service", "ls", "--format", "{{.Name}} {{.Replicas}} {{.Image}}"}, want: []string{"web 5/5 reg:5000/web:v2"}},
		{args: []string{"service", "update", "--image", "reg:5000/web:broken", "web"}, wantErr: true, want: []string{"update paused due to failure or early termination of task"}},
		{args: []string{"service", "rollback", "--detach", "web"}, want: []string{"web"}},
		{args: []string{"service", "rm", "web"}, want: []string{"web"}},
		{args: []string{"service", "inspect", "web"}, wantErr: true, want: []string{"web"}},
		{args: []string{"network", "create", "--driver", "overlay", "--subnet", "10.99.0.0/24", "back"}, want: []string{"net2"}},
		{args: []string{"network", "create", "--driver", "bridge", "br"}, wantErr: true, want: []string{"overlay networks"}},
		{args: []string{"network", "ls"}, want: []string{"back      overlay   swarm", "shoal     overlay   swarm"}},
		{args: []string{"service", "create", "--detach", "--name", "api", "--network", "back", "busybox"}, want: []string{"yyyyyyyy"}},
		{args: []string{"service", "inspect", "--format", "{{range .Spec.TaskTemplate.Networks}}{{.Target}}{{end}}", "api"}, want: []string{"net2"}},
		{args: []string{"network", "rm", "back"}, want: []string{"back"}},
		{args: []string{"secret", "ls", "--quiet"}},
		{args: []string{"config", "ls", "--quiet"}},
		{args: []string{"stack", "ls"}, want: []string{"NAME"}},
		{args: []string{"ps"}, wantErr: true, want: []string{"not served by shoal: use `docker service create`"}},
		{args: []string{"run", "busybox"}, wantErr: true, want: []string{"not served by shoal: use `docker service create`"}},
		{args: []string{"swarm", "init"}, wantErr: true, want: []string{"agent init"}},
	}
	for _, st := range steps {
		out, err := docker(st.args...)
		cmd := "docker " + strings.Join(st.args, " ")
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: err = %v, want error %v\n%s", cmd, err, st.wantErr, out)
		}
		for _, w := range st.want {
			if !strings.Contains(out, w) {
				t.Fatalf("%s: output lacks %q:\n%s", cmd, w, out)
			}
		}
	}
	want := []string{"node update gamma drain +map[env:test] -[]", "create web", "update web replicas=5 image=reg:5000/web:v1@" + fakeDigest,
		"update web replicas=5 image=reg:5000/web:v2@" + fakeDigest, "update web replicas=5 image=reg:5000/web:broken@" + fakeDigest, "rollback web", "rm web",
		"network create back 10.99.0.0/24", "create api", "network rm back"}
	if got := b.writes(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("writes:\n%q\nwant\n%q", got, want)
	}
}

// recordBodies saves the body of every POST the CLI sends into dir (none
// if dir is ""), named by its path: how testdata/requests was made
// (SHOAL_RECORD_REQUESTS=DIR go test -run TestDockerCLI).
func recordBodies(h http.Handler, dir string) http.Handler {
	if dir == "" {
		return h
	}
	var mu sync.Mutex
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			mu.Lock()
			n++
			name := fmt.Sprintf("%02d%s.json", n, strings.ReplaceAll(r.URL.Path, "/", "_"))
			mu.Unlock()
			_ = os.WriteFile(filepath.Join(dir, name), body, 0o644)
		}
		h.ServeHTTP(w, r)
	})
}
