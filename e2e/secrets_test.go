//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-org/shoal/e2e/lab"
)

// TestSecrets walks issue 16's secrets and configs: a secret created from
// stdin and a config from a file reach a task as files with their modes
// and owners, the secret's plaintext is in no inspect output, no agent's
// data dir, log or containerd root, and on no node that runs no task
// using it; a used secret cannot be removed; changing a service's secrets
// replaces its task; and the docker CLI creates and lists both.
func TestSecrets(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3})
	img := pushImages(t, l)
	payload := "pw-" + randomHex(t)
	createFromStdin(t, l, "n2", "secret", "db-pass", payload)
	conf := filepath.Join(t.TempDir(), "app.conf")
	if err := os.WriteFile(conf, []byte("listen 8080\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	agentctl(t, l, "n1", "config", "create", "app.conf", conf)

	agentctlErr(t, l, "n1", `secret "nope" not found`, "service", "create", "--detach", "--name", "bad",
		"--secret", "nope", img["web:v1"])
	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "web", "--constraint", "node.hostname==n3",
		"--secret", "db-pass", "--secret", "source=db-pass,target=/etc/pw,uid=1000,gid=1001,mode=0400",
		"--config", "source=app.conf,target=/etc/app.conf", img["web:v1"])
	ts := waitRunning(t, l, "web", 1, "n3=1", 60*time.Second)
	taskID := ts[0].ID

	t.Run("files in the task", func(t *testing.T) {
		root := taskRoot(t, l, "n3", taskID)
		checkFile(t, root, "/run/secrets/db-pass", payload, 0o444, 0, 0)
		checkFile(t, root, "/etc/pw", payload, 0o400, 1000, 1001)
		checkFile(t, root, "/etc/app.conf", "listen 8080\n", 0o444, 0, 0)
		if err := os.WriteFile(filepath.Join(root, "run/secrets/db-pass"), []byte("x"), 0o644); err == nil {
			t.Error("the secret file is writable in the task")
		}
	})

	t.Run("plaintext nowhere else", func(t *testing.T) { plaintextNowhereElse(t, l, payload) })

	t.Run("a used secret cannot be removed", func(t *testing.T) {
		agentctlErr(t, l, "n2", `secret "db-pass" is in use by service "web"`, "secret", "rm", "db-pass")
		agentctlErr(t, l, "n2", `config "app.conf" is in use by service "web"`, "config", "rm", "app.conf")
		agentctl(t, l, "n1", "secret", "inspect", "db-pass")
	})

	t.Run("changing the secrets replaces the task", func(t *testing.T) {
		createFromStdin(t, l, "n1", "secret", "db-pass-2", payload+"-2")
		agentctl(t, l, "n1", "service", "update", "--detach", "--secret-rm", "db-pass", "--secret-add", "db-pass-2", "web")
		waitUntil(t, 60*time.Second, "a new task with the new secret", func() (bool, string) {
			run := running(serviceTasks(t, l, "n1", "web"))
			return len(run) == 1 && run[0].ID != taskID, perNode(run)
		})
		next := running(serviceTasks(t, l, "n1", "web"))[0]
		root := taskRoot(t, l, "n3", next.ID)
		checkFile(t, root, "/run/secrets/db-pass-2", payload+"-2", 0o444, 0, 0)
		waitUntil(t, 30*time.Second, "the old task's files removed", func() (bool, string) {
			_, err := os.Stat(filepath.Join(secretsDir(mustNode(t, l, "n3")), taskID))
			return os.IsNotExist(err), errString(err)
		})
		agentctl(t, l, "n1", "secret", "rm", "db-pass") // no longer used
	})

	t.Run("a new leader rotates the key and hands out the secrets", func(t *testing.T) { newLeaderDelivers(t, l, payload) })

	t.Run("docker secret and config", func(t *testing.T) {
		if _, err := exec.LookPath("docker"); err != nil {
			t.Skip("no docker CLI on PATH: " + err.Error())
		}
		dockerSecrets(t, l, img["web:v1"])
	})

	t.Run("removable once the service is gone", func(t *testing.T) {
		agentctl(t, l, "n1", "service", "rm", "web")
		agentctl(t, l, "n2", "secret", "rm", "db-pass-2")
		agentctl(t, l, "n2", "config", "rm", "app.conf")
		if out := agentctl(t, l, "n3", "secret", "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("secret ls after rm:\n%s", out)
		}
	})
}

