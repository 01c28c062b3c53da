package lab

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// nftTable is the lab's table in the hub namespace. It lives and dies with
// that namespace, so it can never touch the machine's own rules.
const nftTable = "shoal_lab"

// partitionScript renders an nft script that replaces the lab table with
// one that drops bridged frames (ARP included) between the ports in group
// and the ports of the other nodes. Frames to and from the hub itself (the
// registry) are not forwarded frames and stay allowed. Pure.
func partitionScript(group, others []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table bridge %s\ndelete table bridge %s\n", nftTable, nftTable)
	fmt.Fprintf(&b, "table bridge %s {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n", nftTable)
	if len(group) > 0 && len(others) > 0 {
		g, o := portSet(group), portSet(others)
		fmt.Fprintf(&b, "\t\tiifname %s oifname %s drop\n", g, o)
		fmt.Fprintf(&b, "\t\tiifname %s oifname %s drop\n", o, g)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// healScript removes the lab table whether or not it exists. Pure.
func healScript() string {
	return fmt.Sprintf("table bridge %s\ndelete table bridge %s\n", nftTable, nftTable)
}

// portSet renders the hub ports of node indexes as an nft anonymous set.
func portSet(ks []int) string {
	q := make([]string, len(ks))
	for i, k := range ks {
		q[i] = `"` + hubPort(k) + `"`
	}
	return "{ " + strings.Join(q, ", ") + " }"
}

// splitNodes resolves names against the lab's nodes into the named group
// and the rest, both sorted. Pure.
func splitNodes(all []Node, names []string) (group, others []int, err error) {
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("partition: name at least one node, e.g. `lab partition n3`")
	}
	in := map[string]bool{}
	for _, name := range names {
		in[name] = true
	}
	for _, n := range all {
		if in[n.Name] {
			group = append(group, n.Index)
			delete(in, n.Name)
		} else {
			others = append(others, n.Index)
		}
	}
	if len(in) > 0 {
		var unknown []string
		for name := range in {
			unknown = append(unknown, name)
		}
		sort.Strings(unknown)
		return nil, nil, fmt.Errorf("partition %s: %w (the lab has n1..n%d)", strings.Join(unknown, ", "), ErrUnknownNode, len(all))
	}
	sort.Ints(group)
	sort.Ints(others)
	return group, others, nil
}

// applyNft runs an nft script in the hub namespace.
func applyNft(ctx context.Context, c Config, script string) error {
	if _, err := run(ctx, script, nsArgv(c.hubNetns(), "nft", "-f", "-")...); err != nil {
		return fmt.Errorf("apply nft rules in %s: %w", c.hubNetns(), err)
	}
	return nil
}
