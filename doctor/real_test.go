package doctor

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
	"github.com/shoal-org/shoal/pki"
)

// The tests below run the real Host on this machine and assert only what
// they establish on their own, by other means than the check under test.

// ipvsFacts says whether the kernel shows IPVS (loaded or built in) and
// whether a module file for it exists.
func ipvsFacts(t *testing.T) (shown, loadable bool) {
	mods, _ := os.ReadFile("/proc/modules")
	shown = bytes.HasPrefix(mods, []byte("ip_vs ")) || bytes.Contains(mods, []byte("\nip_vs "))
	for _, p := range []string{"/sys/module/ip_vs", "/proc/net/ip_vs"} {
		if _, err := os.Stat(p); err == nil {
			shown = true
		}
	}
	out, _ := exec.Command("uname", "-r").Output()
	_ = filepath.WalkDir(filepath.Join("/lib/modules", strings.TrimSpace(string(out))), func(p string, _ os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(filepath.Base(p), "ip_vs.ko") {
			loadable = true
		}
		return nil
	})
	return shown, loadable
}

// freePort returns a port that was free for both TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free for TCP and UDP")
	return 0
}

func TestRealHostThisMachine(t *testing.T) {
	testenv.RequireRoot(t, "the netlink probes need CAP_NET_ADMIN")
	d := testenv.Containerd(t)
	ipvsShown, ipvsLoadable := ipvsFacts(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	gossip := freePort(t)
	dev, addr, mtu := defaultRouteLink(t)
	r := Run(context.Background(), Options{Containerd: d.Address, APISocket: filepath.Join(t.TempDir(), "none.sock"),
		Bind: "127.0.0.1", Advertise: addr, GossipPort: gossip, RaftPort: freePort(t), APIPort: held.Addr().(*net.TCPAddr).Port})
	var text bytes.Buffer
	r.WriteText(&text)
	t.Logf("report:\n%s", text.String())
	want := func(id string, st Status, detail ...string) {
		t.Helper()
		f, ok := r.Find(id)
		if !ok {
			t.Fatalf("no finding %s", id)
		}
		if f.Status != st {
			t.Errorf("%s: %s %q, want %s", id, f.Status, f.Detail, st)
		}
		for _, s := range detail {
			if !strings.Contains(f.Detail, s) {
				t.Errorf("%s: detail %q lacks %q", id, f.Detail, s)
			}
		}
	}

	switch {
	case ipvsShown:
		want("kernel/ip_vs", OK)
	case !ipvsLoadable:
		want("kernel/ip_vs", Warn, "the nftables dataplane will be used")
		want("kernel/ip_vs-sched", Skip)
	default:
		t.Log("ip_vs is a module file that is not loaded: the probe may load it; not asserted")
	}
	if err := exec.Command("nft", "list", "tables").Run(); err == nil {
		want("kernel/nf_tables", OK, "answers over netlink")
	} else {
		t.Logf("nft list tables: %v; nf_tables not asserted", err)
	}
	if fs, _ := os.ReadFile("/proc/filesystems"); bytes.Contains(fs, []byte("\toverlay\n")) {
		want("kernel/overlayfs", OK)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		want("kernel/cgroup2", OK)
	} else {
		want("kernel/cgroup2", Warn)
	}

	out, err := exec.Command("containerd", "--version").Output()
	if f := strings.Fields(string(out)); err != nil || len(f) < 3 {
		t.Fatalf("containerd --version: %q %v", out, err)
	} else {
		want("containerd", OK, "version "+f[2])
	}
	runcOut, _ := exec.Command("runc", "--version").Output()
	want("runc", OK, trimFirstLine(string(runcOut)))
	want("port/api", Fail, "address already in use")
	want("port/gossip-tcp", OK, "127.0.0.1:"+strconv.Itoa(gossip))
	want("port/gossip-udp", OK)
	want("clock", Skip, "no local agent answers")

	if mtu-vxlanOverhead4 >= fullMTU {
		want("mtu", OK, dev+" ("+addr+") has MTU "+strconv.Itoa(mtu))
	} else {
		want("mtu", Warn, dev+" ("+addr+") has MTU "+strconv.Itoa(mtu), "tasks get MTU "+strconv.Itoa(mtu-vxlanOverhead4))
	}

	r = Run(context.Background(), Options{Containerd: filepath.Join(t.TempDir(), "absent.sock"), Bind: "127.0.0.1",
		GossipPort: freePort(t), RaftPort: freePort(t), APIPort: freePort(t)})
	if f, _ := r.Find("containerd"); f.Status != Fail || !r.Failed() {
		t.Errorf("without containerd: %+v, Failed()=%v; want FAIL", f, r.Failed())
	}
}

// defaultRouteLink reads the default route's device and its first IPv4
// address with ip(8), and its MTU from sysfs.
func defaultRouteLink(t *testing.T) (dev, addr string, mtu int) {
	t.Helper()
	out, err := exec.Command("ip", "-4", "route", "show", "default").Output()
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "dev" && i+1 < len(f) {
			dev = f[i+1]
		}
	}
	if dev == "" {
		t.Skipf("no IPv4 default route here (%q, %v)", out, err)
	}
	b, err := os.ReadFile("/sys/class/net/" + dev + "/mtu")
	if err != nil {
		t.Fatal(err)
	}
	mtu, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	out, err = exec.Command("ip", "-4", "-o", "addr", "show", "dev", dev).Output()
	if f = strings.Fields(string(out)); err != nil || len(f) < 4 {
		t.Skipf("no IPv4 address on %s: %q %v", dev, out, err)
	}
	addr, _, _ = strings.Cut(f[3], "/")
	return dev, addr, mtu
}

