package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api"
)

// NodeCmd is `agentctl node`.
type NodeCmd struct {
	Ls      NodeLsCmd      `cmd:"" aliases:"list" help:"List nodes."`
	Inspect NodeInspectCmd `cmd:"" help:"Show nodes in detail."`
	Update  NodeUpdateCmd  `cmd:"" help:"Change a node's availability or labels."`
	Rm      NodeRmCmd      `cmd:"" aliases:"remove" help:"Remove Down nodes from the cluster."`
}

// nodeRow is one line of `node ls`; its field names are docker's JSON keys.
type nodeRow struct {
	ID            string
	Self          bool
	Hostname      string
	Status        string
	Availability  string
	ManagerStatus string
	EngineVersion string
}

var nodeTable = table[nodeRow]{
	header: []string{"ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"},
	cells: func(r nodeRow) []string {
		id := r.ID
		if r.Self {
			id += " *"
		}
		return []string{id, r.Hostname, r.Status, r.Availability, r.ManagerStatus, r.EngineVersion}
	},
	id: func(r nodeRow) string { return r.ID },
}

// NodeLsCmd is `agentctl node ls`.
type NodeLsCmd struct {
	ListFlags
}

// Run lists nodes.
func (n *NodeLsCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	nodes, err := c.Nodes(context.Background())
	if err != nil {
		return err
	}
	warnNodes(nodes)
	return nodeTable.print(g.Out, n.ListFlags, nodeRows(nodes))
}

// nodeRows renders nodes sorted by hostname.
func nodeRows(nodes []api.Node) []nodeRow {
	nodes = slices.Clone(nodes)
	sort.Slice(nodes, func(i, j int) bool {
		if nodes[i].Hostname != nodes[j].Hostname {
			return nodes[i].Hostname < nodes[j].Hostname
		}
		return nodes[i].ID < nodes[j].ID
	})
	rows := make([]nodeRow, 0, len(nodes))
	for _, nd := range nodes {
		rows = append(rows, nodeRow{ID: nd.ID, Self: nd.Self, Hostname: nd.Hostname, Status: capitalize(string(nd.Status)),
			Availability: capitalize(string(nd.Availability)), ManagerStatus: nd.ManagerStatus, EngineVersion: nd.EngineVersion})
	}
	return rows
}

// NodeInspectCmd is `agentctl node inspect`.
type NodeInspectCmd struct {
	Pretty bool     `help:"Human-readable output."`
	Format string   `short:"f" help:"Go template applied to each node."`
	Nodes  []string `arg:"" help:"Node IDs, ID prefixes or hostnames ('self' for this agent's node)."`
}

// Run prints nodes.
func (n *NodeInspectCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	var nodes []api.Node
	for _, ref := range n.Nodes {
		nd, err := getNode(c, ref)
		if err != nil {
			return err
		}
		nodes = append(nodes, nd)
	}
	warnNodes(nodes)
	if !n.Pretty {
		return printObjects(g.Out, n.Format, nodes)
	}
	for i, nd := range nodes {
		if i > 0 {
			fmt.Fprintln(g.Out)
		}
		printNodePretty(g.Out, nd)
	}
	return nil
}

func getNode(c *api.Client, ref string) (api.Node, error) {
	if ref == "self" {
		info, err := c.Info(context.Background())
		if err != nil {
			return api.Node{}, err
		}
		ref = info.NodeID
	}
	nd, err := c.Node(context.Background(), ref)
	return nd, err
}

func printNodePretty(w io.Writer, n api.Node) {
	fmt.Fprintf(w, "ID:\t\t\t%s\n", n.ID)
	if len(n.Labels) > 0 {
		fmt.Fprintln(w, "Labels:")
		keys := make([]string, 0, len(n.Labels))
		for k := range n.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, " - %s=%s\n", k, n.Labels[k])
		}
	}
	fmt.Fprintf(w, "Hostname:\t\t%s\n", n.Hostname)
	fmt.Fprintf(w, "Joined at:\t\t%s\n", n.CreatedAt.Format(time.RFC3339))
	fmt.Fprintln(w, "Status:")
	fmt.Fprintf(w, " State:\t\t\t%s\n", capitalize(string(n.Status)))
	if n.StatusMessage != "" {
		fmt.Fprintf(w, " Message:\t\t%s\n", n.StatusMessage)
	}
	fmt.Fprintf(w, " Availability:\t\t%s\n", capitalize(string(n.Availability)))
	fmt.Fprintf(w, " Address:\t\t%s\n", n.Addr)
	fmt.Fprintln(w, "Raft:")
	fmt.Fprintf(w, " Role:\t\t\t%s\n", n.Role)
	if n.ManagerStatus != "" {
		fmt.Fprintf(w, " Manager Status:\t%s\n", n.ManagerStatus)
	}
	fmt.Fprintln(w, "Platform:")
	fmt.Fprintf(w, " Operating System:\t%s\n", n.Platform.OS)
	fmt.Fprintf(w, " Architecture:\t\t%s\n", n.Platform.Architecture)
	fmt.Fprintln(w, "Resources:")
	fmt.Fprintf(w, " CPUs:\t\t\t%g\n", float64(n.Resources.NanoCPUs)/1e9)
	fmt.Fprintf(w, " Memory:\t\t%s\n", humanBytes(n.Resources.MemoryBytes))
	if n.Subnet != "" {
		fmt.Fprintf(w, "Overlay subnet:\t\t%s\n", n.Subnet)
	}
	if n.Dataplane != "" {
		fmt.Fprintf(w, "Dataplane:\t\t%s\n", n.Dataplane)
	}
	fmt.Fprintf(w, "Engine Version:\t\t%s\n", n.EngineVersion)
}

func humanBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.4g%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// NodeUpdateCmd is `agentctl node update`.
type NodeUpdateCmd struct {
	Availability string   `enum:",active,pause,drain" default:"" help:"active, pause (keep tasks, place none) or drain (move tasks away)."`
	LabelAdd     []string `help:"Add or change a label (key=value); repeatable."`
	LabelRm      []string `help:"Remove a label by key; repeatable."`
	Node         string   `arg:"" help:"Node ID, ID prefix or hostname."`
}

// Run updates the node.
func (n *NodeUpdateCmd) Run(g *Globals) error {
	upd := api.NodeUpdate{Availability: n.Availability, LabelRm: n.LabelRm}
	for _, kv := range n.LabelAdd {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return fmt.Errorf("label %q: expected key=value", kv)
		}
		if upd.LabelAdd == nil {
			upd.LabelAdd = map[string]string{}
		}
		upd.LabelAdd[k] = v
	}
	if upd.Availability == "" && len(upd.LabelAdd) == 0 && len(upd.LabelRm) == 0 {
		return fmt.Errorf("nothing to update: pass --availability, --label-add or --label-rm")
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	nd, err := c.NodeUpdate(context.Background(), n.Node, upd)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.Out, nd.Hostname)
	return nil
}

// NodeRmCmd is `agentctl node rm`.
type NodeRmCmd struct {
	Force bool     `short:"f" help:"Remove the node even if it is not Down."`
	Nodes []string `arg:"" help:"Node IDs, ID prefixes or hostnames."`
}

// Run removes nodes, stopping at the first error.
func (n *NodeRmCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	for _, ref := range n.Nodes {
		if err := c.NodeRemove(context.Background(), ref, n.Force); err != nil {
			return err
		}
		fmt.Fprintln(g.Out, ref)
	}
	return nil
}
