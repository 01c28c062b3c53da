package cli

import (
	"context"
	"fmt"
	"net/http"
	"sort"

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
	var info api.Info
	if err := c.Do(context.Background(), http.MethodGet, "/v1/info", nil, &info); err != nil {
		return err
	}
	switch i.Format {
	case "json":
		return table[api.Info]{}.print(g.Out, ListFlags{Format: "json"}, []api.Info{info})
	case "":
	default:
		return printTemplate(g.Out, i.Format, []api.Info{info})
	}
	fmt.Fprintf(g.Out, "Node:          %s (%s)\n", info.Name, info.NodeID)
	fmt.Fprintf(g.Out, "Address:       %s (API port %d)\n", info.Addr, info.APIPort)
	fmt.Fprintf(g.Out, "Version:       %s\n", info.Version)
	if !info.InCluster {
		fmt.Fprintln(g.Out, "Cluster:       none (run `agent init` or `agent join`)")
		return nil
	}
	fmt.Fprintf(g.Out, "Cluster:       %s, recovery generation %s\n", info.ClusterID, generationText(info))
	fmt.Fprintf(g.Out, "Raft:          %s, role %s, %d voters, applied index %d\n", info.RaftState, info.Role, info.Voters, info.AppliedIdx)
	leader := info.LeaderName
	if leader == "" {
		leader = "none reachable"
	}
	fmt.Fprintf(g.Out, "Leader:        %s\n", leader)
	fmt.Fprintf(g.Out, "Nodes:         %d\n", info.Nodes)
	if info.Dataplane != "" {
		fmt.Fprintf(g.Out, "Dataplane:     %s\n", info.Dataplane)
	}
	return nil
}

func sortStrings(s []string) { sort.Strings(s) }

// generationText is the recovery generation, and the higher one this agent
// is rejoining.
func generationText(info api.Info) string {
	if info.StaleGeneration != "" {
		return info.Generation + " (stale: rejoining generation " + info.StaleGeneration + ")"
	}
	return info.Generation
}
