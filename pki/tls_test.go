package pki

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

var loopback = []net.IP{net.IPv4(127, 0, 0, 1)}

// node is a node's credentials in one test cluster.
type node struct {
	caPEM, certPEM, key []byte
	digest              string
}

func newNode(t *testing.T, ca *CA, name string, ips []net.IP) node {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueNode(name, ips)
	if err != nil {
		t.Fatalf("IssueNode(%s): %v", name, err)
	}
	digest, err := Digest(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return node{caPEM: ca.CertPEM, certPEM: certPEM, key: keyPEM, digest: digest}
}

// startServer serves HTTPS on loopback with cfg. The handler answers with the
// verified client node ID ("anonymous" without one); hits counts requests
// that reached it.
func startServer(t *testing.T, cfg *tls.Config) (url string, hits *atomic.Int32) {
	t.Helper()
	hits = new(atomic.Int32)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if id, ok := VerifiedNodeID(r.TLS); ok {
			io.WriteString(w, "node="+id)
			return
		}
		io.WriteString(w, "anonymous")
	}))
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, hits
}

func serverTLS(t *testing.T, n node, auth tls.ClientAuthType) *tls.Config {
	t.Helper()
	cfg, err := ServerTLS(n.caPEM, n.certPEM, n.key, auth)
	if err != nil {
		t.Fatalf("ServerTLS: %v", err)
	}
	return cfg
}

func clientTLS(t *testing.T, n node) *tls.Config {
	t.Helper()
	cfg, err := ClientTLS(n.caPEM, n.certPEM, n.key)
	if err != nil {
		t.Fatalf("ClientTLS: %v", err)
	}
	return cfg
}

// impostor is a client that trusts member's CA (so it accepts the server)
// but presents foreign's certificate. It sends that certificate even though
// the server asks for ones issued by its own CA, which Go's client would
// otherwise honour by sending none.
func impostor(t *testing.T, member, foreign node) *tls.Config {
	t.Helper()
	cert, err := tls.X509KeyPair(foreign.certPEM, foreign.key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientTLS(t, member)
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return cfg
}

// get fetches url over a fresh connection with cfg and returns the body.
func get(url string, cfg *tls.Config) (string, error) {
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestPinnedJoinGetsCA(t *testing.T) {
	server := newNode(t, mustCA(t, "c1"), "n1", loopback)
	url, _ := startServer(t, serverTLS(t, server, tls.VerifyClientCertIfGiven))

	var gotCA []byte
	body, err := get(url, PinnedClientTLS(server.digest, func(caPEM []byte) { gotCA = caPEM }))
	if err != nil {
		t.Fatalf("pinned GET: %v", err)
	}
	if body != "anonymous" {
		t.Errorf("body = %q, want anonymous", body)
	}
	if !bytes.Equal(gotCA, server.caPEM) {
		t.Errorf("onCA got %q, want the cluster CA", gotCA)
	}
	// The CA learnt from the handshake is enough for a real mutual-TLS client.
	if _, err := ClientTLS(gotCA, server.certPEM, server.key); err != nil {
		t.Errorf("ClientTLS with the learnt CA: %v", err)
	}
}

func TestPinnedJoinWrongDigest(t *testing.T) {
	joinedCA, otherCA := mustCA(t, "mine"), mustCA(t, "theirs")
	want := newNode(t, joinedCA, "n0", nil).digest
	server := newNode(t, otherCA, "n1", loopback)
	url, hits := startServer(t, serverTLS(t, server, tls.VerifyClientCertIfGiven))

	called := false
	_, err := get(url, PinnedClientTLS(want, func([]byte) { called = true }))
	var mismatch *CAMismatchError
	if !errors.As(err, &mismatch) || !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("err = %v, want *CAMismatchError", err)
	}
	if mismatch.Want != want || mismatch.Got != server.digest {
		t.Errorf("mismatch = %+v, want Want=%s Got=%s", mismatch, want, server.digest)
	}
	msg := mismatch.Error()
	if !strings.Contains(msg, want[:12]) || !strings.Contains(msg, server.digest[:12]) || !strings.Contains(msg, "does not match the join token") {
		t.Errorf("message %q must name both digests and the token", msg)
	}
	if called || hits.Load() != 0 {
		t.Errorf("onCA called=%v, requests served=%d after a failed pin", called, hits.Load())
	}
}

// TestPinnedJoinForgedLeaf: a server that replays the real CA certificate
// (public) next to a leaf it signed itself must not pass the pin.
func TestPinnedJoinForgedLeaf(t *testing.T) {
	realCA, evilCA := mustCA(t, "real"), mustCA(t, "evil")
	evil := newNode(t, evilCA, "n1", loopback)
	chain, err := ServerCertChain(evil.certPEM, realCA.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(chain, evil.key)
	if err != nil {
		t.Fatal(err)
	}
	url, hits := startServer(t, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}})

	digest, _ := Digest(realCA.CertPEM)
	called := false
	if _, err := get(url, PinnedClientTLS(digest, func([]byte) { called = true })); err == nil || errors.Is(err, ErrCAMismatch) {
		t.Errorf("err = %v, want a leaf verification error", err)
	}
	if called || hits.Load() != 0 {
		t.Errorf("onCA called=%v, requests served=%d for a forged leaf", called, hits.Load())
	}
}

