package netctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shoal-org/shoal/agent/worker"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/lb"
	"github.com/shoal-org/shoal/overlay"
	"github.com/shoal-org/shoal/store"
)

// Config configures a Controller.
type Config struct {
	// NodeID is this node's ID: its leases are this node's subnets.
	NodeID string
	// Store is the local replica; the controller only reads it.
	Store *store.Store
	// Underlay is the address other nodes reach this one at (the VXLAN
	// tunnels' local end); the device holding it bounds the overlay MTU.
	Underlay netip.Addr
	// StateDir keeps one record per task with networks (its addresses), and
	// the tasks' pinned network namespaces and resolv.conf files.
	StateDir string
	// Dataplane is the load balancer: "auto" (or ""), "ipvs", "nftables",
	// or "none" for no load balancing (VIPs and published ports do not
	// answer).
	Dataplane string
	// Logger is nil for slog.Default().
	Logger *slog.Logger
}

// Controller is one node's network agent. Run converges the overlay and the
// load balancer to the store; TaskNetwork and Release wire tasks in and out.
// All methods are safe for concurrent use.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	ov       *overlay.Manager
	dp       lb.Dataplane
	dev      string
	recs     *records
	mu       sync.Mutex // guards ipams and applied
	ipams    map[string]*overlay.IPAM
	applied  map[string]overlay.Network
	dnsAddrs func([]netip.Addr)
	// lbLast is each service's backends as last applied, to log changes;
	// only the load balancer's loop touches it.
	lbLast map[string]string
}

// New builds the controller: a netlink overlay manager, the load balancer
// and the task records left by an earlier run. It changes nothing in the
// kernel until Run or TaskNetwork.
func New(cfg Config) (*Controller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if !cfg.Underlay.Is4() {
		return nil, fmt.Errorf("netctl: underlay address %v: the overlay needs the node's IPv4 address (set --advertise-addr)", cfg.Underlay)
	}
	dev, err := linkWithAddr(cfg.Underlay)
	if err != nil {
		return nil, err
	}
	k, err := overlay.NewNetlinkKernel()
	if err != nil {
		return nil, fmt.Errorf("netctl: netlink: %w", err)
	}
	recs, err := openRecords(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	c := &Controller{cfg: cfg, log: cfg.Logger, ov: overlay.NewManager(k, cfg.Logger), dev: dev, recs: recs,
		ipams: map[string]*overlay.IPAM{}, applied: map[string]overlay.Network{}}
	if cfg.Dataplane != "none" {
		if c.dp, err = lb.New(cfg.Dataplane, lb.Options{Logger: cfg.Logger}); err != nil {
			return nil, fmt.Errorf("netctl: load balancer %q: %w", cfg.Dataplane, err)
		}
		// Published ports: a connection that arrives on the underlay is
		// DNATed to a task and must be forwarded into the overlay, which
		// IPv4 allows only for packets received on a forwarding interface.
		if err := setForwarding(dev); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// setForwarding turns on IPv4 forwarding for packets received on dev (in
// this process's network namespace), not for the whole host.
func setForwarding(dev string) error {
	path := filepath.Join("/proc/sys/net/ipv4/conf", dev, "forwarding")
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("netctl: enable forwarding on %s for published ports: %w", dev, err)
	}
	return nil
}

// Dataplane names the load balancer in use ("ipvs", "nftables" or "none").
func (c *Controller) Dataplane() string {
	if c.dp == nil {
		return "none"
	}
	return c.dp.Name()
}

// OnGateways registers fn to be called with the gateway addresses of this
// node's overlay bridges after every change (the DNS resolver listens
// there). Call it before Run.
func (c *Controller) OnGateways(fn func([]netip.Addr)) { c.dnsAddrs = fn }

// Run converges the overlay whenever nodes or networks change and the load
// balancer whenever services or tasks change, until ctx ends. A failed
// convergence is retried after a second. It leaves everything in place when
// it returns, for the next run to adopt.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.loop(ctx, "overlay", c.syncOverlay, store.TableNodes, store.TableNetworks)
	}()
	if c.dp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop(ctx, "load balancer", c.syncLB, store.TableServices, store.TableTasks)
		}()
	}
	<-ctx.Done()
	return nil
}

