package control

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

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

// ServiceLogs streams the logs of the service's tasks that have started.
func (o *Ops) ServiceLogs(ctx context.Context, ref string, opts api.LogOptions, open func() io.Writer) error {
	cl, err := o.cluster()
	if err != nil {
		return err
	}
	cl.Sync(ctx)
	v := cl.Store.View()
	svc, err := v.FindService(ref)
	if err != nil {
		return err
	}
	var tasks []*types.Task
	for _, t := range v.TasksByService(svc.ID) {
		if t.NodeID != "" && t.Status.State.Rank() >= types.TaskStarting.Rank() {
			tasks = append(tasks, t)
		}
	}
	cl.streamLogs(ctx, open(), v, tasks, opts)
	return nil
}

// TaskLogs streams one task's log; with opts.Local, only this node's copy,
// unprefixed (another agent asking).
func (o *Ops) TaskLogs(ctx context.Context, ref string, opts api.LogOptions, open func() io.Writer) error {
	cl, err := o.cluster()
	if err != nil {
		return err
	}
	if !opts.Local {
		cl.Sync(ctx)
	}
	v := cl.Store.View()
	t, err := v.FindTask(ref)
	if err != nil {
		return err
	}
	if opts.Local {
		rt, err := cl.containerd()
		if err != nil {
			return err
		}
		w := open()
		if err := rt.Logs(ctx, t.ID, opts.Tail, opts.Follow, w); err != nil && ctx.Err() == nil {
			fmt.Fprintf(w, "shoal: log of task %s: %v\n", t.ID, err)
		}
		return nil
	}
	cl.streamLogs(ctx, open(), v, []*types.Task{t}, opts)
	return nil
}

// streamLogs merges the logs of tasks into out, each line prefixed with
// the task's name and node. A node that cannot be reached is reported in
// the stream.
func (cl *Cluster) streamLogs(ctx context.Context, out io.Writer, v *store.View, tasks []*types.Task, opts api.LogOptions) {
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
			if err := cl.taskLog(ctx, t, node, opts, &prefixWriter{out: out, prefix: prefix + "    | "}); err != nil && ctx.Err() == nil {
				fmt.Fprintf(out, "%s    | shoal: %v\n", prefix, err)
			}
		}()
	}
	wg.Wait()
}

// taskLog copies one task's log, from this node's runtime or from the
// agent of the node that ran it.
func (cl *Cluster) taskLog(ctx context.Context, t *types.Task, node *types.Node, opts api.LogOptions, w *prefixWriter) error {
	defer w.flush()
	if t.NodeID == cl.NodeID {
		rt, err := cl.containerd()
		if err != nil {
			return err
		}
		return rt.Logs(ctx, t.ID, opts.Tail, opts.Follow, w)
	}
	if node == nil || node.APIPort == 0 {
		return fmt.Errorf("node %s is not in the cluster any more: its logs are gone with it", t.NodeID)
	}
	c := cl.Dial(net.JoinHostPort(node.Addr, strconv.Itoa(node.APIPort)))
	opts.Local = true
	body, err := c.TaskLogs(ctx, t.ID, opts)
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

// prefixWriter cuts its input into lines and writes each whole line, with
// prefix, to out in one Write, so that lines of different tasks never mix
// (out, the API's stream, takes one Write at a time).
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
