package agent

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/shoal-org/shoal/agent/netctl"
	"github.com/shoal-org/shoal/store"
)

// dataplane names the load balancer this agent runs, for gossip tags and
// `agent info`: "none" in host network mode.
func (cl *cluster) dataplane() string {
	if cl.a.cfg.TaskNetwork != "overlay" {
		return "none"
	}
	return cl.a.cfg.Dataplane
}

// startNetwork starts the node's network controller in overlay mode. If it
// cannot start, the agent runs on, and every task it is given is rejected
// with the reason.
func (cl *cluster) startNetwork() {
	cfg := cl.a.cfg
	if cfg.TaskNetwork != "overlay" {
		return
	}
	underlay, err := netip.ParseAddr(cfg.AdvertiseAddr)
	if err == nil {
		cl.netc, err = netctl.New(netctl.Config{NodeID: cl.id.NodeID, Store: cl.store, Underlay: underlay,
			StateDir: filepath.Join(cfg.DataDir, "net"), Dataplane: cfg.Dataplane, Logger: cl.log})
	}
	if err != nil {
		cl.netErr = fmt.Errorf("this node's overlay network is not running: %w", err)
		cl.log.Error("overlay network", "err", err)
		return
	}
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		if err := cl.netc.Run(cl.ctx); err != nil {
			cl.log.Error("overlay network stopped", "err", err)
		}
	}()
}

// taskNetNS is the worker's hook: the task's network namespace and
// resolv.conf on the overlay, or the host network in host mode.
func (cl *cluster) taskNetNS(ctx context.Context, t *store.Task) (string, string, error) {
	if cl.netErr != nil {
		return "", "", cl.netErr
	}
	if cl.netc == nil {
		return "", "", nil
	}
	tn, err := cl.netc.TaskNetwork(ctx, t)
	return tn.NetNSPath, tn.ResolvConf, err
}
