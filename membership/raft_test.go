package membership

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testFSM records applied commands; it is a real FSM with snapshots.
type testFSM struct {
	mu   sync.Mutex
	cmds []string
}

var _ raft.FSM = (*testFSM)(nil)

func (f *testFSM) Apply(l *raft.Log) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, string(l.Data))
	return len(f.cmds)
}

func (f *testFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := json.Marshal(f.cmds)
	return fsmSnapshot(data), err
}

func (f *testFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var cmds []string
	if err := json.NewDecoder(rc).Decode(&cmds); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = cmds
	return nil
}

func (f *testFSM) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}

// fastRaft keeps tests quick while leaving room for -race on 2 cores.
var fastRaft = RaftTiming{HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond, LeaderLeaseTimeout: 250 * time.Millisecond}

const raftWait = 30 * time.Second

type raftNode struct {
	id     string
	addr   string
	r      *raft.Raft
	closer io.Closer
	fsm    *testFSM
	cfg    RaftConfig
}

func (n *raftNode) stop(t testing.TB) {
	t.Helper()
	if err := n.r.Shutdown().Error(); err != nil {
		t.Errorf("shutdown %s: %v", n.id, err)
	}
	if err := n.closer.Close(); err != nil {
		t.Errorf("close %s: %v", n.id, err)
	}
}

// startTLSNode starts a raft node over mutual TLS on a loopback port, with
// a certificate from ca.
func startTLSNode(t *testing.T, id string, ca *testCA) *raftNode {
	t.Helper()
	srv, cli := tlsConfigs(ca.issue(t, id), ca.pool)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := RaftConfig{NodeID: id, DataDir: t.TempDir(), BindAddr: addr, ServerTLS: srv, ClientTLS: cli, Logger: testLogger(), Timing: fastRaft}
	fsm := &testFSM{}
	r, closer, err := NewRaft(cfg, fsm)
	if err != nil {
		t.Fatal(err)
	}
	n := &raftNode{id: id, addr: addr, r: r, closer: closer, fsm: fsm, cfg: cfg}
	t.Cleanup(func() { _ = r.Shutdown().Error(); _ = closer.Close() })
	return n
}

