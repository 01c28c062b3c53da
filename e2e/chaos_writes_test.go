//go:build e2e && chaos

package e2e

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/e2e/lab"
)

// write is one acknowledged write: service Name was created with 0
// replicas, or (Scaled) scaled to 1.
type write struct {
	Name   string
	Scaled bool
	At     time.Time
}

// writer sends writes one after the other, round robin to nodes, until
// stopped: it creates services c1, c2, … with 0 replicas and scales every
// acknowledged one to 1 in the next write. Nothing else touches those
// services, so an acknowledged create must leave the service in every
// replica, and an acknowledged scale must leave it at 1 replica.
type writer struct {
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	acked   []write
	unknown []string // writes not acknowledged: when, how long, the error
}

func startWrites(l *lab.Lab, nodes []string, image string) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		toScale := ""
		for i := 0; ctx.Err() == nil; i++ {
			node := nodes[i%len(nodes)]
			var wr write
			var args []string
			if toScale != "" {
				wr = write{Name: toScale, Scaled: true}
				args = []string{"service", "scale", "--detach", toScale + "=1"}
			} else {
				wr = write{Name: fmt.Sprintf("c%d", i)}
				args = []string{"service", "create", "--detach", "--name", wr.Name, "--replicas", "0", image}
			}
			began := time.Now()
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := l.Agentctl(wctx, node, args...)
			wcancel()
			if ctx.Err() != nil {
				return
			}
			w.mu.Lock()
			if err == nil {
				wr.At = time.Now()
				w.acked = append(w.acked, wr)
			} else {
				w.unknown = append(w.unknown, fmt.Sprintf("%s %s on %s (%v): %v", began.Format("15:04:05.000"),
					strings.Join(args[:2], " "), node, time.Since(began).Round(time.Millisecond), err))
			}
			w.mu.Unlock()
			switch {
			case err == nil && !wr.Scaled:
				toScale = wr.Name
			case err == nil:
				toScale = ""
			default:
				time.Sleep(200 * time.Millisecond) // no leader yet: do not spin
			}
		}
	}()
	return w
}

// waitAcks waits until n writes were acknowledged after since.
func (w *writer) waitAcks(t *testing.T, n int, since time.Time) {
	t.Helper()
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d writes acknowledged after %s", n, since.Format("15:04:05.000")), func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		k := 0
		for _, a := range w.acked {
			if a.At.After(since) {
				k++
			}
		}
		return k >= n, fmt.Sprintf("%d acknowledged, not: %v", k, w.unknown)
	})
}

// stop ends the writes and returns the acknowledged ones and the number
// of writes that were not acknowledged (they may or may not have applied).
func (w *writer) stop() (acked []write, unknown []string) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked, w.unknown
}

// replicaState is what one node's replica holds: services by name (ID,
// version, replicas) and tasks by ID (version).
func replicaState(c *api.Client) (svcs map[string]string, tasks map[string]uint64, err error) {
	var ss []api.Service
	if err := getJSON(c, "/v1/services", 5*time.Second, &ss); err != nil {
		return nil, nil, err
	}
	var ts []api.Task
	if err := getJSON(c, "/v1/tasks", 5*time.Second, &ts); err != nil {
		return nil, nil, err
	}
	svcs = map[string]string{}
	for _, s := range ss {
		svcs[s.Spec.Name] = fmt.Sprintf("%s v%d replicas=%d", s.ID[:8], s.Version, s.Spec.Mode.Replicas)
	}
	tasks = map[string]uint64{}
	for _, tk := range ts {
		tasks[tk.ID] = tk.Version
	}
	return svcs, tasks, nil
}

// converged reports whether every node's replica holds the same services
// and tasks, and every acknowledged write is in it.
func converged(cs map[string]*api.Client, acked []write) (bool, string) {
	var first string
	var svcs0 map[string]string
	var tasks0 map[string]uint64
	for name, c := range cs {
		svcs, tasks, err := replicaState(c)
		if err != nil {
			return false, name + ": " + err.Error()
		}
		if svcs0 == nil {
			first, svcs0, tasks0 = name, svcs, tasks
			continue
		}
		if !maps.Equal(svcs, svcs0) {
			return false, fmt.Sprintf("services on %s %v differ from %s's %v", name, svcs, first, svcs0)
		}
		if !maps.Equal(tasks, tasks0) {
			return false, fmt.Sprintf("%s has %d tasks, %s %d (or versions differ)", name, len(tasks), first, len(tasks0))
		}
	}
	for _, a := range acked {
		s, ok := svcs0[a.Name]
		switch {
		case !ok:
			return false, fmt.Sprintf("acknowledged create of %s is missing", a.Name)
		case a.Scaled && !strings.HasSuffix(s, "replicas=1"):
			return false, fmt.Sprintf("acknowledged scale of %s to 1 is missing: %s", a.Name, s)
		}
	}
	return true, ""
}
