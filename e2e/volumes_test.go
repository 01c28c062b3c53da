//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
)

// TestVolumes runs a service with a named volume, an anonymous volume and
// a tmpfs on n2 (and a hostname template, a hosts line and DNS settings,
// checked from inside the task), and walks the volume commands: what the task writes to
// the named volume outlives its replacement and the service; the
// anonymous volume and the tmpfs go with the task; `volume ls` from
// another node lists n2's volumes with the task that uses them; `volume
// rm` is refused while a task uses the volume (changing nothing) and works
// once none does; `docker volume ls` on n2 lists n2's own.
func TestVolumes(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "db", "--constraint", "node.hostname==n2",
		"--mount", "source=keep,target=/data", "--mount", "type=volume,target=/anon",
		"--mount", "type=tmpfs,target=/cache,tmpfs-size=1m",
		"--hostname", "{{.Service.Name}}-{{.Task.Slot}}.{{.Node.Hostname}}", "--add-host", "db.local:10.0.0.5",
		"--dns", "10.77.0.254", "--dns-search", "example.com", img["web:v1"])
	t1 := waitRunning(t, l, "db", 1, "n2=1", 60*time.Second)[0]
	root := taskRoot(t, l, "n2", t1.ID)
	checkNames(t, l, root, t1)
	for _, f := range []string{"data/saved", "anon/x", "cache/y"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("v1"), 0o644); err != nil {
			t.Fatalf("write /%s in the task: %v", f, err)
		}
	}
	cache := mountLine(t, root, "/cache")
	if !strings.Contains(cache, " - tmpfs ") || !strings.Contains(cache, "size=1024k") {
		t.Errorf("/cache in the task: %q, want a tmpfs of 1024k", cache)
	}
	anon1 := t1.ID + "-1"
	if got := volumeLs(t, l, "n1"); got != fmt.Sprintf("keep n2 db.1.%s\n%s n2 db.1.%s\n", t1.ID, anon1, t1.ID) &&
		got != fmt.Sprintf("%s n2 db.1.%s\nkeep n2 db.1.%s\n", anon1, t1.ID, t1.ID) {
		t.Errorf("volume ls on n1:\n%s", got)
	}

	out, err := l.Agentctl(context.Background(), "n3", "volume", "rm", "keep")
	if err == nil || !strings.Contains(err.Error(), "volume keep is in use by db.1."+t1.ID+" on n2") {
		t.Errorf("volume rm of a volume in use: %q %v", out, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "data/saved")); err != nil || string(b) != "v1" {
		t.Fatalf("the refused rm touched the volume: %q %v", b, err)
	}

	agentctl(t, l, "n1", "service", "update", "--detach", "--force", "db")
	var t2 api.Task
	waitUntil(t, 60*time.Second, "a new db task running", func() (bool, string) {
		rs := running(serviceTasks(t, l, "n1", "db"))
		if len(rs) == 1 && rs[0].ID != t1.ID {
			t2 = rs[0]
			return true, ""
		}
		return false, perNode(rs)
	})
	root = taskRoot(t, l, "n2", t2.ID)
	if b, err := os.ReadFile(filepath.Join(root, "data/saved")); err != nil || string(b) != "v1" {
		t.Errorf("/data/saved after the task's replacement: %q %v, want v1 (the named volume is kept)", b, err)
	}
	for _, f := range []string{"anon/x", "cache/y"} {
		if _, err := os.Stat(filepath.Join(root, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/%s in the new task: %v, want it absent (the old task's own)", f, err)
		}
	}
	waitUntil(t, 30*time.Second, "the old task's anonymous volume gone with its container", func() (bool, string) {
		got := volumeLs(t, l, "n3")
		return !strings.Contains(got, anon1), got
	})

	agentctl(t, l, "n1", "service", "rm", "db")
	waitUntil(t, 30*time.Second, "only keep left, unused", func() (bool, string) {
		got := volumeLs(t, l, "n1")
		return got == "keep n2 \n", got
	})
	if out, err := dockerOn(l, "n2", "volume", "ls", "--format", "{{.Driver}} {{.Name}}"); err != nil || out != "local keep\n" {
		t.Errorf("docker volume ls on n2: %v\n%s", err, out)
	}
	if out, err := dockerOn(l, "n1", "volume", "ls", "-q"); err != nil || out != "" {
		t.Errorf("docker volume ls on n1 (which has none): %v\n%s", err, out)
	}
	if got := agentctl(t, l, "n3", "volume", "rm", "keep"); got != "keep (n2)\n" {
		t.Errorf("volume rm keep printed %q", got)
	}
	if got := volumeLs(t, l, "n1"); got != "" {
		t.Errorf("volume ls after rm: %q", got)
	}
	out, err = l.Agentctl(context.Background(), "n1", "volume", "rm", "keep")
	if err == nil || !strings.Contains(err.Error(), "no volume keep on any node") {
		t.Errorf("volume rm of a removed volume: %q %v", out, err)
	}
}

// volumeLs is `volume ls` on node as NAME NODE USEDBY lines.
func volumeLs(t *testing.T, l *lab.Lab, node string) string {
	t.Helper()
	return agentctl(t, l, node, "volume", "ls", "--format", "{{.Name}} {{.Node}} {{.UsedBy}}")
}

// mountLine is the mountinfo line of target in the task whose root is
// root (/proc/PID/root).
func mountLine(t *testing.T, root, target string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(root), "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == target {
			return line
		}
	}
	return ""
}

// checkNames checks task tk's hostname (its UTS namespace and /etc/hosts)
// and resolv.conf, as TestVolumes's service asks for them.
func checkNames(t *testing.T, l *lab.Lab, root string, tk api.Task) {
	t.Helper()
	pid := filepath.Base(filepath.Dir(root))
	out, stderr, err := l.Exec(context.Background(), tk.NodeHostname, "nsenter", "-t", pid, "-u", "hostname")
	if want := "db-1.n2\n"; err != nil || out != want {
		t.Errorf("hostname in the task: %q %v %s, want %q", out, err, stderr, want)
	}
	hosts, _ := os.ReadFile(filepath.Join(root, "etc/hosts"))
	if !strings.Contains(string(hosts), tk.Addresses["shoal"]+"\tdb-1.n2\n") || !strings.Contains(string(hosts), "10.0.0.5\tdb.local\n") {
		t.Errorf("/etc/hosts in the task:\n%s", hosts)
	}
	resolv, _ := os.ReadFile(filepath.Join(root, "etc/resolv.conf"))
	lines := strings.Split(strings.TrimSpace(string(resolv)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "nameserver 10.240.") || lines[1] != "nameserver 10.77.0.254" ||
		lines[2] != "search example.com" || lines[3] != "options ndots:0" {
		t.Errorf("/etc/resolv.conf in the task:\n%s", resolv)
	}
}
