package control

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/logrec"
	"github.com/shoal-org/shoal/store"
)

// Logs. A task's output is kept by its node's runtime (one file per
// container, kept after the container is removed), a record per line with
// the time it was written and its stream (package logrec). `service logs`
// asks any agent, which reads the local tasks' logs itself and those of
// other nodes' tasks from their agents over mutual TLS (as records, with
// o.Local), and hands every line, with its task, to the API, which shows
// it as its client wants it (text with docker's "web.1.abc@n2    | "
// prefix, or the Engine API's multiplexed stream). Lines of different
// tasks interleave as they arrive.

// ServiceLogs hands the lines of the service's tasks that have started to
// the function open returns (called from several goroutines at once).
func (o *Ops) ServiceLogs(ctx context.Context, ref string, opts api.LogOptions, open func() func(api.LogLine)) error {
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

// TaskLogs is ServiceLogs for one task; with opts.Local, only this node's
// copy (another agent asking).
func (o *Ops) TaskLogs(ctx context.Context, ref string, opts api.LogOptions, open func() func(api.LogLine)) error {
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
		sink := open()
		line := lineOf(t, cl.NodeName)
		if err := localLog(ctx, rt, t.ID, opts, func(rec logrec.Record) { line.Record = rec; sink(line) }); err != nil && ctx.Err() == nil {
			line.Record = errorRecord("shoal: log of task %s: %v", t.ID, err)
			sink(line)
		}
		return nil
	}
	cl.streamLogs(ctx, open(), v, []*types.Task{t}, opts)
	return nil
}

// streamLogs hands the lines of tasks to sink, each task's from its own
// goroutine. A node that cannot be reached is reported as a line of its
// task's.
func (cl *Cluster) streamLogs(ctx context.Context, sink func(api.LogLine), v *store.View, tasks []*types.Task, opts api.LogOptions) {
	var wg sync.WaitGroup
	for _, t := range tasks {
		node := v.Node(t.NodeID)
		name := t.NodeID
		if node != nil {
			name = node.Hostname
		}
		line := lineOf(t, name)
		wg.Go(func() {
			emit := func(rec logrec.Record) { l := line; l.Record = rec; sink(l) }
			if err := cl.taskLog(ctx, t, node, opts, emit); err != nil && ctx.Err() == nil {
				emit(errorRecord("shoal: %v", err))
			}
		})
	}
	wg.Wait()
}

// lineOf is a line of task t's, on node name, without its record.
func lineOf(t *types.Task, node string) api.LogLine {
	return api.LogLine{Task: taskName(t), TaskID: t.ID, ServiceID: t.ServiceID, NodeID: t.NodeID, NodeName: node}
}

// errorRecord is a line on stderr that says why a log cannot be read.
func errorRecord(format string, args ...any) logrec.Record {
	return logrec.Record{Time: time.Now().UTC(), Stream: logrec.Stderr, Line: fmt.Appendf(nil, format, args...)}
}

// taskLog reads one task's log, from this node's runtime or from the
// agent of the node that ran it.
func (cl *Cluster) taskLog(ctx context.Context, t *types.Task, node *types.Node, opts api.LogOptions, emit func(logrec.Record)) error {
	if t.NodeID == cl.NodeID {
		rt, err := cl.containerd()
		if err != nil {
			return err
		}
		return localLog(ctx, rt, t.ID, opts, emit)
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
	// An agent of an earlier version answers with plain text: the reader
	// takes it as stdout lines without times.
	return readRecords(logrec.NewReader(body), emit)
}

// localLog reads task id's log from this node's runtime.
func localLog(ctx context.Context, rt Runtime, id string, opts api.LogOptions, emit func(logrec.Record)) error {
	return rt.Logs(ctx, id, runtimeLogOptions(opts), func(rec logrec.Record) error { emit(rec); return nil })
}

// readRecords hands every record of rd to emit, the last line without
// its newline included.
func readRecords(rd *logrec.Reader, emit func(logrec.Record)) error {
	for {
		rec, err := rd.Next()
		if err != nil {
			if rest, ok := rd.Rest(); ok {
				emit(rest)
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		emit(rec)
	}
}

// runtimeLogOptions is what the runtime is asked for.
func runtimeLogOptions(o api.LogOptions) runtime.LogOptions {
	return runtime.LogOptions{Tail: o.Tail, Follow: o.Follow, Since: o.Since, Until: o.Until, NoStdout: o.NoStdout, NoStderr: o.NoStderr}
}

// taskName is docker's task name: SERVICE.SLOT.ID (SERVICE.NODE.ID for a
// global task).
func taskName(t *types.Task) string {
	if t.Slot > 0 {
		return fmt.Sprintf("%s.%d.%s", t.ServiceName, t.Slot, t.ID)
	}
	return fmt.Sprintf("%s.%s.%s", t.ServiceName, t.NodeID, t.ID)
}
