package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	nodeValidity = 365 * 24 * time.Hour
	// clockSkew backdates NotBefore so that a node whose clock is a little
	// behind the signer's accepts a certificate issued just now.
	clockSkew = time.Hour
	// maxNodeIDLen keeps "node-<ID>" within a DNS label's 63 characters.
	maxNodeIDLen = 58
)

var (
	// ErrInvalidNodeID is returned for a node ID that cannot be a certificate
	// subject and DNS label.
	ErrInvalidNodeID = errors.New("pki: invalid node ID")
	// ErrCSRNodeMismatch is returned by SignCSR when the CSR's common name is
	// not the node ID it is being signed for.
	ErrCSRNodeMismatch = errors.New("pki: CSR common name does not match node ID")
)

// CA is a cluster certificate authority. It is immutable after construction
// and safe for concurrent use.
type CA struct {
	Cert    *x509.Certificate
	Signer  crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA creates a self-signed ECDSA P-256 CA valid for about ten years with
// the common name "shoal cluster CA <clusterID>".
func NewCA(clusterID string) (*CA, error) {
	if clusterID == "" {
		return nil, errors.New("create cluster CA: cluster ID is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "shoal cluster CA " + clusterID, Organization: []string{"shoal"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: sign certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: %w", err)
	}
	return LoadCA(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM)
}

// LoadCA parses a CA certificate and its private key, as stored by NewCA. It
// fails if the certificate is not a CA or the key does not belong to it.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load cluster CA: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load cluster CA: certificate %q is not a CA", cert.Subject.CommonName)
	}
	signer, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load cluster CA: %w", err)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load cluster CA: private key does not match certificate %q", cert.Subject.CommonName)
	}
	return &CA{Cert: cert, Signer: signer, CertPEM: bytes.Clone(certPEM), KeyPEM: bytes.Clone(keyPEM)}, nil
}

// Digest returns the lower-case hex SHA-256 of the DER of the first
// certificate in caCertPEM: the value a join token pins.
func Digest(caCertPEM []byte) (string, error) {
	block, err := certBlock(caCertPEM)
	if err != nil {
		return "", fmt.Errorf("digest CA certificate: %w", err)
	}
	return digestDER(block.Bytes), nil
}

func digestDER(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// NewNodeKey generates an ECDSA P-256 private key, PEM-encoded as PKCS #8.
func NewNodeKey() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node key: %w", err)
	}
	return encodeKey(key)
}

// NewCSR creates a PEM certificate signing request for nodeID (as CN), signed
// with the private key in keyPEM.
func NewCSR(keyPEM []byte, nodeID string) ([]byte, error) {
	if err := checkNodeID(nodeID); err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("create CSR for node %q: %w", nodeID, err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: nodeID}}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR for node %q: %w", nodeID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// SignCSR issues a node certificate valid for about a year: CN=nodeID, SANs
// ips and DNS "node-<nodeID>", usable as both TLS server and client. Only the
// CSR's public key and common name are used; the SANs and extensions it asks
// for are ignored, so a joiner cannot obtain names it was not given. The CSR's
// CN must equal nodeID (ErrCSRNodeMismatch otherwise).
func (ca *CA) SignCSR(csrPEM []byte, nodeID string, ips []net.IP) ([]byte, error) {
	if err := checkNodeID(nodeID); err != nil {
		return nil, fmt.Errorf("sign CSR: %w", err)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("sign CSR for node %q: no PEM CERTIFICATE REQUEST block", nodeID)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sign CSR for node %q: parse: %w", nodeID, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("sign CSR for node %q: check signature: %w", nodeID, err)
	}
	if csr.Subject.CommonName != nodeID {
		return nil, fmt.Errorf("sign CSR: CSR is for %q, not node %q: %w",
			csr.Subject.CommonName, nodeID, ErrCSRNodeMismatch)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("sign CSR for node %q: %w", nodeID, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeID, Organization: []string{"shoal"}},
		DNSNames:     []string{"node-" + nodeID},
		IPAddresses:  append([]net.IP(nil), ips...),
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(nodeValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign CSR for node %q: %w", nodeID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// IssueNode creates a key and a signed certificate for nodeID in one step,
// for the node that runs `agent init`.
func (ca *CA) IssueNode(nodeID string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	keyPEM, err = NewNodeKey()
	if err != nil {
		return nil, nil, err
	}
	csrPEM, err := NewCSR(keyPEM, nodeID)
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = ca.SignCSR(csrPEM, nodeID, ips)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// NodeID returns the node ID a node certificate was issued to (its CN), or ""
// for a nil certificate.
func NodeID(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	return cert.Subject.CommonName
}

// checkNodeID accepts 1..58 letters, digits, '-', '_' and '.', so that the ID
// is a plain CN and "node-<ID>" is a single DNS label.
func checkNodeID(id string) error {
	if id == "" || len(id) > maxNodeIDLen {
		return fmt.Errorf("node ID %q must be 1 to %d characters: %w", id, maxNodeIDLen, ErrInvalidNodeID)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("node ID %q may hold only letters, digits, '-', '_' and '.': %w", id, ErrInvalidNodeID)
		}
	}
	return nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseKey reads a PKCS #8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY") key.
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("parse private key: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("parse private key: unexpected PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T cannot sign", key)
	}
	return signer, nil
}

// certBlock returns the first CERTIFICATE block of certPEM.
func certBlock(certPEM []byte) (*pem.Block, error) {
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return block, nil
		}
	}
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	block, err := certBlock(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}
