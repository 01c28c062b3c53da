package cli

import (
	"crypto/tls"
	"fmt"
	"os"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/pki"
)

// CtlCLI is the `agentctl` command.
type CtlCLI struct {
	Host      string `short:"H" env:"SHOAL_HOST" help:"Agent to talk to: unix:///path/agent.sock (default unix:///run/shoal/agent.sock) or tcp://HOST:7948."`
	TLSCACert string `name:"tlscacert" env:"SHOAL_TLS_CA" help:"Cluster CA certificate, for tcp:// hosts."`
	TLSCert   string `name:"tlscert" env:"SHOAL_TLS_CERT" help:"Client certificate signed by the cluster CA, for tcp:// hosts."`
	TLSKey    string `name:"tlskey" env:"SHOAL_TLS_KEY" help:"Key of the client certificate."`

	Node    NodeCmd    `cmd:"" help:"Manage nodes."`
	Service ServiceCmd `cmd:"" help:"Manage services."`
	Network NetworkCmd `cmd:"" help:"Manage overlay networks."`
	Cluster ClusterCmd `cmd:"" help:"Manage the cluster's settings."`
	Image   ImageCmd   `cmd:"" help:"Manage images on a node."`
	Info    InfoCmd    `cmd:"" help:"Show the agent's state."`
	Version VersionCmd `cmd:"" help:"Print the version."`
}

// RunCtl parses args and runs the `agentctl` command.
func RunCtl(args []string) int {
	var c CtlCLI
	return runCLI("agentctl", "Control a shoal cluster through any of its agents.", &c, args, c.client)
}

func (c *CtlCLI) client() (*api.Client, error) {
	var tlsConf *tls.Config
	if c.TLSCert != "" || c.TLSKey != "" || c.TLSCACert != "" {
		ca, err1 := os.ReadFile(c.TLSCACert)
		cert, err2 := os.ReadFile(c.TLSCert)
		key, err3 := os.ReadFile(c.TLSKey)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("TLS files: need all of --tlscacert, --tlscert, --tlskey readable (%v %v %v)", err1, err2, err3)
		}
		var err error
		if tlsConf, err = pki.ClientTLS(ca, cert, key); err != nil {
			return nil, err
		}
	}
	return api.NewClient(c.Host, tlsConf)
}
