package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ErrCAMismatch is wrapped by the handshake error of a PinnedClientTLS
// connection whose peer's CA is not the one the join token names.
var ErrCAMismatch = errors.New("pki: peer CA does not match join token")

// CAMismatchError is the handshake error of a PinnedClientTLS connection
// whose peer presented a CA other than the pinned one. It matches
// ErrCAMismatch under errors.Is.
type CAMismatchError struct {
	Want string // digest from the token
	Got  string // digest of the CA the peer presented
}

func (e *CAMismatchError) Error() string {
	return fmt.Sprintf("the peer's cluster CA (digest %s…) does not match the join token (CA digest %s…): "+
		"the token is for another cluster, or the address is not a member of the cluster you mean; "+
		`get a token from "agent join-token" on a member of that cluster`, short(e.Got), short(e.Want))
}

// Is makes errors.Is(err, ErrCAMismatch) hold.
func (e *CAMismatchError) Is(target error) bool { return target == ErrCAMismatch }

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

// ServerCertChain returns the PEM chain a server presents: the first
// certificate of certPEM (the leaf) followed by the first of caPEM. A joiner
// has no CA yet and takes it from this chain (see PinnedClientTLS).
func ServerCertChain(certPEM, caPEM []byte) ([]byte, error) {
	leaf, err := certBlock(certPEM)
	if err != nil {
		return nil, fmt.Errorf("build server certificate chain: leaf: %w", err)
	}
	ca, err := certBlock(caPEM)
	if err != nil {
		return nil, fmt.Errorf("build server certificate chain: CA: %w", err)
	}
	return append(pem.EncodeToMemory(leaf), pem.EncodeToMemory(ca)...), nil
}

// ServerTLS returns a TLS 1.3 server configuration that presents [leaf, CA]
// and verifies client certificates against the CA according to clientAuth:
// tls.RequireAndVerifyClientCert for raft and agent RPC, and
// tls.VerifyClientCertIfGiven for the TCP API, whose join endpoint is reached
// without a certificate (its other handlers use VerifiedNodeID).
func ServerTLS(caPEM, certPEM, keyPEM []byte, clientAuth tls.ClientAuthType) (*tls.Config, error) {
	pool, err := caPool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("server TLS: %w", err)
	}
	chain, err := ServerCertChain(certPEM, caPEM)
	if err != nil {
		return nil, fmt.Errorf("server TLS: %w", err)
	}
	cert, err := tls.X509KeyPair(chain, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("server TLS: load key pair: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   clientAuth,
		ClientCAs:    pool,
	}, nil
}

// ClientTLS returns a TLS 1.3 mutual-TLS client configuration: it presents
// certPEM/keyPEM and accepts a server whose leaf certificate chains to the
// CA in caPEM and is valid for server use.
//
// The dialled host name is deliberately not checked. Peers are dialled by IP
// taken from membership or the raft configuration, and a node's IP can change
// after its certificate was issued (DHCP, re-addressed VMs), so pinning names
// would break a healthy cluster while adding nothing: only cluster members
// hold certificates from this CA, and that membership is what is being
// authenticated. A caller that needs a particular node compares NodeID of
// ConnectionState().PeerCertificates[0] with the one it expects.
func ClientTLS(caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	pool, err := caPool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("client TLS: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client TLS: load key pair: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// Verification is done by VerifyConnection below, without the name check.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs.PeerCertificates, pool)
		},
	}, nil
}

// PinnedClientTLS returns a TLS 1.3 client configuration for joining, when
// the joiner knows only the CA digest from its token. The server must present
// [leaf, CA]; the handshake succeeds only if the CA's digest equals caDigest
// (a *CAMismatchError otherwise) and the leaf verifies against that CA. Then
// onCA, if not nil, is called with the CA certificate as PEM, from the
// goroutine doing the handshake, before the handshake returns.
func PinnedClientTLS(caDigest string, onCA func(caPEM []byte)) *tls.Config {
	caDigest = strings.ToLower(strings.TrimSpace(caDigest))
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Verification is done by VerifyConnection below, against the pinned CA.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			ca, err := verifyPinned(cs.PeerCertificates, caDigest)
			if err != nil {
				return err
			}
			if onCA != nil {
				onCA(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
			}
			return nil
		},
	}
}

func verifyPinned(certs []*x509.Certificate, caDigest string) (*x509.Certificate, error) {
	if len(certs) < 2 {
		return nil, errors.New("join: the peer did not present its cluster CA with its certificate; " +
			"check that the address is a shoal agent's API port")
	}
	ca := certs[len(certs)-1]
	if got := digestDER(ca.Raw); got != caDigest {
		return nil, &CAMismatchError{Want: caDigest, Got: got}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if err := verifyServer(certs[:1], pool); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	return ca, nil
}

// verifyServer checks that the leaf (certs[0]) chains to a CA in pool and is
// valid for server authentication. Certificates after the leaf are ignored:
// the only intermediate a shoal peer sends is the root itself.
func verifyServer(certs []*x509.Certificate, pool *x509.CertPool) error {
	if len(certs) == 0 {
		return errors.New("peer presented no certificate")
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:     pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("verify peer certificate %q against the cluster CA: %w", NodeID(certs[0]), err)
	}
	return nil
}

// VerifiedNodeID returns the node ID of a client whose node certificate the
// server verified against the cluster CA, and false if the client presented
// none (as on the join endpoint) or a client certificate (IsClientCert): a
// person's certificate is never a node. cs is a server-side state such as
// http.Request.TLS; it may be nil.
func VerifiedNodeID(cs *tls.ConnectionState) (string, bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 || IsClientCert(cs.VerifiedChains[0][0]) {
		return "", false
	}
	return NodeID(cs.VerifiedChains[0][0]), true
}

func caPool(caPEM []byte) (*x509.CertPool, error) {
	ca, err := parseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, nil
}
