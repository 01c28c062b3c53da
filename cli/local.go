// Package cli holds agentctl's command tree and the commands that talk to
// the local agent (`agent init`, `join`, `join-token`, `leave`, `members`),
// with the formatting both binaries share. It talks to agents only through
// package api, so agentctl links no part of the daemon; the daemon's own
// commands (`agent run`, `recover`, `doctor`) are in cli/daemon.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/shoal-org/shoal/api"
)

// Globals is what every command receives.
type Globals struct {
	Out    io.Writer
	Client func() (*api.Client, error)
}

// RunCLI parses args into grammar and runs the chosen command, printing
// errors the way both binaries do. It returns the process exit code.
func RunCLI(name, description string, grammar any, args []string, client func() (*api.Client, error)) int {
	g := &Globals{Out: os.Stdout, Client: client}
	k, err := kong.New(grammar, kong.Name(name), kong.Description(description), kong.UsageOnError(), kong.Bind(g))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	kctx, err := k.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	if err := kctx.Run(g); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	return 0
}

// InitCmd is `agent init`.
type InitCmd struct {
	OverlayCIDR string `name:"overlay-cidr" help:"Address range split into per-node subnets for the overlay (default 10.240.0.0/16)."`
}

// Run asks the local agent to found a cluster.
func (i *InitCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	resp, err := c.ClusterInit(context.Background(), api.InitRequest{OverlayCIDR: i.OverlayCIDR})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "Cluster initialized: this node (%s) is now its leader.\n\n", resp.NodeID)
	fmt.Fprintf(g.Out, "To add an agent to this cluster, run the following command on its host:\n\n    %s\n\n", resp.JoinCommand)
	return nil
}

// JoinCmd is `agent join`.
type JoinCmd struct {
	Token string `required:"" env:"SHOAL_JOIN_TOKEN" help:"Join token from 'agent join-token' on a member."`
	Peer  string `arg:"" help:"A member's address: HOST or HOST:PORT (API port, default 7948)."`
}

// Run asks the local agent to join.
func (j *JoinCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := c.ClusterJoin(ctx, api.JoinRequest{Token: j.Token, Peer: j.Peer})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "This node (%s) joined cluster %s.\n", resp.NodeID, resp.ClusterID)
	return nil
}

// JoinTokenCmd is `agent join-token`.
type JoinTokenCmd struct {
	Rotate bool `help:"Replace the token; the old one stops working (nodes already joined are not affected)."`
	Quiet  bool `short:"q" help:"Only print the token."`
}

// Run prints or rotates the token.
func (j *JoinTokenCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	read := c.JoinToken
	if j.Rotate {
		read = c.RotateJoinToken
	}
	resp, err := read(context.Background())
	if err != nil {
		return err
	}
	if j.Quiet {
		fmt.Fprintln(g.Out, resp.Token)
		return nil
	}
	if j.Rotate {
		fmt.Fprintln(g.Out, "Join token rotated.")
	}
	fmt.Fprintf(g.Out, "To add an agent to this cluster, run the following command on its host:\n\n    %s\n\n", resp.JoinCommand)
	return nil
}

// LeaveCmd is `agent leave`.
type LeaveCmd struct{}

// Run asks the local agent to leave.
func (LeaveCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.ClusterLeave(ctx); err != nil {
		return err
	}
	fmt.Fprintln(g.Out, "Node left the cluster.")
	return nil
}

// MembersCmd is `agent members`.
type MembersCmd struct {
	ListFlags
}

// Run prints the gossip view.
func (m *MembersCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	members, err := c.Members(context.Background())
	if err != nil {
		return err
	}
	return table[api.Member]{
		header: []string{"NAME", "ID", "ADDRESS", "STATUS", "TAGS"},
		cells: func(m api.Member) []string {
			return []string{m.Name, m.ID, m.Addr, m.Status, formatTags(m.Tags)}
		},
		id: func(m api.Member) string { return m.ID },
	}.print(g.Out, m.ListFlags, members)
}

func formatTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ",")
}

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(g *Globals) error {
	fmt.Fprintln(g.Out, api.Version)
	return nil
}