// dockerSecrets creates a secret and a config with the docker CLI, runs a
// service using both with `docker service create`, and checks the task's
// files, that docker shows no payload, and that a used secret stays.
func dockerSecrets(t *testing.T, l *lab.Lab, image string) {
	d := dockerLab{t: t, l: l}
	payload := "docker-pw-" + randomHex(t)
	dir := t.TempDir()
	secretFile, confFile := filepath.Join(dir, "pw"), filepath.Join(dir, "d.conf")
	if err := errors.Join(os.WriteFile(secretFile, []byte(payload), 0o600), os.WriteFile(confFile, []byte("d=1\n"), 0o644)); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(d.run("n2", "secret", "create", "--label", "team=a", "dsec", secretFile))
	d.run("n1", "config", "create", "dconf", confFile)
	d.want(d.run("n3", "secret", "ls"), id[:12], "dsec")
	d.want(d.run("n3", "config", "ls"), "dconf")
	d.want(d.run("n1", "secret", "ls", "--filter", "label=team=a", "--format", "{{.Name}}"), "dsec")
	d.run("n1", "service", "create", "--detach", "--name", "dweb", "--constraint", "node.hostname==n2",
		"--secret", "dsec", "--config", "source=dconf,target=/etc/d.conf,mode=0440", image)
	ts := waitRunning(t, l, "dweb", 1, "n2=1", 60*time.Second)
	root := taskRoot(t, l, "n2", ts[0].ID)
	checkFile(t, root, "/run/secrets/dsec", payload, 0o444, 0, 0)
	checkFile(t, root, "/etc/d.conf", "d=1\n", 0o440, 0, 0)
	for _, args := range [][]string{{"secret", "inspect", "dsec"}, {"service", "inspect", "dweb"}} {
		out := d.run("n3", args...)
		if strings.Contains(out, payload) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(payload))) {
			t.Errorf("docker %s shows the payload:\n%s", strings.Join(args, " "), out)
		}
	}
	d.want(d.run("n3", "service", "inspect", "dweb"), `"SecretName": "dsec"`, `"SecretID": "`+id)
	if out, err := dockerOn(l, "n1", "secret", "rm", "dsec"); err == nil || !strings.Contains(out, `in use by service "dweb"`) {
		t.Errorf("docker secret rm of a used secret: %v\n%s", err, out)
	}
	for _, n := range l.Nodes() {
		if hit := findBytes(t, n.DataDir, []byte(payload)); hit != "" {
			t.Errorf("%s: the payload is in plaintext in %s", n.Name, hit)
		}
	}
	d.run("n1", "service", "rm", "dweb")
	d.run("n1", "secret", "rm", "dsec")
	d.run("n1", "config", "rm", "dconf")
}

// leaderSeenBy is the leader node's `agentctl info` names, "" while it
// sees none it can reach.
func leaderSeenBy(l *lab.Lab, node string) string {
	out, err := l.Agentctl(context.Background(), node, "info")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Leader:" {
			return f[1]
		}
	}
	return ""
}

