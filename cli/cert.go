package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/pki"
)

// CertCmd is `agentctl cert`.
type CertCmd struct {
	Create CertCreateCmd `cmd:"" help:"Issue a client certificate for the TCP APIs (the docker CLI, agentctl --host tcp://)."`
}

// CertCreateCmd is `agentctl cert create`: a key made here, a certificate
// signed by the cluster's CA, written in docker's file names.
type CertCreateCmd struct {
	Out    string        `required:"" type:"path" placeholder:"DIR" help:"Directory to write ca.pem, cert.pem and key.pem to (DOCKER_CERT_PATH); created if missing."`
	Name   string        `placeholder:"NAME" help:"Name in the certificate (letters, digits, '-', '_', '.', '@'; default: USER@HOST of this machine)."`
	Expiry time.Duration `default:"2160h" help:"How long the certificate lasts (default 90 days)."`
	Force  bool          `help:"Overwrite ca.pem, cert.pem and key.pem if DIR has them."`
}

// certFiles are the files written, in docker's names.
var certFiles = []string{"ca.pem", "cert.pem", "key.pem"}

// Run issues the certificate.
func (c *CertCreateCmd) Run(g *Globals) error {
	name := c.Name
	if name == "" {
		name = defaultClientName()
	}
	if err := pki.CheckClientName(name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	if c.Expiry <= 0 {
		return fmt.Errorf("--expiry %v: give a positive duration such as 720h", c.Expiry)
	}
	if !c.Force {
		for _, f := range certFiles {
			if _, err := os.Stat(filepath.Join(c.Out, f)); err == nil {
				return fmt.Errorf("--out %s already holds %s: pick another directory, or pass --force to replace it", c.Out, f)
			}
		}
	}
	key, err := pki.NewNodeKey()
	if err != nil {
		return err
	}
	csr, err := pki.NewClientCSR(key, name)
	if err != nil {
		return err
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	resp, err := cl.SignClientCert(context.Background(), api.CertRequest{CSR: csr, Validity: c.Expiry})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Out, 0o700); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	for i, data := range [][]byte{resp.CA, resp.Cert, key} {
		mode := fs.FileMode(0o644)
		if certFiles[i] == "key.pem" {
			mode = 0o600
		}
		if err := writeFileMode(filepath.Join(c.Out, certFiles[i]), data, mode); err != nil {
			return err
		}
	}
	fmt.Fprintf(g.Out, "Client certificate %q issued, valid until %s, in %s.\n", resp.Name, resp.NotAfter.Format(time.DateOnly), c.Out)
	fmt.Fprintf(g.Out, "Use it from another host:\n\n    export DOCKER_HOST=tcp://AGENT:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=%s\n", c.Out)
	fmt.Fprintf(g.Out, "    agentctl --host tcp://AGENT:7948 --tlscacert %[1]s/ca.pem --tlscert %[1]s/cert.pem --tlskey %[1]s/key.pem node ls\n", c.Out)
	return nil
}

// writeFileMode writes data to path with mode, also when path exists with
// a wider mode (os.WriteFile keeps an existing file's mode).
func writeFileMode(path string, data []byte, mode fs.FileMode) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.WriteFile(path, data, mode)
}

// defaultClientName is USER@HOST, reduced to the characters a client name
// may hold.
func defaultClientName() string {
	user := os.Getenv("USER")
	if user == "" {
		user = "user"
	}
	host, _ := os.Hostname()
	clean := func(s string) string {
		b := []rune{}
		for _, r := range s {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
				b = append(b, r)
			}
		}
		return string(b)
	}
	name := clean(user) + "@" + clean(host)
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}
