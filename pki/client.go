package pki

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Client certificates let a person or a tool outside the cluster (a
// laptop's docker CLI, a CI job) use the TCP APIs. They are signed by the
// cluster CA like node certificates but can never act as a node: they carry
// the organizational unit ClientOU and only the client-auth key usage, so
// they cannot serve (ClientTLS wants server-auth), cannot join raft
// (NodesOnly) and are not nodes to VerifiedNodeID (agent-to-agent
// endpoints).
const (
	ClientOU = "shoal client"
	// DefaultClientValidity is how long `agentctl cert create` certificates
	// last unless told otherwise.
	DefaultClientValidity = 90 * 24 * time.Hour
	maxClientNameLen      = 64
)

// ErrInvalidClientName is returned for a client name that cannot be a
// certificate subject.
var ErrInvalidClientName = errors.New("pki: invalid client name")

// CheckClientName says whether name can name a client certificate: 1 to 64
// letters, digits and '-', '_', '.', '@'.
func CheckClientName(name string) error {
	if name == "" || len(name) > maxClientNameLen {
		return fmt.Errorf("client name %q must be 1 to %d characters: %w", name, maxClientNameLen, ErrInvalidClientName)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '@'
		if !ok {
			return fmt.Errorf("client name %q may hold only letters, digits, '-', '_', '.' and '@': %w", name, ErrInvalidClientName)
		}
	}
	return nil
}

// NewClientCSR returns a PEM certificate request for a client named name,
// signed with keyPEM (from NewNodeKey). The key stays with the caller.
func NewClientCSR(keyPEM []byte, name string) ([]byte, error) {
	if err := CheckClientName(name); err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR for client %q: %w", name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// SignClientCSR issues a client certificate for the CSR's common name,
// valid for validity (DefaultClientValidity when 0) but never past the CA's
// own expiry. It returns the certificate and the client's name.
func (ca *CA) SignClientCSR(csrPEM []byte, validity time.Duration) (certPEM []byte, name string, err error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, "", errors.New("sign client CSR: no PEM CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("sign client CSR: parse: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("sign client CSR: check signature: %w", err)
	}
	name = csr.Subject.CommonName
	if err := CheckClientName(name); err != nil {
		return nil, "", fmt.Errorf("sign client CSR: %w", err)
	}
	if validity < 0 {
		return nil, "", fmt.Errorf("sign client CSR for %q: validity %v is negative", name, validity)
	}
	if validity == 0 {
		validity = DefaultClientValidity
	}
	serial, err := newSerial()
	if err != nil {
		return nil, "", fmt.Errorf("sign client CSR for %q: %w", name, err)
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"shoal"}, OrganizationalUnit: []string{ClientOU}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Signer)
	if err != nil {
		return nil, "", fmt.Errorf("sign client CSR for %q: %w", name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), name, nil
}

// IsClientCert reports whether cert is a client certificate (SignClientCSR)
// rather than a node's.
func IsClientCert(cert *x509.Certificate) bool {
	return cert != nil && slices.Contains(cert.Subject.OrganizationalUnit, ClientOU)
}

// NodesOnly returns a copy of a server configuration (ServerTLS with
// tls.RequireAndVerifyClientCert) that also refuses client certificates:
// for raft and every other connection only a node may make.
func NodesOnly(cfg *tls.Config) *tls.Config {
	out := cfg.Clone()
	out.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.VerifiedChains) > 0 && IsClientCert(cs.VerifiedChains[0][0]) {
			return fmt.Errorf("client certificate %q may not connect here: only nodes of the cluster may", cs.VerifiedChains[0][0].Subject.CommonName)
		}
		return nil
	}
	return out
}
