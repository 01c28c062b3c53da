//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
	"github.com/shoal-org/shoal/internal/testimages"
)

// TestAppImages runs the lab's Debian-built application images as shoal
// services on 3 nodes: nginx's published port answers on every node (one
// of them runs no nginx task) with the page naming the image, and its
// access log reaches `service logs`; a task of another service reaches
// redis by its service name; data SAVEd into redis's named volume at /data
// survives `service update --force` on the same node.
func TestAppImages(t *testing.T) {
	l, ctx, redis, nginx := upAppLab(t)

	t.Run("nginx answers on the published port of every node", func(t *testing.T) {
		agentctl(t, l, "n1", "service", "create", "--detach", "--name", "nginx", "--replicas", "2",
			"--constraint", "node.hostname!=n3", "--publish", "8080:80", nginx)
		waitRunning(t, l, "nginx", 2, "n1=1 n2=1", 2*time.Minute)
		page := "shoal lab image nginx:" + nginx[strings.LastIndex(nginx, ":")+1:]
		for _, n := range l.Nodes() {
			waitUntil(t, 30*time.Second, "nginx's page through "+n.Name+":8080", func() (bool, string) {
				out, stderr, err := l.Exec(ctx, lab.HubName, "curl", "-sS", "-m", "3", "http://"+n.Addr+":8080/")
				return err == nil && strings.Contains(out, page), fmt.Sprintf("%q %v %s", out, err, stderr)
			})
		}
		waitUntil(t, 30*time.Second, "nginx's access log in service logs", func() (bool, string) {
			out := agentctl(t, l, "n3", "service", "logs", "nginx")
			return strings.Contains(out, `"GET / HTTP/1.1" 200`), out
		})
	})

	t.Run("redis by service name, data in a named volume survives update --force", func(t *testing.T) {
		agentctl(t, l, "n1", "service", "create", "--detach", "--name", "redis", "--constraint", "node.hostname==n2",
			"--mount", "type=volume,source=rdata,target=/data", redis)
		// running() counts a task only once healthy: redis-cli ping, the image's healthcheck, passed.
		first := waitRunning(t, l, "redis", 1, "n2=1", 2*time.Minute)[0]
		agentctl(t, l, "n1", "service", "create", "--detach", "--name", "rcli", "--no-healthcheck",
			"--constraint", "node.hostname==n3", redis, "sleep", "infinity")
		cli := waitRunning(t, l, "rcli", 1, "n3=1", 2*time.Minute)[0]
		redisCLI := func(args ...string) (string, error) {
			return taskExec(ctx, l, cli, append([]string{"redis-cli", "-h", "redis"}, args...)...)
		}
		waitUntil(t, 30*time.Second, "PONG from redis by name from rcli", func() (bool, string) {
			out, err := redisCLI("ping")
			return err == nil && out == "PONG", fmt.Sprintf("%q %v", out, err)
		})
		value := fmt.Sprintf("kept-%d", time.Now().UnixNano())
		for _, cmd := range [][]string{{"set", "k", value}, {"save"}} {
			if out, err := redisCLI(cmd...); err != nil || out != "OK" {
				t.Fatalf("redis-cli %v: %q %v", cmd, out, err)
			}
		}
		agentctl(t, l, "n1", "service", "update", "--force", "redis")
		var second api.Task
		waitUntil(t, 2*time.Minute, "a new redis task running on n2", func() (bool, string) {
			rs := running(serviceTasks(t, l, "n1", "redis"))
			if len(rs) == 1 && rs[0].ID != first.ID {
				second = rs[0]
			}
			return second.ID != "" && second.NodeHostname == "n2", perNode(rs)
		})
		waitUntil(t, 30*time.Second, "the SAVEd value from the new redis task", func() (bool, string) {
			out, err := redisCLI("get", "k")
			return err == nil && out == value, fmt.Sprintf("%q %v", out, err)
		})
		logs := agentctl(t, l, "n1", "service", "logs", "redis")
		loaded := false
		for _, line := range strings.Split(logs, "\n") {
			loaded = loaded || strings.Contains(line, second.ID) && strings.Contains(line, "keys loaded: 1,")
		}
		if !loaded {
			t.Errorf("the new task %s did not log loading the snapshot:\n%s", second.ID, logs)
		}
	})
}

// upAppLab brings up a 3-node lab with the Debian-built redis and nginx
// images in its registry, and returns their references with a context
// bounding the test. It skips, saying why, where the images cannot be
// built (no mmdebstrap, or Debian's mirror out of reach).
func upAppLab(t *testing.T) (l *lab.Lab, ctx context.Context, redis, nginx string) {
	t.Helper()
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("mmdebstrap is not installed (apt-get install mmdebstrap, or scripts/deps.sh): the application images are built with it")
	}
	l = upLab(t, lab.Options{Nodes: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	refs, err := l.PushAppImages(ctx, t.Logf)
	if err != nil {
		if reason := testimages.MirrorUnreachable(); reason != "" {
			t.Skipf("%s: %v", reason, err)
		}
		t.Fatal(err)
	}
	if len(refs) != 2 || !strings.Contains(refs[0], "/redis:") || !strings.Contains(refs[1], "/nginx:") {
		t.Fatalf("PushAppImages = %v, want redis then nginx", refs)
	}
	return l, ctx, refs[0], refs[1]
}

var execSeq atomic.Int64

// taskExec runs argv in task tk's container (ctr task exec on its node)
// and returns its trimmed output.
func taskExec(ctx context.Context, l *lab.Lab, tk api.Task, argv ...string) (string, error) {
	id := fmt.Sprintf("e2e-%d-%d", os.Getpid(), execSeq.Add(1))
	args := append([]string{"ctr", "-n", "shoal", "task", "exec", "--exec-id", id, tk.ID}, argv...)
	out, stderr, err := l.Exec(ctx, tk.NodeHostname, args...)
	if err != nil {
		return strings.TrimSpace(out), fmt.Errorf("%s on %s: %w: %s", strings.Join(argv, " "), tk.NodeHostname, err, stderr)
	}
	return strings.TrimSpace(out), nil
}
