//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
)

// seedStack is seed 002's stack in shape, with the lab's Debian-built
// images: a database (redis) with a named volume on a manager, a web tier
// (nginx) publishing a port, and a third service pinned to n3 by hostname
// with a read-only bind mount that talks to the database by name, all on
// one overlay network.
const seedStack = `version: "3"
services:
  db:
    image: %[1]s
    volumes: ["db_data:/data"]
    stop_grace_period: 10s
    networks: [overlay]
    deploy:
      placement:
        constraints: [node.role == manager]
  web:
    image: %[2]s
    ports: ["8080:80"]
    networks: [overlay]
    deploy:
      replicas: 2
  visualizer:
    image: %[1]s
    command: ["sleep", "infinity"]
    healthcheck: {disable: true}
    volumes: ["/etc/hostname:/host-hostname:ro"]
    networks: [overlay]
    deploy:
      placement:
        constraints: [node.hostname == n3]
networks:
  overlay:
volumes:
  db_data:
`

// TestSeedStack deploys seed 002's stack shape with agentctl stack deploy
// and checks what a user of that seed expects: every service running
// (stack services 1/1, 2/2, 1/1), the web port on every node, the database
// reached by its short name from another service, the read-only bind
// mount, an unchanged redeploy that updates nothing, and stack rm removing
// what the stack created and nothing else.
func TestSeedStack(t *testing.T) {
	l, ctx, redis, nginx := upAppLab(t)
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(seedStack, redis, nginx)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Something outside the stack, which stack rm must leave alone.
	agentctl(t, l, "n1", "network", "create", "other")

	out := agentctl(t, l, "n1", "stack", "deploy", "-c", file, "seed")
	for _, line := range []string{"Creating network seed_overlay", "Creating service seed_db", "Creating service seed_web", "Creating service seed_visualizer"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("stack deploy printed no %q:\n%s", line, out)
		}
	}
	waitRunning(t, l, "seed_db", 1, "", 2*time.Minute)
	waitRunning(t, l, "seed_web", 2, "", 2*time.Minute)
	vis := waitRunning(t, l, "seed_visualizer", 1, "n3=1", 2*time.Minute)[0]
	waitUntil(t, 30*time.Second, "stack services shows every service converged", func() (bool, string) {
		got := agentctl(t, l, "n2", "stack", "services", "--format", "{{.Name}} {{.Replicas}}", "seed")
		return got == "seed_db 1/1\nseed_visualizer 1/1\nseed_web 2/2\n", got
	})
	for _, n := range l.Nodes() {
		waitUntil(t, 30*time.Second, "nginx through "+n.Name+":8080", func() (bool, string) {
			out, stderr, err := l.Exec(ctx, lab.HubName, "curl", "-sS", "-m", "3", "http://"+n.Addr+":8080/")
			return err == nil && strings.Contains(out, "shoal lab image nginx"), fmt.Sprintf("%q %v %s", out, err, stderr)
		})
	}
	waitUntil(t, 30*time.Second, "PONG from db, by its short name, from the visualizer", func() (bool, string) {
		out, err := taskExec(ctx, l, vis, "redis-cli", "-h", "db", "ping")
		return err == nil && out == "PONG", fmt.Sprintf("%q %v", out, err)
	})
	host, _ := os.ReadFile("/etc/hostname")
	if out, err := taskExec(ctx, l, vis, "cat", "/host-hostname"); err != nil || out != strings.TrimSpace(string(host)) {
		t.Errorf("the bind mount in the visualizer: %q %v, want the host's %q", out, err, host)
	}
	if out, err := taskExec(ctx, l, vis, "sh", "-c", "echo x > /host-hostname"); err == nil {
		t.Errorf("wrote to a read-only bind mount: %q", out)
	}

	versions := func() map[string]uint64 {
		var svcs []api.Service
		apiGet(t, l, "n1", "/v1/services", &svcs)
		m := map[string]uint64{}
		for _, s := range svcs {
			m[s.Spec.Name] = s.Version
		}
		return m
	}
	before := versions()
	if out := agentctl(t, l, "n3", "stack", "deploy", "-c", file, "seed"); strings.Contains(out, "Updating") || strings.Contains(out, "Creating") {
		t.Errorf("an unchanged redeploy changed something:\n%s", out)
	}
	if after := versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("service versions after an unchanged redeploy: %v, before %v", after, before)
	}

	out = agentctl(t, l, "n2", "stack", "rm", "seed")
	for _, line := range []string{"Removing service seed_db", "Removing service seed_visualizer", "Removing service seed_web", "Removing network seed_overlay"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("stack rm printed no %q:\n%s", line, out)
		}
	}
	if left := versions(); len(left) != 0 {
		t.Errorf("services after stack rm: %v", left)
	}
	var nets []struct{ Name string }
	apiGet(t, l, "n1", "/v1/networks", &nets)
	var names []string
	for _, n := range nets {
		names = append(names, n.Name)
	}
	if strings.Contains(strings.Join(names, " "), "seed_") || !strings.Contains(strings.Join(names, " "), "other") {
		t.Errorf("networks after stack rm: %v, want other kept and no seed_ network", names)
	}
}
