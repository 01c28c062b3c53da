package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
)

// Manager converges one node's overlay to a Desired configuration and wires
// tasks into it. All methods are safe for concurrent use; they are
// serialised internally, so a slow Apply delays an Attach.
type Manager struct {
	k   Kernel
	log *slog.Logger

	mu sync.Mutex
	// nets are the networks of the last Apply that passed validation, by name.
	nets map[string]netInfo
}

type netInfo struct {
	bridge string
	subnet netip.Prefix
	cidr   netip.Prefix
	mtu    int
}

// NewManager returns a Manager working through k. A nil logger means
// slog.Default().
func NewManager(k Kernel, logger *slog.Logger) *Manager {
	if logger == nil {
		logger = slog.Default()
	}
	return &Manager{k: k, log: logger.With("component", "overlay"), nets: map[string]netInfo{}}
}

// Apply makes the overlay match d. It is idempotent and converges from any
// state: it reads what the overlay owns, adds and changes what is missing or
// different before deleting what is no longer desired, and leaves equal
// objects alone, so existing devices (after an agent restart, say) are
// adopted without disturbing running tasks. A device whose identity changed
// (VNI, local address, port, underlay device) is recreated. On failure it
// still applies every op that does not depend on a failed link and returns
// all errors joined.
func (m *Manager) Apply(ctx context.Context, d Desired) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := validate(d); err != nil {
		return err
	}
	mtu := 0
	if len(d.Networks) > 0 {
		var err error
		if mtu, err = m.k.LinkMTU(d.UnderlayDev); err != nil {
			return fmt.Errorf("overlay: read MTU of underlay device %q: %w", d.UnderlayDev, err)
		}
	}
	want, err := render(d, mtu)
	if err != nil {
		return err
	}
	m.nets = map[string]netInfo{}
	for _, n := range d.Networks {
		m.nets[n.Name] = netInfo{bridge: BridgeName(n.VNI), subnet: n.Subnet.Masked(),
			cidr: n.CIDR.Masked(), mtu: mtu - encapOverhead(d.Underlay)}
	}
	return m.converge(ctx, want)
}

// Teardown removes every object the overlay created in this namespace: task
// veths, bridges, VXLAN devices, routes, neighbour and FDB entries, rules.
// Called when the agent leaves the cluster.
func (m *Manager) Teardown(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nets = map[string]netInfo{}
	veths, err := m.k.TaskVeths()
	if err != nil {
		return fmt.Errorf("overlay: teardown: list task veths: %w", err)
	}
	var errs []error
	for _, v := range veths {
		if err := m.k.DelLink(v.Name); err != nil {
			errs = append(errs, fmt.Errorf("overlay: teardown: delete task veth %s: %w", v.Name, err))
		}
	}
	return errors.Join(append(errs, m.converge(ctx, State{}))...)
}

// converge reads the kernel's state and runs the plan to want.
func (m *Manager) converge(ctx context.Context, want State) error {
	cur, err := m.k.State()
	if err != nil {
		return fmt.Errorf("overlay: read kernel state: %w", err)
	}
	ops := plan(cur, want)
	var errs []error
	failed := map[string]bool{}
	done := 0
	for _, o := range ops {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("overlay: apply interrupted after %d of %d changes: %w", done, len(ops), err))
			break
		}
		if dev := o.dev(); dev != "" && failed[dev] {
			continue
		}
		if err := o.run(m.k); err != nil {
			errs = append(errs, fmt.Errorf("overlay: %s: %w", o, err))
			if o.kind == opAddLink || o.kind == opUpdateLink {
				failed[o.link.Name] = true
			}
			continue
		}
		done++
		m.log.Debug("overlay change", "op", o.String())
	}
	if len(ops) > 0 {
		m.log.Info("overlay converged", "changes", done, "planned", len(ops), "errors", len(errs))
	}
	return errors.Join(errs...)
}
