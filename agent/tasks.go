package agent

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/agent/worker"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/control"
)

// runWorker connects to containerd and runs this node's task executor. A
// node whose containerd is not (yet) reachable retries every few seconds;
// until then it runs no tasks.
func (cl *cluster) runWorker() {
	cfg := cl.a.cfg
	// A replica that has not caught up would make the worker stop the
	// containers of tasks it does not see yet.
	if cl.waitCaughtUp(cl.ctx) != nil {
		return
	}
	// The agent's own binary is the tasks' log driver (cmd/agent runs
	// runtime.RunLogDriver when the shim starts it so).
	logDriver, err := os.Executable()
	if err != nil {
		cl.log.Warn("cannot find the agent's executable; containerd's shim writes task logs itself", "err", err)
		logDriver = ""
	}
	for {
		rt, err := runtime.New(cl.ctx, runtime.Config{Address: cfg.Containerd, Namespace: "shoal",
			InsecureRegistries: cfg.InsecureRegistries, StateDir: filepath.Join(cfg.DataDir, "runtime"),
			LogDriver: logDriver, Logger: cl.log})
		if err == nil {
			cl.setRuntime(rt)
			wcfg := worker.Config{NodeID: cl.id.NodeID, Store: cl.store, Runtime: rt, Report: cl.reportTasks,
				StopDrain: cl.a.cfg.StopDrain, Logger: cl.log}
			cl.networkHooks(&wcfg)
			w := worker.New(wcfg)
			if err := w.Run(cl.ctx); err != nil {
				cl.log.Error("task executor stopped", "err", err)
			}
			cl.setRuntime(nil)
			_ = rt.Close()
			return
		}
		cl.log.Warn("containerd not reachable; this node runs no tasks until it is", "socket", cfg.Containerd, "err", err)
		select {
		case <-cl.ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// reportTasks sends observed task states to the leader (or applies them
// when this agent leads).
func (cl *cluster) reportTasks(ctx context.Context, ups []types.TaskUpdate) error {
	if cl.isLeader() {
		return cl.ctl.ApplyTaskUpdates(ctx, ups)
	}
	c, err := cl.leaderClient()
	if err != nil {
		return err
	}
	return c.ReportTaskStatus(ctx, ups)
}

// setRuntime records the runtime the worker uses, for logs and image loads.
func (cl *cluster) setRuntime(rt *runtime.Runtime) {
	cl.rtMu.Lock()
	cl.rt = rt
	cl.rtMu.Unlock()
}

// containerd is the seam's Runtime: the worker's runtime, nil while
// containerd is not connected.
func (cl *cluster) containerd() control.Runtime {
	cl.rtMu.Lock()
	defer cl.rtMu.Unlock()
	if cl.rt == nil {
		return nil // not a nil *runtime.Runtime in the interface
	}
	return cl.rt
}
