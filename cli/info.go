package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/shoal-org/shoal/agent"
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
	fmt.Fprintf(w, "Cluster:       %s\n", info.ClusterID)
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

// RecoverCmd is `agent recover`, which runs without the daemon.
type RecoverCmd struct {
	DataDir   string   `default:"/var/lib/shoal" help:"The stopped agent's data dir."`
	Advertise string   `required:"" help:"This agent's advertised IP (as given to 'agent run')."`
	RaftPort  int      `default:"7947" help:"This agent's raft port."`
	Survivor  []string `help:"Another surviving agent that becomes a voter, as NODEID@HOST:RAFTPORT; repeatable."`
}

// Run rewrites the raft configuration.
func (r *RecoverCmd) Run(g *Globals) error {
	id, err := agent.Recover(r.DataDir, r.Advertise, r.RaftPort, r.Survivor, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "Raft configuration rewritten: voters are now %s and %d other survivor(s).\n", id, len(r.Survivor))
	fmt.Fprintln(g.Out, "Run the same command on every survivor, then start their agents; other agents rejoin as they come back.")
	return nil
}

func sortStrings(s []string) { sort.Strings(s) }