func (c *Controller) loop(ctx context.Context, what string, sync func(context.Context) error, tables ...store.Table) {
	changes, cancel := c.cfg.Store.Subscribe(tables...)
	defer cancel()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		if err := sync(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("converge "+what, "err", err)
			retry.Reset(time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-retry.C:
		}
	}
}

// syncOverlay applies the overlay the store asks for.
func (c *Controller) syncOverlay(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.syncOverlayLocked(ctx)
}

func (c *Controller) syncOverlayLocked(ctx context.Context) error {
	nets := desiredOverlay(c.cfg.Store.View(), c.cfg.NodeID)
	d := overlay.Desired{Underlay: c.cfg.Underlay, UnderlayDev: c.dev, Networks: nets}
	if c.dp != nil {
		d.ReplyMark = lb.DefaultMasqueradeMark // the mark lb.Options default to
	}
	err := c.ov.Apply(ctx, d)
	if err != nil {
		return err
	}
	applied := map[string]overlay.Network{}
	var gws []netip.Addr
	for _, n := range nets {
		applied[n.Name] = n
		gws = append(gws, overlay.Gateway(n.Subnet))
		if p := c.ipams[n.Name]; p == nil || p.Subnet() != n.Subnet.Masked() {
			if c.ipams[n.Name], err = c.newIPAM(n); err != nil {
				return err
			}
		}
	}
	c.applied = applied
	if c.dnsAddrs != nil {
		c.dnsAddrs(gws)
	}
	return nil
}

// newIPAM makes network n's allocator, holding the addresses recorded for
// tasks that still have them.
func (c *Controller) newIPAM(n overlay.Network) (*overlay.IPAM, error) {
	p, err := overlay.NewIPAM(n.Subnet.Masked())
	if err != nil {
		return nil, fmt.Errorf("netctl: network %q: %w", n.Name, err)
	}
	for task, addrs := range c.recs.all() {
		if a, err := netip.ParseAddr(addrs[n.Name]); err == nil && p.Subnet().Contains(a) {
			if err := p.Restore(task, a); err != nil {
				c.log.Warn("restore task address", "task", task, "network", n.Name, "addr", a, "err", err)
			}
		}
	}
	return p, nil
}

// syncLB programs the load balancer from the store, and logs the backends
// of each service whose backends changed (address=weight), so that a
// connection's fate can be set beside the moment its backend came or went.
func (c *Controller) syncLB(ctx context.Context) error {
	cfg := lbConfig(c.cfg.Store.View())
	if err := c.dp.Apply(ctx, cfg); err != nil {
		return err
	}
	now := make(map[string]string, len(cfg.Services))
	for _, s := range cfg.Services {
		now[s.Key] = backendsText(s.Backends)
		if c.lbLast[s.Key] != now[s.Key] {
			c.log.Info("load balancer backends", "service", s.Key, "backends", now[s.Key])
		}
	}
	c.lbLast = now
	return nil
}

func backendsText(bs []lb.Backend) string {
	parts := make([]string, 0, len(bs))
	for _, b := range bs {
		parts = append(parts, b.IP.String()+"="+strconv.Itoa(b.Weight))
	}
	return strings.Join(parts, " ")
}

