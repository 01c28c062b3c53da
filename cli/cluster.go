package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/shoal-org/shoal/api"
)

// ClusterCmd is `agentctl cluster`.
type ClusterCmd struct {
	Limits ClusterLimitsCmd `cmd:"" help:"Show or change the cluster's limits on what a request may create."`
}

// ClusterLimitsCmd is `agentctl cluster limits [--set KEY=N] [--reset KEY]`.
type ClusterLimitsCmd struct {
	Set   []string `sep:"none" placeholder:"KEY=N" help:"Override a limit, e.g. replicas=50000; repeatable."`
	Reset []string `sep:"none" placeholder:"KEY" help:"Return a limit to its default; repeatable."`
}

// Run prints the limits, after changing them when --set or --reset is
// given. A bad flag sends nothing.
func (c *ClusterLimitsCmd) Run(g *Globals) error {
	upd, err := c.update()
	if err != nil {
		return err
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	var rows []api.Limit
	if len(upd.Set) == 0 && len(upd.Reset) == 0 {
		rows, err = cl.Limits(context.Background())
	} else {
		rows, err = cl.UpdateLimits(context.Background(), upd)
	}
	if err != nil {
		return fmt.Errorf("cluster limits: %w", err)
	}
	tw := tabwriter.NewWriter(g.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LIMIT\tVALUE\tDEFAULT\tWHY")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.Key, r.Value, r.Default, r.Why)
	}
	return tw.Flush()
}

// update parses --set and --reset.
func (c *ClusterLimitsCmd) update() (api.LimitsUpdate, error) {
	upd := api.LimitsUpdate{Reset: c.Reset}
	for _, kv := range c.Set {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || k == "" || err != nil || n <= 0 {
			return upd, flagErr("set", kv, "use KEY=N with a positive N, such as replicas=50000")
		}
		if upd.Set == nil {
			upd.Set = map[string]int64{}
		}
		upd.Set[k] = n
	}
	return upd, nil
}
