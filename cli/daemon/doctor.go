package daemon

import (
	"context"
	"fmt"

	"github.com/shoal-org/shoal/cli"
	"github.com/shoal-org/shoal/doctor"
)

// DoctorCmd is `agent doctor`. Its flags mirror `agent run`'s; zero ports
// mean the api package's defaults.
type DoctorCmd struct {
	DataDir    string `default:"/var/lib/shoal" help:"The agent's data dir (its certificates are used to ask members for their time)."`
	Bind       string `default:"0.0.0.0" help:"IP the agent listens on."`
	Advertise  string `help:"IP other agents reach this one at (default, as agent run picks it: the bind IP, or the first non-loopback address)."`
	GossipPort int    `help:"Gossip (serf) port, TCP and UDP (default 7946)."`
	RaftPort   int    `help:"Raft port (default 7947)."`
	APIPort    int    `help:"API port (default 7948)."`
	Containerd string `default:"/run/containerd/containerd.sock" help:"containerd socket."`
	Format     string `default:"text" enum:"text,json" help:"text (aligned columns, a fix line under each gap) or json."`
}

// Run prints one line per check and fails when a required one failed.
func (d *DoctorCmd) Run(c *AgentCLI, g *cli.Globals) error {
	r := doctor.Run(context.Background(), doctor.Options{
		APISocket: c.APISocket, Containerd: d.Containerd, DataDir: d.DataDir, Bind: d.Bind, Advertise: d.Advertise,
		GossipPort: d.GossipPort, RaftPort: d.RaftPort, APIPort: d.APIPort,
	})
	var err error
	if d.Format == "json" {
		err = r.WriteJSON(g.Out)
	} else {
		err = r.WriteText(g.Out)
	}
	if err != nil {
		return err
	}
	if r.Failed() {
		return fmt.Errorf("this host lacks what the agent needs: see the FAIL lines and their fixes above")
	}
	return nil
}
