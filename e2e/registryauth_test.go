//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
)

// TestRegistryAuth runs images from a registry that asks for an account:
// without one the tasks are rejected with the fix in their error; `docker
// login` against an agent checks the account with the registry; `docker
// service create --with-registry-auth` and agentctl's own flag hand the
// stored login to the service, whose tasks then pull on every node; the
// password shows in no inspect output and in no agent's files, and a key
// rotation keeps it usable (a later image pulls with it).
func TestRegistryAuth(t *testing.T) {
	l := upLab(t, lab.Options{Nodes: 3})
	ctx := context.Background()
	refs, err := l.StartPrivateRegistry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	private := map[string]string{}
	for _, r := range refs {
		private[r[strings.LastIndex(r, "/")+1:]] = r
	}
	password := lab.PrivateRegistryUser.Password

	agentctl(t, l, "n1", "service", "create", "--detach", "--name", "anon", private["web:v1"])
	waitUntil(t, 60*time.Second, "anon's task rejected, saying how to log in", func() (bool, string) {
		errs := taskErrors(serviceTasks(t, l, "n1", "anon"))
		return strings.Contains(errs, "asks for an account: log in to it (docker login "+lab.PrivateRegistryAddr()+")"), errs
	})
	agentctl(t, l, "n1", "service", "rm", "anon")

	cfg := t.TempDir()
	docker := func(node string, args ...string) (string, error) {
		c, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd, err := l.Command(c, node, append([]string{"docker"}, args...)...)
		if err != nil {
			return "", err
		}
		cmd.Env = append(cmd.Env, "DOCKER_CONFIG="+cfg)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := docker("n2", "login", "-u", "deploy", "-p", "wrong", lab.PrivateRegistryAddr()); err == nil || !strings.Contains(out, "incorrect username or password") {
		t.Fatalf("docker login with a wrong password: %v\n%s", err, out)
	}
	if out, err := docker("n2", "login", "-u", "deploy", "-p", password, lab.PrivateRegistryAddr()); err != nil || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login: %v\n%s", err, out)
	}
	if out, err := docker("n2", "service", "create", "--detach", "--with-registry-auth", "--name", "private", "--replicas", "3",
		"--placement-pref", "spread=node.id", private["web:v1"]); err != nil {
		t.Fatalf("docker service create --with-registry-auth: %v\n%s", err, out)
	}
	waitRunning(t, l, "private", 3, "n1=1 n2=1 n3=1", 90*time.Second)

	cmd, err := l.Command(ctx, "n3", "agentctl", "service", "create", "--detach", "--with-registry-auth", "--name", "private2",
		"--constraint", "node.hostname==n3", private["web:v2"])
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(cmd.Env, "DOCKER_CONFIG="+cfg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("agentctl service create --with-registry-auth: %v\n%s", err, out)
	}
	waitRunning(t, l, "private2", 1, "n3=1", 60*time.Second)

	var svc api.Service
	apiGet(t, l, "n1", "/v1/services/private", &svc)
	if !svc.WithRegistryAuth {
		t.Errorf("service inspect does not say private pulls with an account: %+v", svc)
	}
	for _, out := range []string{agentctl(t, l, "n1", "service", "inspect", "private")} {
		if strings.Contains(out, password) || strings.Contains(out, "Ciphertext") {
			t.Errorf("service inspect shows the account:\n%s", out)
		}
	}
	if out, err := docker("n1", "service", "inspect", "private"); err != nil || strings.Contains(out, password) {
		t.Errorf("docker service inspect: %v, or it shows the password:\n%s", err, out)
	}
	for _, n := range l.Nodes() {
		if hit := findBytes(t, n.DataDir, []byte(password)); hit != "" {
			t.Errorf("the registry password is in plaintext in %s", hit)
		}
		if hit := findBytes(t, n.AgentLog, []byte(password)); hit != "" {
			t.Errorf("the registry password is in %s", hit)
		}
	}

	// After a key rotation the account still opens: v3, on no node yet,
	// is pulled with it everywhere.
	agentctl(t, l, "n1", "secret", "rotate-key")
	agentctl(t, l, "n2", "service", "update", "--detach", "--image", private["web:v3"], "private")
	waitUntil(t, 120*time.Second, "private runs web:v3 on every node", func() (bool, string) {
		rs := running(serviceTasks(t, l, "n1", "private"))
		ok := len(rs) == 3
		for _, tk := range rs {
			ok = ok && tk.Spec.Image == private["web:v3"]
		}
		return ok, perNode(rs) + " " + taskErrors(serviceTasks(t, l, "n1", "private"))
	})
}