func TestRealUnderlayByAddress(t *testing.T) {
	dev, addr, mtu := defaultRouteLink(t)
	l, err := RealHost{}.Underlay(addr)
	if err != nil || l.Name != dev || l.MTU != mtu || l.IPv6 || l.Addr != addr {
		t.Errorf("Underlay(%s) = %+v, %v; want %s MTU %d", addr, l, err, dev, mtu)
	}
	if l, err := (RealHost{}).Underlay("192.0.2.254"); err == nil {
		t.Errorf("Underlay of an address no interface holds = %+v", l)
	}
}

// TestRealPeerClock asks a TLS server with a certificate of a cluster CA
// for its Date, with a node certificate of the same CA, and is refused by
// one of another CA.
func TestRealPeerClock(t *testing.T) {
	ca, err := pki.NewCA("c1")
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	serverTLS := issue(t, ca, dataDir)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("{}"))
	}))
	srv.TLS = serverTLS
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	s, err := RealHost{}.PeerClock(context.Background(), dataDir, addr)
	if err != nil {
		t.Fatal(err)
	}
	if s.Received.Before(s.Sent) || s.Date.Before(s.Sent.Truncate(time.Second)) || s.Date.After(s.Received) {
		t.Errorf("sample %+v: the Date of a server on this clock must fall between send and receive (whole seconds)", s)
	}

	other, err := pki.NewCA("c2")
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	issue(t, other, otherDir)
	if _, err := (RealHost{}).PeerClock(context.Background(), otherDir, addr); err == nil {
		t.Error("a node of another cluster was answered")
	}
	if _, err := (RealHost{}).PeerClock(context.Background(), t.TempDir(), addr); err == nil || !strings.Contains(err.Error(), "certificates") {
		t.Errorf("without certificates: %v", err)
	}
}

// issue writes a node's certificates for 127.0.0.1 into dir/tls, as the
// agent keeps them, and returns a server TLS configuration with them.
func issue(t *testing.T, ca *pki.CA, dir string) *tls.Config {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueNode("n1", []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"ca.pem": ca.CertPEM, "node.pem": certPEM, "node-key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, "tls", name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := pki.ServerTLS(ca.CertPEM, certPEM, keyPEM, tls.RequireAndVerifyClientCert)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRealLocalAgent reads info and members from an API server on a unix
// socket through the api client, as from a running agent.
func TestRealLocalAgent(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"NodeID":"id1","Name":"n1","InCluster":true}`))
	})
	mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`[{"ID":"id2","Name":"n2","Addr":"10.0.0.2:7946","Status":"alive","Tags":{"api":"7948"}}]`))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	info, members, err := RealHost{}.LocalAgent(context.Background(), sock)
	if err != nil || info.Name != "n1" || len(members) != 1 || members[0].Tags["api"] != "7948" {
		t.Fatalf("LocalAgent = %+v, %+v, %v", info, members, err)
	}
	peers := peerAPIs(localAgent{info: info, members: members})
	if len(peers) != 1 || peers[0] != (peerAPI{name: "n2", addr: "10.0.0.2:7948"}) {
		t.Errorf("peers %+v", peers)
	}
	if _, _, err := (RealHost{}).LocalAgent(context.Background(), sock+".none"); err == nil {
		t.Error("no agent at a missing socket, yet no error")
	}
}
