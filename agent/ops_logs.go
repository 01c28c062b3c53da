package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
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
var errNoRuntime = &fault.Error{Kind: fault.Unavailable, Msg: "this node's containerd is not connected (see the agent's log and --containerd)"}

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

// ServiceLogs streams the logs of the service's tasks that have started.
func (a *Agent) ServiceLogs(ctx context.Context, ref string, opts api.LogOptions, open func() io.Writer) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	cl.syncRead(ctx)
	v := cl.store.View()
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
func (a *Agent) TaskLogs(ctx context.Context, ref string, opts api.LogOptions, open func() io.Writer) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	if !opts.Local {
		cl.syncRead(ctx)
	}
	v := cl.store.View()
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
func (cl *cluster) streamLogs(ctx context.Context, out io.Writer, v *store.View, tasks []*types.Task, opts api.LogOptions) {
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
func (cl *cluster) taskLog(ctx context.Context, t *types.Task, node *types.Node, opts api.LogOptions, w *prefixWriter) error {
	defer w.flush()
	if t.NodeID == cl.id.NodeID {
		rt, err := cl.containerd()
		if err != nil {
			return err
		}
		return rt.Logs(ctx, t.ID, opts.Tail, opts.Follow, w)
	}
	if node == nil || node.APIPort == 0 {
		return fmt.Errorf("node %s is not in the cluster any more: its logs are gone with it", t.NodeID)
	}
	c := api.NewHTTPClient("https://"+net.JoinHostPort(node.Addr, strconv.Itoa(node.APIPort)), cl.peerHTTP)
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

// ImageLoad imports an image archive into this node's containerd.
func (a *Agent) ImageLoad(ctx context.Context, archive io.Reader) (api.ImageLoadResponse, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.ImageLoadResponse{}, err
	}
	rt, err := cl.containerd()
	if err != nil {
		return api.ImageLoadResponse{}, err
	}
	names, err := rt.ImportArchive(ctx, archive)
	if err != nil {
		return api.ImageLoadResponse{}, fault.Invalidf("load image archive: %v (expected an OCI archive, as `skopeo copy ... oci-archive:FILE` writes)", err)
	}
	return api.ImageLoadResponse{Images: names, Node: cl.a.ident().Name}, nil
}

// ImageDistribution asks ref's registry, from this node and without
// pulling, what ref names now (for the Engine API's
// /distribution/{ref}/json, with which the docker CLI pins images).
func (a *Agent) ImageDistribution(ctx context.Context, ref string) (api.ImageDistribution, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.ImageDistribution{}, err
	}
	rt, err := cl.containerd()
	if err != nil {
		return api.ImageDistribution{}, err
	}
	desc, plats, err := rt.Distribution(ctx, ref)
	if errors.Is(err, runtime.ErrImageNotFound) {
		return api.ImageDistribution{}, &fault.Error{Kind: fault.NotFound, Msg: err.Error()}
	}
	if err != nil {
		return api.ImageDistribution{}, &fault.Error{Kind: fault.Upstream, Msg: err.Error()}
	}
	out := api.ImageDistribution{MediaType: desc.MediaType, Digest: desc.Digest.String(), Size: desc.Size}
	for _, p := range plats {
		out.Platforms = append(out.Platforms, types.Platform{OS: p.OS, Architecture: p.Architecture})
	}
	return out, nil
}