func waitLeader(t *testing.T, nodes ...*raftNode) *raftNode {
	t.Helper()
	var leader *raftNode
	waitFor(t, raftWait, "a raft leader", func() bool {
		for _, n := range nodes {
			if n.r.State() == raft.Leader {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

func applyAll(t *testing.T, leader *raftNode, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if err := leader.r.Apply([]byte(c), 5*time.Second).Error(); err != nil {
			t.Fatalf("apply %q on %s: %v", c, leader.id, err)
		}
	}
}

func TestRaftOverMutualTLS(t *testing.T) {
	ca := newTestCA(t, "cluster")
	nodes := []*raftNode{startTLSNode(t, "n1", ca), startTLSNode(t, "n2", ca), startTLSNode(t, "n3", ca)}
	if err := BootstrapSingle(nodes[0].r, "n1", nodes[0].addr); err != nil {
		t.Fatal(err)
	}
	leader := waitLeader(t, nodes[0])
	for _, n := range nodes[1:] {
		if err := leader.r.AddVoter(raft.ServerID(n.id), raft.ServerAddress(n.addr), 0, 5*time.Second).Error(); err != nil {
			t.Fatalf("add voter %s: %v", n.id, err)
		}
	}
	applyAll(t, leader, "one", "two", "three")
	for _, n := range nodes {
		waitFor(t, raftWait, n.id+" has every entry", func() bool {
			return strings.Join(n.fsm.commands(), ",") == "one,two,three"
		})
	}
	// The two followers got their entries over TLS from the leader: check
	// they know the leader, i.e. heartbeats flow.
	for _, n := range nodes[1:] {
		if _, id := n.r.LeaderWithID(); id != "n1" {
			t.Fatalf("%s sees leader %q", n.id, id)
		}
	}
	if err := BootstrapSingle(nodes[0].r, "n1", nodes[0].addr); !errors.Is(err, raft.ErrCantBootstrap) {
		t.Fatalf("second bootstrap = %v, want ErrCantBootstrap", err)
	}
}

// tlsEcho starts a stream layer of ca's node "srv" that reads one line per
// connection and reports the outcome on the returned channel.
func tlsEcho(t *testing.T, serverTLS *tls.Config) (addr string, results <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	layer := NewTLSStreamLayer(ln, nil, serverTLS, &tls.Config{}, nil, testLogger())
	out := make(chan error, 4)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := layer.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 5)
			_, err = io.ReadFull(c, buf)
			if err == nil {
				_, err = c.Write(buf)
			}
			out <- err
			c.Close()
		}
	}()
	t.Cleanup(func() { layer.Close(); wg.Wait() })
	return ln.Addr().String(), out
}

// dialAndPing dials through a stream layer with clientTLS and exchanges
// five bytes.
func dialAndPing(addr string, clientTLS *tls.Config) error {
	layer := NewTLSStreamLayer(nopListener{}, &net.TCPAddr{}, &tls.Config{}, clientTLS, nil, testLogger())
	c, err := layer.Dial(raft.ServerAddress(addr), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if !bytes.Equal(buf, []byte("hello")) {
		return fmt.Errorf("echo = %q", buf)
	}
	return nil
}

func TestTLSStreamLayerRequiresClusterCert(t *testing.T) {
	ca, other := newTestCA(t, "cluster"), newTestCA(t, "intruder")
	srvTLS, _ := tlsConfigs(ca.issue(t, "srv"), ca.pool)
	srvTLS.ClientAuth = tls.NoClientCert // the layer must force verification anyway
	addr, results := tlsEcho(t, srvTLS)

	_, good := tlsConfigs(ca.issue(t, "good"), ca.pool)
	if err := dialAndPing(addr, good); err != nil {
		t.Fatalf("client with a cluster cert: %v", err)
	}
	if err := <-results; err != nil {
		t.Fatalf("server side of the good client: %v", err)
	}

	_, foreign := tlsConfigs(other.issue(t, "evil"), ca.pool) // trusts the cluster, but its cert is not from it
	if err := dialAndPing(addr, foreign); err == nil {
		t.Fatal("client with a cert from another CA was served")
	}
	noCert := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
	if err := dialAndPing(addr, noCert); err == nil {
		t.Fatal("client without a cert was served")
	}
	// Refused connections never reach Accept: the next result is the good
	// client's again.
	if err := dialAndPing(addr, good); err != nil {
		t.Fatalf("client with a cluster cert after the refusals: %v", err)
	}
	if err := <-results; err != nil {
		t.Fatalf("a refused client reached Accept, or the good one failed: %v", err)
	}
}

func TestTLSStreamLayerVerifiesServer(t *testing.T) {
	ca, other := newTestCA(t, "cluster"), newTestCA(t, "intruder")
	evilSrv, _ := tlsConfigs(other.issue(t, "evil"), ca.pool)
	addr, _ := tlsEcho(t, evilSrv)
	_, cli := tlsConfigs(ca.issue(t, "cli"), ca.pool)
	err := dialAndPing(addr, cli)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial to a server with a foreign cert = %v, want a certificate error", err)
	}
}

// nopListener lets a stream layer be used only for dialling.
type nopListener struct{}

func (nopListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (nopListener) Close() error              { return nil }
func (nopListener) Addr() net.Addr            { return &net.TCPAddr{} }

func TestNewRaftValidatesConfig(t *testing.T) {
	if _, _, err := NewRaft(RaftConfig{NodeID: "a", DataDir: t.TempDir(), BindAddr: "127.0.0.1:0"}, &testFSM{}); err == nil {
		t.Fatal("NewRaft without TLS configs succeeded")
	}
	ca := newTestCA(t, "c")
	srv, cli := tlsConfigs(ca.issue(t, "a"), ca.pool)
	_, _, err := NewRaft(RaftConfig{NodeID: "a", DataDir: t.TempDir(), BindAddr: "0.0.0.0:0", ServerTLS: srv, ClientTLS: cli}, &testFSM{})
	if err == nil || !strings.Contains(err.Error(), "AdvertiseAddr") {
		t.Fatalf("wildcard bind without advertise address: %v", err)
	}
	if _, _, err := NewRaft(RaftConfig{NodeID: "a", BindAddr: "127.0.0.1:0", ServerTLS: srv, ClientTLS: cli}, &testFSM{}); err == nil {
		t.Fatal("NewRaft without DataDir succeeded")
	}
}
