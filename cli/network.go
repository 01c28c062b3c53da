package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// NetworkCmd is `agentctl network`.
type NetworkCmd struct {
	Create  NetworkCreateCmd  `cmd:"" help:"Create an overlay network."`
	Ls      NetworkLsCmd      `cmd:"" aliases:"list" help:"List networks."`
	Inspect NetworkInspectCmd `cmd:"" help:"Show networks in detail."`
	Rm      NetworkRmCmd      `cmd:"" aliases:"remove" help:"Remove networks no service uses."`
}

// NetworkCreateCmd is `agentctl network create`.
type NetworkCreateCmd struct {
	Subnet string   `placeholder:"CIDR" help:"Address range of the network, e.g. 10.242.0.0/16 (default: the next free /24 of 10.241.0.0/16). Every node leases a block of it."`
	Label  []string `short:"l" sep:"none" placeholder:"K=V" help:"Network label; repeatable."`
	Name   string   `arg:"" help:"Network name."`
}

// Run creates the network and prints its ID.
func (n *NetworkCreateCmd) Run(g *Globals) error {
	req, err := n.request()
	if err != nil {
		return err
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	resp, err := c.NetworkCreate(context.Background(), req)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.Out, resp.ID)
	return nil
}

// request validates the flags; the agent checks the name and whether the
// subnet overlaps another network's.
func (n *NetworkCreateCmd) request() (api.NetworkCreateRequest, error) {
	req := api.NetworkCreateRequest{Name: n.Name, Subnet: n.Subnet}
	if n.Subnet != "" {
		p, err := netip.ParsePrefix(n.Subnet)
		if err != nil || !p.Addr().Is4() {
			return req, flagErr("subnet", n.Subnet, "use an IPv4 range in CIDR form, such as 10.242.0.0/16")
		}
		if p.Masked() != p {
			return req, flagErr("subnet", n.Subnet, "host bits are set: use %s", p.Masked())
		}
	}
	var err error
	req.Labels, err = setLabels(nil, "label", n.Label)
	return req, err
}

// networkRow is one line of `network ls`; its field names are docker's
// JSON keys, plus Subnet.
type networkRow struct {
	ID     string
	Name   string
	Driver string
	Scope  string
	Subnet string
}

var networkTable = table[networkRow]{
	header: []string{"NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET"},
	cells:  func(r networkRow) []string { return []string{r.ID, r.Name, r.Driver, r.Scope, r.Subnet} },
	id:     func(r networkRow) string { return r.ID },
}

// networkRows renders networks sorted by name, as docker does.
func networkRows(nets []types.Network, noTrunc bool) []networkRow {
	nets = slices.Clone(nets)
	slices.SortFunc(nets, func(a, b types.Network) int { return strings.Compare(a.Name, b.Name) })
	rows := make([]networkRow, 0, len(nets))
	for _, n := range nets {
		id := n.ID
		if !noTrunc {
			id = truncID(id)
		}
		rows = append(rows, networkRow{ID: id, Name: n.Name, Driver: "overlay", Scope: "swarm", Subnet: n.Subnet})
	}
	return rows
}

// NetworkLsCmd is `agentctl network ls`.
type NetworkLsCmd struct {
	ListFlags
	NoTrunc bool `help:"Do not truncate IDs."`
}

// Run lists networks.
func (l *NetworkLsCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	nets, err := c.Networks(context.Background())
	if err != nil {
		return err
	}
	return networkTable.print(g.Out, l.ListFlags, networkRows(nets, l.NoTrunc))
}

// NetworkInspectCmd is `agentctl network inspect`.
type NetworkInspectCmd struct {
	Pretty   bool     `help:"Human-readable output, with each node's lease by hostname."`
	Format   string   `short:"f" help:"Go template applied to each network, e.g. '{{.Subnet}}'."`
	Networks []string `arg:"" help:"Network names, IDs or ID prefixes."`
}

// Run prints networks: a JSON array, a template per network, or --pretty.
func (i *NetworkInspectCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	nets := make([]types.Network, 0, len(i.Networks))
	for _, ref := range i.Networks {
		n, err := c.Network(context.Background(), ref)
		if err != nil {
			return err
		}
		nets = append(nets, n)
	}
	if !i.Pretty {
		return printObjects(g.Out, i.Format, nets)
	}
	nodes, err := c.Nodes(context.Background())
	if err != nil {
		return fmt.Errorf("read nodes for their hostnames: %w", err)
	}
	hostnames := make(map[string]string, len(nodes))
	for _, nd := range nodes {
		hostnames[nd.ID] = nd.Hostname
	}
	for k, n := range nets {
		if k > 0 {
			fmt.Fprintln(g.Out)
		}
		writeNetworkPretty(g.Out, n, hostnames)
	}
	return nil
}

// writeNetworkPretty lays a network out in the style of `service inspect
// --pretty`; hostnames maps node IDs to hostnames (a node missing from it
// is shown by ID).
func writeNetworkPretty(w io.Writer, n types.Network, hostnames map[string]string) {
	fmt.Fprintf(w, "ID:             %s\n", n.ID)
	fmt.Fprintf(w, "Name:           %s\n", n.Name)
	if len(n.Labels) > 0 {
		fmt.Fprintln(w, "Labels:")
		for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
			fmt.Fprintf(w, " %s=%s\n", k, n.Labels[k])
		}
	}
	fmt.Fprintln(w, "Driver:         overlay")
	fmt.Fprintln(w, "Scope:          swarm")
	fmt.Fprintf(w, "Subnet:         %s\n", n.Subnet)
	fmt.Fprintf(w, "VNI:            %d\n", n.VNI)
	fmt.Fprintf(w, "Default:        %t\n", n.Default)
	if !n.CreatedAt.IsZero() {
		fmt.Fprintf(w, "Created at:     %s\n", n.CreatedAt.UTC().Format(time.RFC3339))
	}
	if len(n.Leases) == 0 {
		fmt.Fprintln(w, "Leases:         none")
		return
	}
	type lease struct{ node, subnet string }
	leases := make([]lease, 0, len(n.Leases))
	for id, subnet := range n.Leases {
		name := hostnames[id]
		if name == "" {
			name = id
		}
		leases = append(leases, lease{name, subnet})
	}
	slices.SortFunc(leases, func(a, b lease) int { return strings.Compare(a.node, b.node) })
	fmt.Fprintln(w, "Leases:")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, " NODE\tSUBNET")
	for _, l := range leases {
		fmt.Fprintf(tw, " %s\t%s\n", l.node, l.subnet)
	}
	_ = tw.Flush() // w is a buffer or stdout; a failed write shows anyway
}

// NetworkRmCmd is `agentctl network rm`.
type NetworkRmCmd struct {
	Networks []string `arg:"" help:"Network names, IDs or ID prefixes."`
}

// Run removes each network, going on past failures, and reports them all
// with the agent's own words (which name the network and the fix).
func (r *NetworkRmCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range r.Networks {
		if err := c.NetworkRemove(context.Background(), ref); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(g.Out, ref)
	}
	return errors.Join(errs...)
}