func TestPinnedJoinNeedsChain(t *testing.T) {
	server := newNode(t, mustCA(t, "c1"), "n1", loopback)
	cert, err := tls.X509KeyPair(server.certPEM, server.key) // leaf only
	if err != nil {
		t.Fatal(err)
	}
	url, _ := startServer(t, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}})
	if _, err := get(url, PinnedClientTLS(server.digest, nil)); err == nil || !strings.Contains(err.Error(), "did not present its cluster CA") {
		t.Errorf("err = %v, want a missing-CA error", err)
	}
}

func TestMutualTLS(t *testing.T) {
	ca, foreignCA := mustCA(t, "c1"), mustCA(t, "c2")
	server := newNode(t, ca, "n1", loopback)
	client := newNode(t, ca, "n2", nil)
	foreign := newNode(t, foreignCA, "n2", nil)
	url, hits := startServer(t, serverTLS(t, server, tls.RequireAndVerifyClientCert))

	body, err := get(url, clientTLS(t, client))
	if err != nil || body != "node=n2" {
		t.Fatalf("member client: body %q, err %v; want node=n2", body, err)
	}

	noCert := clientTLS(t, client)
	noCert.Certificates = nil
	if _, err := get(url, noCert); err == nil {
		t.Error("client without a certificate was let in")
	}
	if _, err := get(url, impostor(t, client, foreign)); err == nil {
		t.Error("client with another cluster's certificate was let in")
	}
	// A member refuses a server of another cluster. That server would let the
	// member in (its API port does not require a client certificate), so only
	// the client's own check can fail this request.
	otherURL, otherHits := startServer(t, serverTLS(t, newNode(t, foreignCA, "n9", loopback), tls.VerifyClientCertIfGiven))
	if _, err := get(otherURL, clientTLS(t, client)); err == nil {
		t.Error("client accepted a server of another cluster")
	}
	if hits.Load() != 1 || otherHits.Load() != 0 {
		t.Errorf("requests served: %d and %d, want 1 and 0", hits.Load(), otherHits.Load())
	}
}

// TestClientIgnoresAddress: a node whose IP changed after its certificate was
// issued is still accepted, because members are identified by CA, not address.
func TestClientIgnoresAddress(t *testing.T) {
	ca := mustCA(t, "c1")
	server := newNode(t, ca, "n1", []net.IP{net.ParseIP("192.0.2.7")})
	url, _ := startServer(t, serverTLS(t, server, tls.RequireAndVerifyClientCert))
	if body, err := get(url, clientTLS(t, newNode(t, ca, "n2", nil))); err != nil || body != "node=n2" {
		t.Errorf("body %q, err %v; want node=n2", body, err)
	}
}

func TestVerifyClientCertIfGiven(t *testing.T) {
	ca := mustCA(t, "c1")
	server := newNode(t, ca, "n1", loopback)
	client := newNode(t, ca, "n2", nil)
	url, _ := startServer(t, serverTLS(t, server, tls.VerifyClientCertIfGiven))

	if body, err := get(url, PinnedClientTLS(server.digest, nil)); err != nil || body != "anonymous" {
		t.Errorf("cert-less client: body %q, err %v; want anonymous", body, err)
	}
	if body, err := get(url, clientTLS(t, client)); err != nil || body != "node=n2" {
		t.Errorf("member client: body %q, err %v; want node=n2", body, err)
	}
	foreign := newNode(t, mustCA(t, "c2"), "n3", nil)
	if body, err := get(url, impostor(t, client, foreign)); err == nil {
		t.Errorf("client with another cluster's certificate got %q", body)
	}
}

func TestVerifiedNodeIDNil(t *testing.T) {
	if id, ok := VerifiedNodeID(nil); ok || id != "" {
		t.Errorf("VerifiedNodeID(nil) = %q, %v", id, ok)
	}
}

func TestServerCertChain(t *testing.T) {
	ca := mustCA(t, "c1")
	n := newNode(t, ca, "n1", nil)
	// A leaf file that already holds a chain must not duplicate the CA.
	chain, err := ServerCertChain(append(n.certPEM, ca.CertPEM...), ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if want := string(n.certPEM) + string(ca.CertPEM); string(chain) != want {
		t.Errorf("chain =\n%s\nwant leaf then CA", chain)
	}
	if _, err := ServerCertChain(n.certPEM, nil); err == nil {
		t.Error("ServerCertChain without a CA succeeded")
	}
}
