package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

func mustCA(t *testing.T, clusterID string) *CA {
	t.Helper()
	ca, err := NewCA(clusterID)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

func mustParseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	cert, err := parseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestNewCA(t *testing.T) {
	ca := mustCA(t, "c1")
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("not a signing CA: IsCA=%v BasicConstraintsValid=%v KeyUsage=%v", c.IsCA, c.BasicConstraintsValid, c.KeyUsage)
	}
	if c.Subject.CommonName != "shoal cluster CA c1" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if left := time.Until(c.NotAfter); left < 9*365*24*time.Hour {
		t.Errorf("CA valid for only %v more", left)
	}
	if _, err := NewCA(""); err == nil {
		t.Error("NewCA with empty cluster ID succeeded")
	}
}

func TestLoadCA(t *testing.T) {
	ca, other := mustCA(t, "c1"), mustCA(t, "c2")
	loaded, err := LoadCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !loaded.Cert.Equal(ca.Cert) {
		t.Error("loaded a different certificate")
	}
	// The loaded signer must produce certificates that verify against the original.
	certPEM, _, err := loaded.IssueNode("n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mustParseCert(t, certPEM).CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("certificate from loaded CA does not verify: %v", err)
	}

	if _, err := LoadCA(ca.CertPEM, other.KeyPEM); err == nil {
		t.Error("LoadCA accepted another CA's key")
	}
	leafPEM, leafKey, _ := ca.IssueNode("n1", nil)
	if _, err := LoadCA(leafPEM, leafKey); err == nil {
		t.Error("LoadCA accepted a node certificate")
	}
	if _, err := LoadCA([]byte("garbage"), ca.KeyPEM); err == nil {
		t.Error("LoadCA accepted garbage")
	}

	// SEC 1 keys ("EC PRIVATE KEY", as written by openssl ecparam) load too.
	key, _ := parseKey(ca.KeyPEM)
	der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if _, err := LoadCA(ca.CertPEM, sec1); err != nil {
		t.Errorf("LoadCA with SEC 1 key: %v", err)
	}
}

func TestDigest(t *testing.T) {
	ca, other := mustCA(t, "c1"), mustCA(t, "c1")
	d, err := Digest(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ca.Cert.Raw)
	if want := hex.EncodeToString(sum[:]); d != want {
		t.Errorf("Digest = %s, want %s", d, want)
	}
	if d2, _ := Digest(other.CertPEM); d2 == d {
		t.Error("two CAs with the same cluster ID have the same digest")
	}
	if _, err := Digest([]byte("not pem")); err == nil {
		t.Error("Digest of garbage succeeded")
	}
}

func TestSignCSR(t *testing.T) {
	ca := mustCA(t, "c1")
	keyPEM, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, err := NewCSR(keyPEM, "n1")
	if err != nil {
		t.Fatal(err)
	}
	ips := []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("fd00::5")}
	certPEM, err := ca.SignCSR(csrPEM, "n1", ips)
	if err != nil {
		t.Fatalf("SignCSR: %v", err)
	}
	cert := mustParseCert(t, certPEM)
	if NodeID(cert) != "n1" {
		t.Errorf("NodeID = %q", NodeID(cert))
	}
	if !slices.Equal(cert.DNSNames, []string{"node-n1"}) {
		t.Errorf("DNSNames = %v", cert.DNSNames)
	}
	if len(cert.IPAddresses) != 2 || !cert.IPAddresses[0].Equal(ips[0]) || !cert.IPAddresses[1].Equal(ips[1]) {
		t.Errorf("IPAddresses = %v, want %v", cert.IPAddresses, ips)
	}
	if left := time.Until(cert.NotAfter); left < 360*24*time.Hour || left > 366*24*time.Hour {
		t.Errorf("node certificate valid for %v more, want about a year", left)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: poolOf(ca), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("verify for usage %v: %v", usage, err)
		}
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("certificate does not match the CSR's key: %v", err)
	}
}

func TestSignCSRRefuses(t *testing.T) {
	ca := mustCA(t, "c1")
	keyPEM, _ := NewNodeKey()
	csrPEM, _ := NewCSR(keyPEM, "n1")

	if _, err := ca.SignCSR(csrPEM, "n2", nil); !errors.Is(err, ErrCSRNodeMismatch) {
		t.Errorf("CSR for n1 signed as n2: err = %v, want ErrCSRNodeMismatch", err)
	}
	if _, err := ca.SignCSR(csrPEM, "bad id", nil); !errors.Is(err, ErrInvalidNodeID) {
		t.Errorf("invalid node ID: err = %v, want ErrInvalidNodeID", err)
	}
	if _, err := NewCSR(keyPEM, ""); !errors.Is(err, ErrInvalidNodeID) {
		t.Errorf("NewCSR with empty ID: err = %v, want ErrInvalidNodeID", err)
	}
	if _, err := ca.SignCSR([]byte("garbage"), "n1", nil); err == nil {
		t.Error("SignCSR accepted garbage")
	}
	block, _ := pem.Decode(csrPEM)          // a fresh copy of the DER
	block.Bytes[len(block.Bytes)-3] ^= 0xff // inside the signature
	if _, err := ca.SignCSR(pem.EncodeToMemory(block), "n1", nil); err == nil {
		t.Error("SignCSR accepted a CSR with a broken signature")
	}
}

// TestSignCSRIgnoresRequestedNames checks that a joiner cannot obtain names
// or IPs by asking for them in its CSR.
func TestSignCSRIgnoresRequestedNames(t *testing.T) {
	ca := mustCA(t, "c1")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "n1"},
		DNSNames:    []string{"registry.example.com"},
		IPAddresses: []net.IP{net.ParseIP("192.0.2.1")},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignCSR(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	cert := mustParseCert(t, certPEM)
	if !slices.Equal(cert.DNSNames, []string{"node-n1"}) || len(cert.IPAddresses) != 0 {
		t.Errorf("SANs = %v %v, want only node-n1", cert.DNSNames, cert.IPAddresses)
	}
}

func TestNodeIDNil(t *testing.T) {
	if got := NodeID(nil); got != "" {
		t.Errorf("NodeID(nil) = %q", got)
	}
}

func poolOf(ca *CA) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

func TestNodeECDHKeyMatchesCert(t *testing.T) {
	ca, err := NewCA("c1")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueNode("node1", nil)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := NodeECDHKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := CertECDHKeyPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey().Equal(pub) {
		t.Fatal("the certificate's key is not the node key's public half")
	}
	if _, err := NodeECDHKey([]byte("junk")); err == nil {
		t.Fatal("NodeECDHKey accepted junk")
	}
}
