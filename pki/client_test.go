package pki

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

// newClient issues a client certificate named name by ca, the way
// `agentctl cert create` does: the key is made here, only the CSR is signed.
func newClient(t *testing.T, ca *CA, name string, validity time.Duration) node {
	t.Helper()
	key, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NewClientCSR(key, name)
	if err != nil {
		t.Fatal(err)
	}
	cert, got, err := ca.SignClientCSR(csr, validity)
	if err != nil || got != name {
		t.Fatalf("SignClientCSR(%s): %q, %v", name, got, err)
	}
	return node{caPEM: ca.CertPEM, certPEM: cert, key: key}
}

// TestClientCertIsNoNode: a client certificate reaches an API that takes
// any cluster certificate, but it is never a node: VerifiedNodeID says no,
// a NodesOnly server (raft) refuses it, and it cannot serve to a node.
func TestClientCertIsNoNode(t *testing.T) {
	ca := mustCA(t, "c1")
	server := newNode(t, ca, "n1", loopback)
	laptop := newClient(t, ca, "alice@laptop", 0)

	apiURL, _ := startServer(t, serverTLS(t, server, tls.VerifyClientCertIfGiven))
	if body, err := get(apiURL, clientTLS(t, laptop)); err != nil || body != "anonymous" {
		t.Errorf("client certificate on the API: body %q, err %v; want anonymous (verified, but not a node)", body, err)
	}

	raftURL, hits := startServer(t, NodesOnly(serverTLS(t, server, tls.RequireAndVerifyClientCert)))
	if body, err := get(raftURL, clientTLS(t, laptop)); err == nil {
		t.Errorf("a client certificate got through a nodes-only server: %q", body)
	}
	if body, err := get(raftURL, clientTLS(t, newNode(t, ca, "n2", nil))); err != nil || body != "node=n2" {
		t.Errorf("node on a nodes-only server: body %q, err %v", body, err)
	}
	if hits.Load() != 1 {
		t.Errorf("nodes-only server served %d requests, want 1 (the node's)", hits.Load())
	}

	// Presented as a server, the client certificate fails the node's check
	// (server-auth usage).
	impostorServer, _ := startServer(t, serverTLS(t, laptop, tls.VerifyClientCertIfGiven))
	if _, err := get(impostorServer, clientTLS(t, newNode(t, ca, "n3", nil))); err == nil {
		t.Error("a node accepted a client certificate as a server")
	}
}

func TestClientCertValidity(t *testing.T) {
	ca := mustCA(t, "c1")
	for _, tc := range []struct {
		validity time.Duration
		want     time.Duration
	}{{0, DefaultClientValidity}, {48 * time.Hour, 48 * time.Hour}} {
		c := newClient(t, ca, "ci", tc.validity)
		cert, err := parseCert(c.certPEM)
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Until(cert.NotAfter); got > tc.want || got < tc.want-time.Minute {
			t.Errorf("validity %v: expires in %v, want about %v", tc.validity, got, tc.want)
		}
		if !IsClientCert(cert) {
			t.Errorf("validity %v: not marked a client certificate: %v", tc.validity, cert.Subject)
		}
	}
	c := newClient(t, ca, "forever", 100*365*24*time.Hour)
	cert, _ := parseCert(c.certPEM)
	if cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("client certificate outlives the CA: %v > %v", cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestClientCSRRefusals(t *testing.T) {
	ca := mustCA(t, "c1")
	key, _ := NewNodeKey()
	for _, name := range []string{"", "has space", "slash/name", strings.Repeat("x", 65)} {
		if _, err := NewClientCSR(key, name); !errors.Is(err, ErrInvalidClientName) {
			t.Errorf("NewClientCSR(%q): %v, want ErrInvalidClientName", name, err)
		}
	}
	csr, _ := NewClientCSR(key, "ok")
	if _, _, err := ca.SignClientCSR(csr, -time.Hour); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative validity: %v", err)
	}
	if _, _, err := ca.SignClientCSR([]byte("not pem"), 0); err == nil {
		t.Error("garbage CSR signed")
	}
	// A CSR made elsewhere with a name outside the client alphabet.
	signer, _ := parseKey(key)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a/b"}}, signer)
	raw := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	if _, _, err := ca.SignClientCSR(raw, 0); !errors.Is(err, ErrInvalidClientName) {
		t.Errorf("CSR named a/b: %v", err)
	}
}
