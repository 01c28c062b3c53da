package spec

import (
	"fmt"
	"net/netip"
	"regexp"

	"github.com/shoal-org/shoal/overlay"
)

var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)

// ValidateNetworkName checks a network name: it becomes a DNS label
// (web.NETWORK) and part of device names.
func ValidateNetworkName(name string) error {
	if len(name) > MaxNetworkNameLen || !networkName.MatchString(name) {
		return invalid("network name", name, "is not a valid network name",
			fmt.Sprintf("use 1-%d letters, digits, '-' or '_', starting with a letter or digit", MaxNetworkNameLen))
	}
	return nil
}

// reservedRanges may never carry an overlay: routes for them would break
// the host itself.
var reservedRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\""},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// ParseSubnet checks a network's range on its own: an IPv4 CIDR without
// host bits, at least a /24 (a VIP block and node blocks), outside
// loopback, link-local, multicast and reserved space.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return p, invalid("subnet", s, "is not a CIDR", "use a form like 10.241.0.0/16")
	case !p.Addr().Is4():
		return p, invalid("subnet", s, "is not IPv4", "use an IPv4 range: only IPv4 overlays are supported")
	case p != p.Masked():
		return p, invalid("subnet", s, "has host bits set", "use "+p.Masked().String())
	case p.Bits() > 24:
		return p, invalid("subnet", s, "is too small", "use a /24 or wider: it is split into a VIP block and one block per node")
	}
	for _, r := range reservedRanges {
		if r.prefix.Overlaps(p) {
			return p, invalid("subnet", s, "overlaps the "+r.what+" range "+r.prefix.String(), "use a private range such as 10.241.0.0/16")
		}
	}
	return p, nil
}

// CheckSubnet checks range p against the cluster: it overlaps no other
// network, contains no node's own address (the leader knows the nodes'
// advertised addresses, not their routing tables), and holds a block for
// every node beside its VIP block.
func CheckSubnet(c Cluster, p netip.Prefix) error {
	for _, n := range c.Networks {
		q, err := netip.ParsePrefix(n.Subnet)
		if err == nil && q.Overlaps(p) {
			return &Error{Field: "subnet", Value: p.String(), Conflict: true,
				Problem: fmt.Sprintf("overlaps network %q (%s)", n.Name, q), Fix: "pick a range that overlaps no network (see `agentctl network ls`)"}
		}
	}
	for _, n := range c.Nodes {
		if a, err := netip.ParseAddr(n.Addr); err == nil && p.Contains(a) {
			return invalid("subnet", p.String(), fmt.Sprintf("contains node %s's address %s", n.Hostname, a),
				"pick a range apart from the nodes' own network: its routes would cut the nodes off from each other")
		}
	}
	blocks := 1<<(overlay.NodeBits(p.Bits())-p.Bits()) - 1
	if len(c.Nodes) > blocks {
		return invalid("subnet", p.String(), fmt.Sprintf("has %d node blocks for %d nodes", blocks, len(c.Nodes)),
			"use a wider range, such as a /16")
	}
	return nil
}

// CheckNetworkCount refuses a network beyond the limit.
func CheckNetworkCount(c Cluster, lim Limits) error {
	if n := int64(len(c.Networks)); n >= lim.Networks {
		return overLimit("networks", n+1, lim.Networks, "networks")
	}
	return nil
}
