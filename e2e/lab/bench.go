package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// ScaleResult is one run of BenchScale.
type ScaleResult struct {
	Replicas int
	// Shoal is from `service scale NAME=N` until the API reports N tasks
	// running.
	Shoal time.Duration
	// Raw is from the first create until the last start returned, creating
	// and starting the same containers straight through each node's
	// containerd, all at once.
	Raw time.Duration
}

// Ratio is Shoal / Raw.
func (r ScaleResult) Ratio() float64 { return r.Shoal.Seconds() / r.Raw.Seconds() }

// BenchScale measures how long shoal takes to bring a service of image from
// 0 to replicas running tasks across the lab's nodes, against creating and
// starting the same number of containers of the image straight through the
// nodes' containerds (spread evenly, each listening on a port of its own in
// the node's network namespace; shoal gives each task its own namespace,
// address and veth on the overlay). The image is pulled on every node
// before either is timed; both clean up after themselves.
//
// With healthcheck false the service is created with --no-healthcheck, like
// the raw containers; true keeps the image's healthcheck (the test images
// probe every second, an exec in each container, which competes with the
// starts for CPU).
func (l *Lab) BenchScale(ctx context.Context, image string, replicas int, healthcheck bool) (ScaleResult, error) {
	res := ScaleResult{Replicas: replicas}
	nodes := l.Nodes()
	if len(nodes) == 0 || replicas < 1 || replicas > 1000 {
		return res, fmt.Errorf("bench scale: %d nodes, %d replicas: want a running lab and 1..1000 replicas", len(nodes), replicas)
	}
	rts, err := benchRuntimes(ctx, nodes)
	if err != nil {
		return res, err
	}
	defer func() {
		for _, rt := range rts {
			_ = rt.Close()
		}
	}()
	// The containerd client pulls in the calling process, so the pull runs
	// in the node's namespace (this process cannot reach the registry).
	for _, n := range nodes {
		for _, ns := range []string{"shoal-bench", "shoal"} {
			if _, stderr, err := l.Exec(ctx, n.Name, "ctr", "-n", ns, "images", "pull", "--plain-http", image); err != nil {
				return res, fmt.Errorf("bench scale: pull %s on %s: %w: %s", image, n.Name, err, stderr)
			}
		}
	}
	if res.Raw, err = rawScale(ctx, rts, image, replicas); err != nil {
		return res, err
	}
	res.Shoal, err = l.shoalScale(ctx, image, replicas, healthcheck)
	return res, err
}

// benchRuntimes connects to every node's containerd in a namespace of the
// bench's own.
func benchRuntimes(ctx context.Context, nodes []Node) ([]*runtime.Runtime, error) {
	var rts []*runtime.Runtime
	for _, n := range nodes {
		dir, err := os.MkdirTemp("", "shoal-bench-")
		if err != nil {
			return rts, err
		}
		rt, err := runtime.New(ctx, runtime.Config{Address: n.ContainerdSock, Namespace: "shoal-bench",
			InsecureRegistries: []string{RegistryAddr()}, StateDir: dir})
		if err != nil {
			return rts, fmt.Errorf("bench scale: containerd of %s: %w", n.Name, err)
		}
		rts = append(rts, rt)
	}
	return rts, nil
}

// rawScale creates and starts replicas containers spread over rts, all at
// once, and removes them afterwards.
func rawScale(ctx context.Context, rts []*runtime.Runtime, image string, replicas int) (time.Duration, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	start := time.Now()
	for i := range replicas {
		rt := rts[i%len(rts)]
		id := "bench-" + strconv.Itoa(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := rt.Create(ctx, runtime.Spec{ID: id, Image: image, Args: []string{"-listen", ":" + strconv.Itoa(8000+i)}})
			if err == nil {
				err = rt.Start(ctx, id)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for i := range replicas {
		if err := rts[i%len(rts)].Remove(ctx, "bench-"+strconv.Itoa(i)); err != nil {
			errs = append(errs, err)
		}
	}
	return took, errors.Join(errs...)
}

// shoalScale creates a service of 0 replicas, scales it and waits until
// every task runs, then removes it and waits until its containers are gone.
func (l *Lab) shoalScale(ctx context.Context, image string, replicas int, healthcheck bool) (time.Duration, error) {
	const name = "benchscale"
	n1 := l.Nodes()[0].Name
	args := []string{"service", "create", "--detach", "--name", name, "--replicas", "0"}
	if !healthcheck {
		args = append(args, "--no-healthcheck")
	}
	if out, err := l.Agentctl(ctx, n1, append(args, image)...); err != nil {
		return 0, fmt.Errorf("bench scale: %w: %s", err, out)
	}
	c, err := api.NewClient(l.Nodes()[0].AgentSock, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if out, err := l.Agentctl(ctx, n1, "service", "scale", "--detach", name+"="+strconv.Itoa(replicas)); err != nil {
		return 0, fmt.Errorf("bench scale: %w: %s", err, out)
	}
	err = pollService(ctx, c, name, 5*time.Minute, func(running int) bool { return running == replicas })
	took := time.Since(start)
	if out, rerr := l.Agentctl(ctx, n1, "service", "rm", name); rerr != nil {
		return took, errors.Join(err, fmt.Errorf("bench scale: %w: %s", rerr, out))
	}
	// The next run starts on quiet nodes: wait until every container is gone.
	for _, n := range l.Nodes() {
		for deadline := time.Now().Add(2 * time.Minute); ; {
			out, _, cerr := l.Exec(ctx, n.Name, "ctr", "-n", "shoal", "containers", "ls", "-q")
			if cerr == nil && len(out) == 0 {
				break
			}
			if time.Now().After(deadline) {
				return took, errors.Join(err, fmt.Errorf("bench scale: containers of %s still on %s", name, n.Name))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return took, err
}

// pollService polls the tasks of service name every 20 ms until done(the
// number observed running) holds. Running, as containerd reports it: the
// image's healthcheck, which takes a probe interval more, is not waited for.
func pollService(ctx context.Context, c *api.Client, name string, limit time.Duration, done func(int) bool) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		tasks, err := c.Tasks(ctx, name)
		if err != nil {
			return fmt.Errorf("bench scale: %w", err)
		}
		n := 0
		for _, t := range tasks {
			if t.DesiredState == types.TaskRunning && t.Status.State == types.TaskRunning {
				n++
			}
		}
		if done(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("bench scale: service %s not done within %v", name, limit)
}
