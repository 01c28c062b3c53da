package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// AttachRequest asks for one network interface of a task.
type AttachRequest struct {
	Network string
	IP      netip.Addr
}

// Attachment is one network interface given to a task.
type Attachment struct {
	Network string
	// IP is the task's address with the network's per-node prefix length.
	IP      netip.Prefix
	Gateway netip.Addr
	// HostVeth is the host end of the task's veth, a port of the bridge.
	HostVeth string
}

// Task veth naming: the host end is vethPrefix + 10 hex digits of the task
// ID's hash + the interface index, at most 15 bytes; the alias carries the
// full task ID so Detach finds the veths after an agent restart.
const (
	vethPrefix  = "shv"
	aliasPrefix = "shoal-task "
	maxTaskNets = 100
	maxTaskID   = 200
)

func hostVethName(taskID string, i int) string {
	h := sha256.Sum256([]byte(taskID))
	return fmt.Sprintf("%s%s%d", vethPrefix, hex.EncodeToString(h[:])[:10], i)
}

func vethAlias(taskID string) string { return aliasPrefix + taskID }

// Attach gives the task whose network namespace is at netnsPath one
// interface per request: a veth pair whose host end is a port of the
// network's bridge and whose peer is eth0, eth1, … in the task's namespace,
// addressed with the requested IP, with lo up, a default route via the
// first network's gateway and, for each later network with a CIDR, a route
// to that CIDR via its gateway. The networks must be in the last applied Desired
// and each IP must be a host address of this node's subnet (not the network,
// gateway or broadcast address). On error nothing is left behind.
func (m *Manager) Attach(ctx context.Context, netnsPath string, taskID string, nets []AttachRequest) ([]Attachment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	veths, err := m.taskVeths(netnsPath, taskID, nets)
	if err != nil {
		return nil, err
	}
	out := make([]Attachment, 0, len(veths))
	for i, v := range veths {
		err := ctx.Err()
		if err == nil {
			err = m.k.AddTaskVeth(v)
		}
		if err != nil {
			err = fmt.Errorf("overlay: attach task %q to network %q: %w", taskID, nets[i].Network, err)
			for _, done := range veths[:i] {
				if derr := m.k.DelLink(done.Host); derr != nil {
					err = errors.Join(err, fmt.Errorf("overlay: undo attach: delete %s: %w", done.Host, derr))
				}
			}
			return nil, err
		}
		out = append(out, Attachment{Network: nets[i].Network, IP: v.Addr,
			Gateway: Gateway(v.Addr), HostVeth: v.Host})
	}
	m.log.Debug("task attached", "task", taskID, "netns", netnsPath, "interfaces", len(out))
	return out, nil
}

// taskVeths validates an Attach request and describes its veths.
func (m *Manager) taskVeths(netnsPath, taskID string, nets []AttachRequest) ([]TaskVeth, error) {
	switch {
	case taskID == "" || len(taskID) > maxTaskID:
		return nil, fmt.Errorf("%w: task ID %q must have 1 to %d bytes", ErrInvalid, taskID, maxTaskID)
	case netnsPath == "":
		return nil, fmt.Errorf("%w: task %q: empty netns path", ErrInvalid, taskID)
	case len(nets) == 0 || len(nets) > maxTaskNets:
		return nil, fmt.Errorf("%w: task %q: %d networks requested, want 1 to %d", ErrInvalid, taskID, len(nets), maxTaskNets)
	}
	seen := map[string]bool{}
	veths := make([]TaskVeth, 0, len(nets))
	for i, r := range nets {
		n, ok := m.nets[r.Network]
		if !ok {
			return nil, fmt.Errorf("%w: task %q: network %q is not configured on this node (apply it first)",
				ErrInvalid, taskID, r.Network)
		}
		if seen[r.Network] {
			return nil, fmt.Errorf("%w: task %q: network %q requested twice", ErrInvalid, taskID, r.Network)
		}
		seen[r.Network] = true
		if !isHostAddr(n.subnet, r.IP) {
			return nil, fmt.Errorf("%w: task %q: address %s is not a host address of network %q's subnet %s on this node",
				ErrInvalid, taskID, r.IP, r.Network, n.subnet)
		}
		v := TaskVeth{Host: hostVethName(taskID, i), Alias: vethAlias(taskID), Bridge: n.bridge,
			MTU: n.mtu, NetNS: netnsPath, Peer: fmt.Sprintf("eth%d", i),
			Addr: netip.PrefixFrom(r.IP, n.subnet.Bits())}
		v.Gateway = Gateway(n.subnet)
		if i == 0 {
			v.Default = true
		} else if n.cidr.IsValid() {
			v.Routes = []netip.Prefix{n.cidr}
		}
		veths = append(veths, v)
	}
	return veths, nil
}

// isHostAddr reports whether a is in subnet and is neither its network,
// gateway nor broadcast address.
func isHostAddr(subnet netip.Prefix, a netip.Addr) bool {
	if !subnet.Contains(a) || a == subnet.Addr() || a == Gateway(subnet) {
		return false
	}
	return a != lastAddr(subnet)
}

// Detach removes the task's veths (both ends). It succeeds when there is
// nothing to remove, e.g. because the task's namespace is already gone,
// which takes the veths with it.
func (m *Manager) Detach(ctx context.Context, taskID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	veths, err := m.k.TaskVeths()
	if err != nil {
		return fmt.Errorf("overlay: detach task %q: list veths: %w", taskID, err)
	}
	prefix := hostVethName(taskID, 0)
	prefix = prefix[:len(prefix)-1]
	var errs []error
	for _, v := range veths {
		if v.Alias != vethAlias(taskID) || !strings.HasPrefix(v.Name, prefix) {
			continue
		}
		if err := m.k.DelLink(v.Name); err != nil {
			errs = append(errs, fmt.Errorf("overlay: detach task %q: delete %s: %w", taskID, v.Name, err))
		}
	}
	return errors.Join(errs...)
}
