package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/resolver"

	"github.com/shoal-org/shoal/agent/netctl"
	"github.com/shoal-org/shoal/agent/worker"
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
	dns, err := resolver.New(resolver.Config{Store: cl.store, Upstreams: dnsUpstreams(cfg.DNSUpstreams), Logger: cl.log})
	if err != nil {
		cl.log.Error("DNS resolver for tasks: service names will not resolve", "err", err)
	} else {
		cl.netc.OnGateways(func(addrs []netip.Addr) {
			if err := dns.SetListen(addrs); err != nil {
				cl.log.Warn("DNS resolver listen", "err", err)
			}
		})
		cl.wg.Add(1)
		go func() {
			defer cl.wg.Done()
			if cl.waitCaughtUp(cl.ctx) != nil {
				return
			}
			if err := dns.Run(cl.ctx); err != nil {
				cl.log.Error("DNS resolver stopped", "err", err)
			}
		}()
	}
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		// An empty replica would tear down the running overlay.
		if cl.waitCaughtUp(cl.ctx) != nil {
			return
		}
		if err := cl.netc.Run(cl.ctx); err != nil {
			cl.log.Error("overlay network stopped", "err", err)
		}
	}()
}

// dnsUpstreams turns --dns-upstream values into the resolver's list: nil
// (the host's resolv.conf) when none are given, empty for "none", and port
// 53 where none is given.
func dnsUpstreams(vals []string) []string {
	if len(vals) == 0 {
		return nil
	}
	out := []string{}
	for _, v := range vals {
		if v == "none" {
			return []string{}
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			v = net.JoinHostPort(v, "53")
		}
		out = append(out, v)
	}
	return out
}

// taskNetwork is the worker's Network hook: the task's network namespace,
// resolv.conf, hosts file and addresses on the overlay; the host network in
// host mode.
func (cl *cluster) taskNetwork(ctx context.Context, t *types.Task) (worker.TaskNetwork, error) {
	if cl.netErr != nil {
		return worker.TaskNetwork{}, cl.netErr
	}
	if cl.netc == nil {
		return worker.TaskNetwork{}, nil
	}
	return cl.netc.TaskNetwork(ctx, t)
}

// networkHooks are the worker's network hooks for this agent's mode, and
// the hooks of its secret and config files (taskfiles.go), whose release
// goes with the network's.
func (cl *cluster) networkHooks(cfg *worker.Config) {
	cl.fileHooks(cfg)
	if cl.a.cfg.TaskNetwork != "overlay" {
		return
	}
	cfg.Network = cl.taskNetwork
	if cl.netc != nil {
		releaseFiles, fileLeftovers := cfg.Release, cfg.Leftovers
		cfg.Release = func(ctx context.Context, id string) error {
			return errors.Join(cl.netc.Release(ctx, id), releaseFiles(ctx, id))
		}
		cfg.Leftovers = func() []string { return append(cl.netc.Held(), fileLeftovers()...) }
	}
}
