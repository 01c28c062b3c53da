package worker

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api/types"
)

// TestFilesHook: the task's secret and config files are prepared after
// its network and before its container, mounted read-only beside its own
// mounts; a failure rejects the task with its text and releases it.
func TestFilesHook(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	n := newFakeNetwork(rt)
	startWorker(t, c, rt, func(cfg *Config) {
		n.config(cfg)
		cfg.Files = func(_ context.Context, tk *types.Task) ([]types.Mount, error) {
			rt.record("files %s", tk.ID)
			if tk.ID == "bad" {
				return nil, errors.New(`get the task's secrets from the leader: secret "pw" not found`)
			}
			return []types.Mount{{Type: "bind", Source: "/run/shoal/secrets/" + tk.ID + "/secret-0", Target: "/run/secrets/pw", ReadOnly: true}}, nil
		}
	})
	t1 := newTask("t1", nodeA)
	t1.Spec.Mounts = []types.Mount{{Type: "volume", Source: "data", Target: "/data"}}
	c.put(t1, newTask("bad", nodeA))

	c.waitState("t1", types.TaskRunning)
	equalCalls(t, "calls of t1", rt.callsOf("t1"), []string{"network t1", "files t1", "create t1", "start t1"})
	ctr, _ := rt.container("t1")
	want := []types.Mount{t1.Spec.Mounts[0], {Type: "bind", Source: "/run/shoal/secrets/t1/secret-0", Target: "/run/secrets/pw", ReadOnly: true}}
	if !slices.Equal(ctr.spec.Mounts, want) {
		t.Fatalf("container mounts %+v, want %+v", ctr.spec.Mounts, want)
	}
	bad := c.waitState("bad", types.TaskRejected)
	if bad.Status.Err != `get the task's secrets from the leader: secret "pw" not found` {
		t.Fatalf("rejected with %+v", bad.Status)
	}
	waitFor(t, "bad released", func() (bool, string) { return len(rt.callsOf("bad")) == 3, "not yet" })
	equalCalls(t, "calls of bad", rt.callsOf("bad"), []string{"network bad", "files bad", "release bad"})
}

// TestPullAuthHook: the image of a task is pulled with the account the
// hook returns for it; a hook that fails rejects the task, saying why, and
// pulls nothing.
func TestPullAuthHook(t *testing.T) {
	c, rt := newCluster(t), newFakeRuntime()
	startWorker(t, c, rt, func(cfg *Config) {
		cfg.PullAuth = func(_ context.Context, tk *types.Task) (*runtime.Credential, error) {
			switch tk.ID {
			case "bad":
				return nil, errors.New("no leader reachable")
			case "private":
				return &runtime.Credential{User: "deploy", Password: "s3cret"}, nil
			}
			return nil, nil
		}
	})
	private, bad := newTask("private", nodeA), newTask("bad", nodeA)
	private.Spec.Image, bad.Spec.Image = "reg:5001/web:v1", "reg:5001/web:v2"
	c.put(newTask("t1", nodeA), private, bad)
	c.waitState("t1", types.TaskRunning)
	c.waitState("private", types.TaskRunning)
	if got := rt.callsOf("reg:5001/web:v1"); !slices.Contains(got, "pull reg:5001/web:v1 as deploy") {
		t.Errorf("pulls of the private image: %q, want one as deploy", got)
	}
	rejected := c.waitState("bad", types.TaskRejected)
	if rejected.Status.Err != "get the service's registry credentials from the leader: no leader reachable" {
		t.Errorf("rejected with %+v", rejected.Status)
	}
	if got := rt.callsOf("reg:5001/web:v2"); len(got) != 0 {
		t.Errorf("the rejected task's image was pulled: %q", got)
	}
}
