package testimages

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// extractWeb copies /web out of img's layer, so the tests run the very
// binary the image ships.
func extractWeb(t *testing.T, img Image) string {
	t.Helper()
	l := readLayout(t, img.Path)
	var m ocispec.Manifest
	mustJSON(t, l.blob(t, l.index.Manifests[0]), &m)
	zr, err := gzip.NewReader(bytes.NewReader(l.blob(t, m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("no /web in layer")
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name != "web" {
			continue
		}
		path := filepath.Join(t.TempDir(), "web")
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
}

// startWeb runs the binary on a kernel-chosen loopback port and returns its
// base URL and the running command.
func startWeb(t *testing.T, bin string, env ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read start line: %v", err)
	}
	// "web v2 listening on 127.0.0.1:PORT (unhealthy=false)"
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[2] != "listening" {
		t.Fatalf("unexpected start line %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return "http://" + fields[4], cmd
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestWebServes(t *testing.T) {
	bin := extractWeb(t, images(t)[1]) // web:v2
	base, cmd := startWeb(t, bin, "WEB_MODE=serve", "SHOAL_TASK_ID=task-42")
	code, body := get(t, base+"/")
	if code != 200 || !strings.HasSuffix(body, "\n") || strings.Count(body, "\n") != 1 {
		t.Fatalf("GET / = %d %q, want 200 and one line", code, body)
	}
	var a struct{ Version, Hostname, Task string }
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("GET / body %q: %v", body, err)
	}
	host, _ := os.Hostname()
	if a.Version != "v2" || a.Task != "task-42" || a.Hostname != host {
		t.Fatalf("GET / = %+v", a)
	}
	if code, _ := get(t, base+"/health"); code != 200 {
		t.Fatalf("GET /health = %d", code)
	}
	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Fatalf("GET /nope = %d, want 404", code)
	}
	if err := exec.Command(bin, "-check", base+"/health").Run(); err != nil {
		t.Fatalf("-check on a healthy server: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
}

func TestWebUnhealthyAndCrash(t *testing.T) {
	bin := extractWeb(t, images(t)[0])
	base, _ := startWeb(t, bin, "WEB_MODE=unhealthy")
	if code, _ := get(t, base+"/"); code != 200 {
		t.Fatalf("unhealthy GET / = %d, want 200", code)
	}
	if code, _ := get(t, base+"/health"); code != 500 {
		t.Fatalf("unhealthy GET /health = %d, want 500", code)
	}
	if code := exitCode(exec.Command(bin, "-check", base+"/health").Run()); code != 1 {
		t.Fatalf("-check on unhealthy server exited %d, want 1", code)
	}
	if code := exitCode(exec.Command(bin, "-check", "http://127.0.0.1:1/health").Run()); code != 1 {
		t.Fatalf("-check on a closed port exited %d, want 1", code)
	}
	crash := exec.Command(bin)
	crash.Env = append(os.Environ(), "WEB_MODE=crash")
	var stderr bytes.Buffer
	crash.Stderr = &stderr
	done := make(chan error, 1)
	if err := crash.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- crash.Wait() }()
	select {
	case err := <-done:
		if exitCode(err) != 1 || !strings.Contains(stderr.String(), "crash mode") {
			t.Fatalf("crash mode: exit %d, stderr %q", exitCode(err), stderr.String())
		}
	case <-time.After(time.Minute):
		_ = crash.Process.Kill()
		<-done
		t.Fatal("crash mode did not exit")
	}
}
