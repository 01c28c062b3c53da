package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// APIBenchResult is one BenchEngineAPI: how long each command or request
// took, one entry per run.
type APIBenchResult struct {
	Services int
	// Created is how long creating the services that were missing took.
	Created time.Duration
	// ServiceLs and ServicePs are the real docker CLI's `docker service ls`
	// and `docker service ps NAME`, end to end (the CLI's own start and
	// its requests included).
	ServiceLs, ServicePs []time.Duration
	// ListStatus and TasksOfOne are the server part: GET
	// /services?status=true and GET /tasks with a service filter on the
	// node's docker.sock, the body read in full.
	ListStatus, TasksOfOne []time.Duration
}

// benchAPIPrefix names the bench's services; their one task each stays
// pending (a constraint no node meets), so the bench needs no image. They
// are in dnsrr mode: a network's VIP block holds about 250 services.
const benchAPIPrefix = "benchapi"

// BenchEngineAPI makes sure node's cluster holds services services of one
// task each, then times runs of `docker service ls`, `docker service ps`
// and their server requests against node's Engine API. The services are
// left in place for the next run; RemoveBenchServices removes them.
func (l *Lab) BenchEngineAPI(ctx context.Context, node string, services, runs int) (APIBenchResult, error) {
	res := APIBenchResult{Services: services}
	n, err := l.Node(node)
	if err != nil {
		return res, err
	}
	if services < 1 || services > 10000 || runs < 1 {
		return res, fmt.Errorf("bench engine-api: %d services, %d runs: want 1..10000 services and at least 1 run", services, runs)
	}
	c, err := api.NewClient(n.AgentSock, nil)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := createBenchServices(ctx, c, services); err != nil {
		return res, err
	}
	res.Created = time.Since(start)
	one := fmt.Sprintf("%s%04d", benchAPIPrefix, services/2)
	docker := func(args ...string) (time.Duration, error) {
		t0 := time.Now()
		if _, stderr, err := l.Exec(ctx, node, append([]string{"docker"}, args...)...); err != nil {
			return 0, fmt.Errorf("docker %v: %w: %s", args, err, stderr)
		}
		return time.Since(t0), nil
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", n.DockerSock)
	}}}
	get := func(path string) (time.Duration, error) {
		t0 := time.Now()
		resp, err := hc.Get("http://docker" + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
			return 0, errors.Join(err, fmt.Errorf("GET %s: %s", path, resp.Status))
		}
		return time.Since(t0), nil
	}
	tasksPath := "/v1.50/tasks?filters=" + url.QueryEscape(fmt.Sprintf(`{"service":{%q:true}}`, one))
	for range runs {
		for _, m := range []struct {
			to *[]time.Duration
			do func() (time.Duration, error)
		}{
			{&res.ServiceLs, func() (time.Duration, error) { return docker("service", "ls") }},
			{&res.ServicePs, func() (time.Duration, error) { return docker("service", "ps", one) }},
			{&res.ListStatus, func() (time.Duration, error) { return get("/v1.50/services?status=true") }},
			{&res.TasksOfOne, func() (time.Duration, error) { return get(tasksPath) }},
		} {
			d, err := m.do()
			if err != nil {
				return res, fmt.Errorf("bench engine-api: %w", err)
			}
			*m.to = append(*m.to, d)
		}
	}
	return res, nil
}

// createBenchServices creates the bench's services that do not exist yet,
// eight at a time.
func createBenchServices(ctx context.Context, c *api.Client, services int) error {
	have, err := c.Services(ctx)
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, s := range have {
		exists[s.Spec.Name] = true
	}
	names := make(chan string)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range 8 {
		wg.Go(func() {
			for name := range names {
				// dnsrr: a VIP each would fill the default network's
				// VIP block (a /24) at about 250 services.
				spec := types.ServiceSpec{Name: name, Mode: types.ServiceMode{Replicas: 1}, Endpoint: types.EndpointSpec{Mode: "dnsrr"},
					Task: types.TaskTemplate{Image: "bench/pending:1",
						Placement: types.Placement{Constraints: []string{"node.labels.shoal-bench==never"}}}}
				if _, err := c.ServiceCreate(ctx, api.ServiceCreateRequest{Spec: spec}); err != nil {
					mu.Lock()
					first = errors.Join(first, fmt.Errorf("create %s: %w", name, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range services {
		name := fmt.Sprintf("%s%04d", benchAPIPrefix, i)
		if !exists[name] {
			names <- name
		}
	}
	close(names)
	wg.Wait()
	return first
}

// Median is the middle of ds (the upper one of an even count).
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
