package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/pki"
)

// CtlCLI is the `agentctl` command.
type CtlCLI struct {
	Host      string `short:"H" env:"SHOAL_HOST" help:"Agent to talk to: unix:///path/agent.sock (default unix:///run/shoal/agent.sock) or tcp://HOST[:PORT] (the API port, default 7948)."`
	TLSCACert string `name:"tlscacert" env:"SHOAL_TLS_CA" help:"Cluster CA certificate, for tcp:// hosts."`
	TLSCert   string `name:"tlscert" env:"SHOAL_TLS_CERT" help:"Client certificate signed by the cluster CA, for tcp:// hosts."`
	TLSKey    string `name:"tlskey" env:"SHOAL_TLS_KEY" help:"Key of the client certificate."`

	Node    NodeCmd    `cmd:"" help:"Manage nodes."`
	Service ServiceCmd `cmd:"" help:"Manage services."`
	Network NetworkCmd `cmd:"" help:"Manage overlay networks."`
	Stack   StackCmd   `cmd:"" help:"Manage stacks of services from compose files."`
	Secret  SecretCmd  `cmd:"" help:"Manage secrets: files sealed at rest, given to the tasks that use them."`
	Config  ConfigCmd  `cmd:"" help:"Manage configs: files given to the tasks that use them."`
	Volume  VolumeCmd  `cmd:"" help:"Manage the nodes' volumes."`
	Cluster ClusterCmd `cmd:"" help:"Manage the cluster's settings."`
	Image   ImageCmd   `cmd:"" help:"Manage images on a node."`
	Cert    CertCmd    `cmd:"" help:"Issue client certificates for the TCP APIs."`
	Events  EventsCmd  `cmd:"" help:"Show the cluster's events: services, nodes and networks created, updated, removed."`
	Info    InfoCmd    `cmd:"" help:"Show the agent's state."`
	Version VersionCmd `cmd:"" help:"Print the version."`
}

// RunCtl parses args and runs the `agentctl` command.
func RunCtl(args []string) int {
	var c CtlCLI
	return RunCLI("agentctl", "Control a shoal cluster through any of its agents.", &c, args, c.client)
}

func (c *CtlCLI) client() (*api.Client, error) {
	var tlsConf *tls.Config
	if c.TLSCert != "" || c.TLSKey != "" || c.TLSCACert != "" {
		flags := []struct{ flag, path string }{{"--tlscacert", c.TLSCACert}, {"--tlscert", c.TLSCert}, {"--tlskey", c.TLSKey}}
		for _, f := range flags {
			if f.path == "" {
				return nil, fmt.Errorf("%s is missing: a tcp:// host needs all of --tlscacert, --tlscert and --tlskey", f.flag)
			}
		}
		files := make([][]byte, 3)
		for i, f := range flags {
			b, err := os.ReadFile(f.path)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", f.flag, f.path, err)
			}
			files[i] = b
		}
		var err error
		if tlsConf, err = pki.ClientTLS(files[0], files[1], files[2]); err != nil {
			return nil, fmt.Errorf("--tlscacert/--tlscert/--tlskey: %w", err)
		}
	}
	cl, err := api.NewClient(c.Host, tlsConf)
	var ae *api.AddressError
	if errors.As(err, &ae) {
		return nil, fmt.Errorf("--host (or %s) %q: %s", api.HostEnv, ae.Addr, ae.Reason)
	}
	return cl, err
}
