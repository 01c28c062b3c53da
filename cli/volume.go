package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/shoal-org/shoal/api"
)

// VolumeCmd is `agentctl volume`. A volume belongs to one node (docker's
// local driver): the same name on two nodes is two volumes, so every
// command takes --node and, without it, acts on all nodes.
type VolumeCmd struct {
	Ls      VolumeLsCmd      `cmd:"" aliases:"list" help:"List the volumes of every node (or one, with --node)."`
	Inspect VolumeInspectCmd `cmd:"" help:"Show volumes in detail, one object per node that has them."`
	Rm      VolumeRmCmd      `cmd:"" aliases:"remove" help:"Remove volumes no task uses, from every node that has them (or one, with --node)."`
}

// volumeRow is one line of `volume ls`; its field names are docker's JSON
// keys, plus Node and UsedBy.
type volumeRow struct {
	Driver     string
	Name       string
	Node       string
	Mountpoint string
	Scope      string
	UsedBy     string
}

var volumeTable = table[volumeRow]{
	header: []string{"DRIVER", "VOLUME NAME", "NODE", "USED BY"},
	cells:  func(r volumeRow) []string { return []string{r.Driver, r.Name, r.Node, r.UsedBy} },
	id:     func(r volumeRow) string { return r.Name },
}

// VolumeLsCmd is `agentctl volume ls`.
type VolumeLsCmd struct {
	ListFlags
	Node string `placeholder:"NODE" help:"Only this node's volumes (hostname, ID or ID prefix)."`
}

// Run lists volumes; nodes that could not be asked are named on stderr.
func (l *VolumeLsCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	list, err := c.Volumes(context.Background(), api.VolumeOptions{Node: l.Node})
	if err != nil {
		return err
	}
	warn(list.Warnings)
	rows := make([]volumeRow, 0, len(list.Volumes))
	for _, v := range list.Volumes {
		rows = append(rows, volumeRow{Driver: v.Driver, Name: v.Name, Node: v.NodeHostname, Mountpoint: v.Mountpoint,
			Scope: v.Scope, UsedBy: strings.Join(v.UsedBy, ",")})
	}
	if l.Quiet {
		rows = uniqueNames(rows)
	}
	return volumeTable.print(g.Out, l.ListFlags, rows)
}

// uniqueNames keeps the first row of each name (-q prints names, and one
// name on three nodes is one name to remove).
func uniqueNames(rows []volumeRow) []volumeRow {
	seen := map[string]bool{}
	out := rows[:0:0]
	for _, r := range rows {
		if !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r)
		}
	}
	return out
}

// VolumeInspectCmd is `agentctl volume inspect`.
type VolumeInspectCmd struct {
	Format  string   `short:"f" help:"Go template applied to each volume, e.g. '{{.Mountpoint}}'."`
	Node    string   `placeholder:"NODE" help:"Only this node's volumes."`
	Volumes []string `arg:"" help:"Volume names."`
}

// Run prints each named volume of every node that has it.
func (i *VolumeInspectCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	list, err := c.Volumes(context.Background(), api.VolumeOptions{Node: i.Node})
	if err != nil {
		return err
	}
	warn(list.Warnings)
	var out []api.Volume
	var errs []error
	for _, name := range i.Volumes {
		n := len(out)
		for _, v := range list.Volumes {
			if v.Name == name {
				out = append(out, v)
			}
		}
		if len(out) == n {
			errs = append(errs, fmt.Errorf("no volume %s on %s: agentctl volume ls lists them", name, nodeOrAll(i.Node)))
		}
	}
	if err := printObjects(g.Out, i.Format, out); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// VolumeRmCmd is `agentctl volume rm`.
type VolumeRmCmd struct {
	Node    string   `placeholder:"NODE" help:"Remove it from this node only."`
	Volumes []string `arg:"" help:"Volume names."`
}

// Run removes each volume, going on past failures, and prints each name
// removed (with the nodes it went from).
func (r *VolumeRmCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range r.Volumes {
		resp, err := c.VolumeRemove(context.Background(), name, api.VolumeOptions{Node: r.Node})
		warn(resp.Warnings)
		if len(resp.Nodes) > 0 {
			fmt.Fprintf(g.Out, "%s (%s)\n", name, strings.Join(resp.Nodes, ", "))
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func nodeOrAll(node string) string {
	if node == "" {
		return "any node"
	}
	return "node " + node
}
