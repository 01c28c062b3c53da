package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/shoal-org/shoal/api"
)

// InfoCmd is `agent info` and `agentctl info`.
type InfoCmd struct {
	Format string `help:"json, or a Go template such as '{{.LeaderName}}'."`
}

// Run prints what the agent says about itself.
func (i *InfoCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	info, err := c.Info(context.Background())
	if err != nil {
		return err
	}
	switch i.Format {
	case "json":
		return table[api.Info]{}.print(g.Out, ListFlags{Format: "json"}, []api.Info{info})
	case "":
	default:
		return printTemplate(g.Out, i.Format, []api.Info{info})
	}
	writeInfo(g.Out, info, nowFunc())
	return nil
}

// writeInfo prints info for people; now dates "since" of a lost leader.
func writeInfo(w io.Writer, info api.Info, now time.Time) {
	fmt.Fprintf(w, "Node:          %s (%s)\n", info.Name, info.NodeID)
	fmt.Fprintf(w, "Address:       %s (API port %d)\n", info.Addr, info.APIPort)
	fmt.Fprintf(w, "Version:       %s\n", info.Version)
	if !info.InCluster {
		fmt.Fprintln(w, "Cluster:       none (run `agent init` or `agent join`)")
		return
	}
	fmt.Fprintf(w, "Cluster:       %s, recovery generation %s\n", info.ClusterID, generationText(info))
	fmt.Fprintf(w, "Raft:          %s, role %s, %d voters, applied index %d\n", info.RaftState, info.Role, info.Voters, info.AppliedIdx)
	leader := info.LeaderName
	switch {
	case !info.Authoritative:
		leader = "none reachable" + sinceText(info.NoLeaderSince, now, " since %s (%s ago)")
		if info.LeaderName != "" {
			leader += "; raft still names " + info.LeaderName + ", which does not answer"
		}
	case leader == "":
		leader = info.LeaderID
	}
	fmt.Fprintf(w, "Leader:        %s\n", leader)
	fmt.Fprintf(w, "Nodes:         %d\n", info.Nodes)
	if info.Dataplane != "" {
		fmt.Fprintf(w, "Dataplane:     %s\n", info.Dataplane)
	}
}

func sortStrings(s []string) { sort.Strings(s) }

// generationText is the recovery generation, and the higher one this agent
// is rejoining.
func generationText(info api.Info) string {
	gen := info.Generation
	if gen == "" {
		gen = "1" // an agent of a cluster never recovered (or older than generations)
	}
	if info.StaleGeneration != "" {
		return gen + " (stale: rejoining generation " + info.StaleGeneration + ")"
	}
	return gen
}
