package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
)

// Logs. A task's output is kept by its node's runtime (one file per
// container, kept after the container is removed). `service logs` asks any
// agent, which streams the local tasks' logs itself and those of other
// nodes' tasks from their agents over mutual TLS, each line prefixed with
// the task's name and node as docker does ("web.1.abc123@n2    | ...").
// Lines of different tasks are interleaved as they arrive.

// errNoRuntime answers log and image requests on a node whose containerd is
// not connected.
var errNoRuntime = &httpError{code: http.StatusServiceUnavailable,
	msg: "this node's containerd is not connected (see the agent's log and --containerd)"}

// setRuntime records the runtime the worker uses, for logs and image loads.
func (cl *cluster) setRuntime(rt *runtime.Runtime) {
	cl.rtMu.Lock()
	cl.rt = rt
	cl.rtMu.Unlock()
}

func (cl *cluster) containerd() (*runtime.Runtime, error) {
	cl.rtMu.Lock()
	defer cl.rtMu.Unlock()
	if cl.rt == nil {
		return nil, errNoRuntime
	}
	return cl.rt, nil
}

// logOptions are the query parameters of the log endpoints.
type logOptions struct {
	tail   int
	follow bool
	local  bool // only this node's log of the task: an agent asking another
}

func parseLogOptions(q url.Values) (logOptions, error) {
	o := logOptions{tail: -1, follow: q.Get("follow") == "true", local: q.Get("local") == "true"}
	if s := q.Get("tail"); s != "" && s != "all" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return o, badRequest("--tail %q: use a number of lines or all", s)
		}
		o.tail = n
	}
	return o, nil
}

func (o logOptions) query() url.Values {
	q := url.Values{"local": {"true"}, "tail": {strconv.Itoa(o.tail)}}
	if o.tail < 0 {
		q.Set("tail", "all")
	}
	if o.follow {
		q.Set("follow", "true")
	}
	return q
}

func (a *Agent) handleServiceLogs(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	opts, err := parseLogOptions(r.URL.Query())
	if err != nil {
		return err
	}
	cl.syncRead(r.Context())
	v := cl.store.View()
	svc, err := v.FindService(r.PathValue("ref"))
	if err != nil {
		return err
	}
	var tasks []*types.Task
	for _, t := range v.TasksByService(svc.ID) {
		if t.NodeID != "" && t.Status.State.Rank() >= types.TaskStarting.Rank() {
			tasks = append(tasks, t)
		}
	}
	return cl.streamLogs(w, r, v, tasks, opts)
}

func (a *Agent) handleTaskLogs(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	opts, err := parseLogOptions(r.URL.Query())
	if err != nil {
		return err
	}
	if !opts.local {
		cl.syncRead(r.Context())
	}
	v := cl.store.View()
	t, err := v.FindTask(r.PathValue("id"))
	if err != nil {
		return err
	}
	if opts.local {
		return cl.localLog(w, r, t.ID, opts)
	}
	return cl.streamLogs(w, r, v, []*types.Task{t}, opts)
}

// localLog writes this node's log of task id, unprefixed.
func (cl *cluster) localLog(w http.ResponseWriter, r *http.Request, id string, opts logOptions) error {
	rt, err := cl.containerd()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w}
	if err := rt.Logs(r.Context(), id, opts.tail, opts.follow, fw); err != nil && r.Context().Err() == nil {
		fmt.Fprintf(fw, "shoal: log of task %s: %v\n", id, err)
	}
	return nil
}

// streamLogs merges the logs of tasks, each line prefixed with the task's
// name and node. A node that cannot be reached is reported in the stream.
func (cl *cluster) streamLogs(w http.ResponseWriter, r *http.Request, v *store.View, tasks []*types.Task, opts logOptions) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w}
	var wg sync.WaitGroup
	for _, t := range tasks {
		node := v.Node(t.NodeID)
		prefix := taskName(t) + "@" + t.NodeID
		if node != nil {
			prefix = taskName(t) + "@" + node.Hostname
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cl.taskLog(r.Context(), t, node, opts, &prefixWriter{out: out, prefix: prefix + "    | "}); err != nil && r.Context().Err() == nil {
				fmt.Fprintf(out, "%s    | shoal: %v\n", prefix, err)
			}
		}()
	}
	wg.Wait()
	return nil
}

// taskLog copies task t's log from its node (this one, or another agent).
func (cl *cluster) taskLog(ctx context.Context, t *types.Task, node *types.Node, opts logOptions, w *prefixWriter) error {
	defer w.flush()
	if t.NodeID == cl.id.NodeID {
		rt, err := cl.containerd()
		if err != nil {
			return err
		}
		return rt.Logs(ctx, t.ID, opts.tail, opts.follow, w)
	}
	if node == nil || node.APIPort == 0 {
		return fmt.Errorf("node %s is not in the cluster any more: its logs are gone with it", t.NodeID)
	}
	c := api.NewHTTPClient("https://"+net.JoinHostPort(node.Addr, strconv.Itoa(node.APIPort)), cl.peerHTTP)
	body, err := c.TaskLogs(ctx, t.ID, opts.query())
	if err != nil {
		return fmt.Errorf("logs from node %s: %w", node.Hostname, err)
	}
	defer body.Close()
	_, err = io.Copy(w, body)
	return err
}

// taskName is docker's task name: SERVICE.SLOT.ID (SERVICE.NODE.ID for a
// global task).
func taskName(t *types.Task) string {
	if t.Slot > 0 {
		return fmt.Sprintf("%s.%d.%s", t.ServiceName, t.Slot, t.ID)
	}
	return fmt.Sprintf("%s.%s.%s", t.ServiceName, t.NodeID, t.ID)
}

// flushWriter writes to an HTTP response under a lock and flushes every
// write, so that followed logs show at once.
type flushWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// prefixWriter cuts its input into lines and writes each whole line, with
// prefix, to out in one Write, so that lines of different tasks never mix.
type prefixWriter struct {
	out     io.Writer
	prefix  string
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	n := len(b)
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(p.prefix), p.partial[:i+1]...)
		if _, err := p.out.Write(line); err != nil {
			return 0, err
		}
		p.partial = p.partial[i+1:]
	}
	return n, nil
}

// flush writes a last line without its newline.
func (p *prefixWriter) flush() {
	if len(p.partial) > 0 {
		_, _ = p.out.Write(append(append([]byte(p.prefix), p.partial...), '\n'))
		p.partial = nil
	}
}

func (a *Agent) handleImageLoad(w http.ResponseWriter, r *http.Request) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	rt, err := cl.containerd()
	if err != nil {
		return err
	}
	names, err := rt.ImportArchive(r.Context(), r.Body)
	if err != nil {
		return badRequest("load image archive: %v (expected an OCI archive, as `skopeo copy ... oci-archive:FILE` writes)", err)
	}
	return writeJSON(w, http.StatusOK, api.ImageLoadResponse{Images: names, Node: cl.a.ident().Name})
}
