package doctor

import (
	"context"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api"
)

// VXLAN's encapsulation overhead and the smallest overlay MTU the overlay
// package accepts (see overlay.render).
const (
	vxlanOverhead4 = 50
	vxlanOverhead6 = 70
	minOverlayMTU  = 576
	// fullMTU is the MTU tasks get on a standard Ethernet underlay.
	fullMTU = 1450
)

// localAgent is what the local agent said, if it answered.
type localAgent struct {
	err     error
	info    api.Info
	members []api.Member
}

func probeAgent(ctx context.Context, o Options) localAgent {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, members, err := o.Host.LocalAgent(ctx, o.APISocket)
	return localAgent{err: err, info: info, members: members}
}

// portChecks checks that each port the agent listens on is free. A port
// that is taken while the local agent answers is the agent's own: skipped.
func portChecks(o Options, agent localAgent) []Finding {
	ports := []struct {
		id, network string
		port        int
		flag        string
	}{
		{"port/gossip-tcp", "tcp", o.GossipPort, "--gossip-port"},
		{"port/gossip-udp", "udp", o.GossipPort, "--gossip-port"},
		{"port/raft", "tcp", o.RaftPort, "--raft-port"},
		{"port/api", "tcp", o.APIPort, "--api-port"},
	}
	var out []Finding
	for _, p := range ports {
		addr := net.JoinHostPort(o.Bind, strconv.Itoa(p.port))
		err := o.Host.Listen(p.network, addr)
		switch {
		case err == nil:
			out = append(out, Finding{ID: p.id, Status: OK, Detail: fmt.Sprintf("%s %s is free", p.network, addr)})
		case agent.err == nil:
			out = append(out, Finding{ID: p.id, Status: Skip, Detail: fmt.Sprintf(
				"%s %s is taken, and a shoal agent answers on %s: it is the agent's own", p.network, addr, o.APISocket)})
		default:
			out = append(out, Finding{ID: p.id, Status: Fail, Detail: fmt.Sprintf("cannot listen on %s %s: %v", p.network, addr, err),
				Fix: fmt.Sprintf("stop what holds it (ss -lnp 'sport = :%d' names it) or pick another port with %s", p.port, p.flag)})
		}
	}
	return out
}

// networkChecks checks the underlay interface: its MTU leaves room for
// VXLAN, and the agent can turn on forwarding there.
func networkChecks(o Options) []Finding {
	// The agent advertises --advertise, else a specific --bind, else an
	// address of its own choosing (see Host.Underlay).
	adv := o.Advertise
	if ip := net.ParseIP(o.Bind); adv == "" && ip != nil && !ip.IsUnspecified() {
		adv = o.Bind
	}
	l, err := o.Host.Underlay(adv)
	if err != nil {
		fix := "pass --advertise with the IPv4 address other agents reach this one at, held by one of this host's interfaces"
		skip := "no underlay interface: " + err.Error()
		return []Finding{{ID: "mtu", Status: Fail, Detail: skip, Fix: fix}, {ID: "ip-forward", Status: Skip, Detail: skip}}
	}
	return []Finding{mtuCheck(l), forwardCheck(o.Host, l)}
}

func mtuCheck(l Link) Finding {
	const id = "mtu"
	overhead := vxlanOverhead4
	if l.IPv6 {
		overhead = vxlanOverhead6
	}
	overlay := l.MTU - overhead
	switch {
	case overlay < minOverlayMTU:
		return Finding{ID: id, Status: Fail, Detail: fmt.Sprintf("%s has MTU %d: VXLAN (%d bytes) leaves %d, under the overlay's minimum %d",
			l, l.MTU, overhead, overlay, minOverlayMTU),
			Fix: fmt.Sprintf("ip link set %s mtu %d (or the network's configuration)", l.Name, fullMTU+overhead)}
	case overlay < fullMTU:
		return Finding{ID: id, Status: Warn, Detail: fmt.Sprintf("%s has MTU %d: tasks get MTU %d on the overlay (VXLAN takes %d; %d needs %d)",
			l, l.MTU, overlay, overhead, fullMTU, fullMTU+overhead),
			Fix: fmt.Sprintf("ip link set %s mtu %d if the network carries it; otherwise nothing to do, tasks work with the smaller MTU", l.Name, fullMTU+overhead)}
	}
	return Finding{ID: id, Status: OK, Detail: fmt.Sprintf("%s has MTU %d: tasks get MTU %d on the overlay", l, l.MTU, overlay)}
}

// forwardCheck: the agent does not need net.ipv4.ip_forward; it turns
// forwarding on per device (the overlay's bridges and VXLAN devices, and
// the underlay device when a load balancer runs; see overlay and
// agent/netctl). What it needs is to be able to write those settings.
func forwardCheck(h Host, l Link) Finding {
	const id = "ip-forward"
	devFile := path.Join("/proc/sys/net/ipv4/conf", l.Name, "forwarding")
	if !h.Writable(devFile) {
		return Finding{ID: id, Status: Fail, Detail: fmt.Sprintf("%s is not writable: the agent cannot turn forwarding on for published ports and the overlay", devFile),
			Fix: "run the agent as root in the host's network namespace, with /proc/sys mounted read-write"}
	}
	b, err := h.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return Finding{ID: id, Status: Warn, Detail: fmt.Sprintf("cannot read /proc/sys/net/ipv4/ip_forward: %v", err),
			Fix: "mount /proc (the agent reads and writes /proc/sys/net)"}
	}
	if strings.TrimSpace(string(b)) == "1" {
		return Finding{ID: id, Status: OK, Detail: "net.ipv4.ip_forward=1 (on for every interface)"}
	}
	return Finding{ID: id, Status: OK, Detail: fmt.Sprintf(
		"net.ipv4.ip_forward=0; not needed: the agent turns forwarding on for its overlay devices, and for %s when it runs a load balancer", l.Name)}
}