// TaskNetwork wires task t into its networks: a pinned network namespace,
// an address per network from this node's subnet, a veth into each
// network's bridge, and a resolv.conf naming the first network's gateway
// (the DNS resolver). A task whose service joins no network (a cluster
// without networks) gets the zero worker.TaskNetwork: the host network. On error
// nothing is left behind.
func (c *Controller) TaskNetwork(ctx context.Context, t *types.Task) (_ worker.TaskNetwork, err error) {
	names := taskNetworks(c.cfg.Store.View(), t)
	if len(names) == 0 {
		return worker.TaskNetwork{}, nil
	}
	start := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { c.log.Debug("task network", "task", t.ID, "took", time.Since(start), "err", err) }()
	if err := c.ensureApplied(ctx, names); err != nil {
		return worker.TaskNetwork{}, err
	}
	defer func() {
		if err != nil {
			c.releaseLocked(ctx, t.ID)
		}
	}()
	addrs := map[string]string{}
	reqs := make([]overlay.AttachRequest, 0, len(names))
	for _, name := range names {
		ip, err := c.ipams[name].Allocate(t.ID)
		if err != nil {
			return worker.TaskNetwork{}, fmt.Errorf("network %q on this node: %w", name, err)
		}
		addrs[name] = ip.String()
		reqs = append(reqs, overlay.AttachRequest{Network: name, IP: ip})
	}
	// Recorded before the kernel is touched, so that a crash leaves a record
	// for Release (and the IPAM) to find.
	if err := c.recs.put(t.ID, addrs); err != nil {
		return worker.TaskNetwork{}, err
	}
	tn := worker.TaskNetwork{NetNSPath: c.recs.netnsPath(t.ID), Addresses: addrs}
	_ = c.ov.Detach(ctx, t.ID) // leftovers of an earlier attempt
	if err := overlay.DeleteNetNS(tn.NetNSPath); err != nil {
		return worker.TaskNetwork{}, err
	}
	if err := overlay.CreateNetNS(tn.NetNSPath); err != nil {
		return worker.TaskNetwork{}, err
	}
	if _, err := c.ov.Attach(ctx, tn.NetNSPath, t.ID, reqs); err != nil {
		return worker.TaskNetwork{}, err
	}
	first := c.applied[names[0]]
	hostname := worker.TaskHostname(c.cfg.Store.View(), t)
	if tn.ResolvConf, tn.Hosts, err = c.recs.writeFiles(t, hostname, overlay.Gateway(first.Subnet), reqs[0].IP); err != nil {
		return worker.TaskNetwork{}, err
	}
	return tn, nil
}

// ensureApplied makes sure the overlay has every network in names, applying
// the store's current picture if one is missing (a network created, or a
// lease given, a moment ago).
func (c *Controller) ensureApplied(ctx context.Context, names []string) error {
	for _, name := range names {
		if _, ok := c.applied[name]; !ok {
			if err := c.syncOverlayLocked(ctx); err != nil {
				return err
			}
			break
		}
	}
	for _, name := range names {
		if _, ok := c.applied[name]; !ok {
			return fmt.Errorf("network %q has no subnet on this node yet (the leader leases one when the node joins): retry", name)
		}
	}
	return nil
}

// Release undoes TaskNetwork for task id: veths, namespace, addresses and
// files. It is idempotent and cheap when the task holds nothing.
func (c *Controller) Release(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.releaseLocked(ctx, id)
}

func (c *Controller) releaseLocked(ctx context.Context, id string) error {
	if !c.recs.has(id) {
		return nil
	}
	err := errors.Join(c.ov.Detach(ctx, id), overlay.DeleteNetNS(c.recs.netnsPath(id)))
	if err != nil {
		return err
	}
	for _, p := range c.ipams {
		p.Release(id)
	}
	return c.recs.remove(id)
}

// Held lists the tasks that hold a network on this node (a record from
// TaskNetwork not yet released), for the worker to release those it will
// not run.
func (c *Controller) Held() []string {
	var ids []string
	for id := range c.recs.all() {
		ids = append(ids, id)
	}
	return ids
}

// Teardown removes everything: task wiring, the overlay and the load
// balancer (agent leave).
func (c *Controller) Teardown(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for id := range c.recs.all() {
		errs = append(errs, c.releaseLocked(ctx, id))
	}
	errs = append(errs, c.ov.Teardown(ctx))
	if c.dp != nil {
		errs = append(errs, c.dp.Close())
	}
	c.applied = map[string]overlay.Network{}
	return errors.Join(errs...)
}

// linkWithAddr names the interface holding addr.
func linkWithAddr(addr netip.Addr) (string, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("netctl: list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IP.Equal(net.IP(addr.AsSlice())) {
			l, err := netlink.LinkByIndex(a.LinkIndex)
			if err != nil {
				return "", fmt.Errorf("netctl: link of %s: %w", addr, err)
			}
			return l.Attrs().Name, nil
		}
	}
	return "", fmt.Errorf("netctl: no interface holds the underlay address %s: set --advertise-addr to an address of this host", addr)
}

// mkdir makes dir and its parents.
func mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("netctl: %w", err)
	}
	return nil
}