// plaintextNowhereElse checks that payload is in no inspect or list
// output, no agent's data dir, containerd root or log, and in the files of
// no node but n3, which runs the task.
func plaintextNowhereElse(t *testing.T, l *lab.Lab, payload string) {
	for _, args := range [][]string{
		{"secret", "inspect", "db-pass"}, {"secret", "inspect", "--pretty", "db-pass"}, {"secret", "ls"},
		{"service", "inspect", "web"}, {"service", "ps", "web"},
	} {
		if out := agentctl(t, l, "n1", args...); strings.Contains(out, payload) {
			t.Errorf("agentctl %s shows the payload:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := agentctl(t, l, "n1", "config", "inspect", "--pretty", "app.conf"); !strings.Contains(out, "listen 8080") {
		t.Errorf("config inspect --pretty does not show the config's data:\n%s", out)
	}
	for _, n := range l.Nodes() {
		for _, dir := range []string{n.DataDir, n.ContainerdRoot, n.AgentLog} {
			if hit := findBytes(t, dir, []byte(payload)); hit != "" {
				t.Errorf("%s: the payload is in plaintext in %s", n.Name, hit)
			}
		}
		files := filesUnder(t, secretsDir(n))
		if n.Name != "n3" && len(files) > 0 {
			t.Errorf("%s runs no task using the secret but holds %v", n.Name, files)
		}
	}
	n3 := secretsDir(mustNode(t, l, "n3"))
	if files := filesUnder(t, n3); len(files) != 3 {
		t.Errorf("n3 holds %v, want the task's 3 files", files)
	}
	// The search itself finds the payload where it is meant to be.
	if findBytes(t, n3, []byte(payload)) == "" {
		t.Errorf("the payload is not found even in n3's in-memory files: the search is broken")
	}
}

// newLeaderDelivers stops the leader, has the new one rotate the data key,
// and checks that a task started then gets the secret sealed again.
func newLeaderDelivers(t *testing.T, l *lab.Lab, payload string) {
	old := leaderOf(nodeLs(t, l, "n2"))
	if old == "n3" || old == "" {
		t.Skipf("the leader is %q: this check stops the leader and needs it away from the task's node n3", old)
	}
	if err := l.Stop(old); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Start(old); err != nil {
			t.Fatalf("restart %s: %v", old, err)
		}
		waitUntil(t, 60*time.Second, old+" back with a leader", func() (bool, string) {
			lead := leaderSeenBy(l, old)
			return lead != "", lead
		})
	}()
	waitUntil(t, 60*time.Second, "a new leader", func() (bool, string) {
		lead := leaderSeenBy(l, "n3")
		return lead != "" && lead != old, lead
	})
	// The new leader rotates the data key (the stopped voter's copy
	// goes), then delivers the secret sealed again.
	if out := agentctl(t, l, "n3", "secret", "rotate-key"); !strings.Contains(out, "secrets sealed again: 1; wrapped for voters: 2") {
		t.Errorf("rotate-key: %s", out)
	}
	prev := running(serviceTasks(t, l, "n3", "web"))[0].ID
	agentctl(t, l, "n3", "service", "update", "--detach", "--force", "web")
	waitUntil(t, 60*time.Second, "a task started under the new leader", func() (bool, string) {
		run := running(serviceTasks(t, l, "n3", "web"))
		return len(run) == 1 && run[0].ID != prev, perNode(run) + " " + taskErrors(serviceTasks(t, l, "n3", "web"))
	})
	next := running(serviceTasks(t, l, "n3", "web"))[0]
	checkFile(t, taskRoot(t, l, "n3", next.ID), "/run/secrets/db-pass-2", payload+"-2", 0o444, 0, 0)
}

func randomHex(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// createFromStdin runs `agentctl KIND create NAME -` on node with data on
// stdin.
func createFromStdin(t *testing.T, l *lab.Lab, node, kind, name, data string) {
	t.Helper()
	cmd, err := l.Command(context.Background(), node, filepath.Join(l.Bin(), "agentctl"), kind, "create", name, "-")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s create %s: %v\n%s", kind, name, err, out)
	}
}

func mustNode(t *testing.T, l *lab.Lab, name string) lab.Node {
	t.Helper()
	n, err := l.Node(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// secretsDir is where node's agent keeps its tasks' files (the agent's
// default: beside its API socket).
func secretsDir(n lab.Node) string { return filepath.Join(filepath.Dir(n.AgentSock), "secrets") }

// taskRoot is the root filesystem of task id's container as its process
// sees it (/proc/PID/root).
func taskRoot(t *testing.T, l *lab.Lab, node, id string) string {
	t.Helper()
	out, stderr, err := l.Exec(context.Background(), node, "ctr", "-n", "shoal", "task", "ls")
	if err != nil {
		t.Fatalf("ctr task ls on %s: %v: %s", node, err, stderr)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			if _, err := strconv.Atoi(f[1]); err != nil {
				t.Fatalf("ctr task ls: PID %q of %s", f[1], id)
			}
			return "/proc/" + f[1] + "/root"
		}
	}
	t.Fatalf("task %s has no container on %s:\n%s", id, node, out)
	return ""
}

// checkFile checks a file in a task's root: content, mode and owner.
func checkFile(t *testing.T, root, path, want string, mode fs.FileMode, uid, gid uint32) {
	t.Helper()
	full := filepath.Join(root, path)
	b, err := os.ReadFile(full)
	if err != nil {
		t.Errorf("read %s in the task: %v", path, err)
		return
	}
	if string(b) != want {
		t.Errorf("%s in the task = %q, want %q", path, b, want)
	}
	fi, err := os.Stat(full)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != mode || st.Uid != uid || st.Gid != gid {
		t.Errorf("%s in the task: mode %#o owner %d:%d, want %#o %d:%d", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// findBytes returns the first regular file under root (or root itself)
// that contains needle, "" if none.
func findBytes(t *testing.T, root string, needle []byte) string {
	t.Helper()
	var hit string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || hit != "" || !d.Type().IsRegular() {
			return nil // a file that vanished while walking
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, needle) {
			hit = p
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return hit
}

// filesUnder lists the regular files under dir (none if it does not exist).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}
