package lab

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// hubBatch is the `ip -batch` script that builds the hub namespace: the
// bridge with the hub address and one veth per node whose far end lands in
// the node's namespace as eth0. Pure.
func hubBatch(c Config, nodes int) string {
	var b strings.Builder
	b.WriteString("link set lo up\n")
	fmt.Fprintf(&b, "link add %s type bridge\n", bridgeName)
	fmt.Fprintf(&b, "addr add %s/%d dev %s\n", HubAddr, subnetBits, bridgeName)
	fmt.Fprintf(&b, "link set %s up\n", bridgeName)
	for k := 1; k <= nodes; k++ {
		fmt.Fprintf(&b, "link add %s type veth peer name eth0 netns %s\n", hubPort(k), c.nodeNetns(k))
		fmt.Fprintf(&b, "link set %s master %s up\n", hubPort(k), bridgeName)
	}
	return b.String()
}

// nodeBatch is the `ip -batch` script run in node k's namespace. There is
// deliberately no default route: nothing leaves the lab. Pure.
func nodeBatch(k int) string {
	return fmt.Sprintf("link set lo up\naddr add %s/%d dev eth0\nlink set eth0 up\n", nodeAddr(k), subnetBits)
}

// createNetwork creates the hub and node namespaces and wires them. All
// links are created inside lab namespaces; the root namespace gets nothing.
func createNetwork(ctx context.Context, c Config, nodes int) error {
	names := []string{c.hubNetns()}
	for k := 1; k <= nodes; k++ {
		names = append(names, c.nodeNetns(k))
	}
	for _, n := range names {
		if _, err := run(ctx, "", "ip", "netns", "add", n); err != nil {
			return fmt.Errorf("create namespace: %w", err)
		}
	}
	if _, err := run(ctx, hubBatch(c, nodes), "ip", "-n", c.hubNetns(), "-batch", "-"); err != nil {
		return fmt.Errorf("build hub network: %w", err)
	}
	for k := 1; k <= nodes; k++ {
		if _, err := run(ctx, nodeBatch(k), "ip", "-n", c.nodeNetns(k), "-batch", "-"); err != nil {
			return fmt.Errorf("configure %s: %w", nodeName(k), err)
		}
	}
	return nil
}

// setLink brings the hub side of node k's veth up or down: down is a cut
// cable, as after a power loss of the host.
func setLink(ctx context.Context, c Config, k int, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	if _, err := run(ctx, "", "ip", "-n", c.hubNetns(), "link", "set", hubPort(k), state); err != nil {
		return fmt.Errorf("set link of %s %s: %w", nodeName(k), state, err)
	}
	return nil
}

// extraLinks returns the links of `ip -o link show` output other than lo
// and eth0. Pure.
func extraLinks(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if name != "lo" && name != "eth0" {
			names = append(names, name)
		}
	}
	return names
}

// resetNetns returns a node namespace to its state after Up: no links but
// lo and eth0, no nftables rules. Deleting one end of a veth deletes both,
// so a link may vanish before its turn.
func resetNetns(ctx context.Context, netns string) error {
	out, err := run(ctx, "", "ip", "-n", netns, "-o", "link", "show")
	if err != nil {
		return fmt.Errorf("reset %s: %w", netns, err)
	}
	for _, name := range extraLinks(out) {
		if _, err := run(ctx, "", "ip", "-n", netns, "link", "delete", name); err != nil {
			if _, serr := run(ctx, "", "ip", "-n", netns, "link", "show", name); serr == nil {
				return fmt.Errorf("reset %s: %w", netns, err)
			}
		}
	}
	if _, err := run(ctx, "", nsArgv(netns, "nft", "flush", "ruleset")...); err != nil {
		return fmt.Errorf("reset %s: %w", netns, err)
	}
	return nil
}

// labNetns lists the existing namespaces that belong to lab c, hub last.
func labNetns(c Config) ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var out []string
	hub := false
	for _, e := range ents {
		switch {
		case e.Name() == c.hubNetns():
			hub = true
		case c.isLabNetns(e.Name()):
			out = append(out, e.Name())
		}
	}
	if hub {
		out = append(out, c.hubNetns())
	}
	return out, nil
}

// deleteNetns removes a named namespace; a missing one is fine.
func deleteNetns(ctx context.Context, name string) error {
	if _, err := os.Stat(netnsPath(name)); os.IsNotExist(err) {
		return nil
	}
	if _, err := run(ctx, "", "ip", "netns", "delete", name); err != nil {
		return fmt.Errorf("delete namespace: %w", err)
	}
	return nil
}

// nodeIndexFromNetns returns K for PREFIX-nK, or 0.
func (c Config) nodeIndexFromNetns(name string) int {
	rest, ok := strings.CutPrefix(name, c.Prefix+"-")
	if !ok {
		return 0
	}
	k, _ := nodeIndex(rest)
	return k
}

// itoa is strconv.Itoa, for brevity in argv lists.
func itoa(i int) string { return strconv.Itoa(i) }
