package agent

import (
	"context"
	"crypto/x509"
	"encoding/pem"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/pki"
)

// SignClientCert signs a client certificate for the TCP APIs (/v1 and the
// Engine API) with the cluster's CA, which every replica holds, so any agent
// answers without the leader. The certificate can never act as a node (see
// pki.IsClientCert).
func (a *Agent) SignClientCert(ctx context.Context, req api.CertRequest) (api.CertResponse, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.CertResponse{}, err
	}
	c := cl.store.View().Cluster()
	if c == nil {
		return api.CertResponse{}, fault.New(fault.Unavailable, "the cluster record has not reached this agent yet; retry in a moment")
	}
	ca, err := pki.LoadCA(c.CACertPEM, c.CAKeyPEM)
	if err != nil {
		return api.CertResponse{}, err
	}
	certPEM, name, err := ca.SignClientCSR(req.CSR, req.Validity)
	if err != nil {
		return api.CertResponse{}, fault.New(fault.Invalid, "%v: send a PEM certificate request whose common name is the client's name (agentctl cert create does)", err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return api.CertResponse{}, err
	}
	a.log.Info("issued a client certificate", "name", name, "serial", cert.SerialNumber.Text(16), "expires", cert.NotAfter)
	return api.CertResponse{Name: name, Cert: certPEM, CA: c.CACertPEM, NotAfter: cert.NotAfter}, nil
}
