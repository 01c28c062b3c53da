package overlay

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/shoal-org/shoal/internal/nsthread"
	"github.com/shoal-org/shoal/internal/testenv"
)

// The lab: network namespaces made by the test (never the host's), joined
// by a bridge in a "switch" namespace on 10.78.0.0/24. Deleting the
// namespaces in Cleanup removes every device in them.

// rootWhy is why the overlay's kernel tests need root.
const rootWhy = "creates network namespaces, bridges and VXLAN devices"

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newNS pins a new namespace at path and removes it at cleanup.
func newNS(t testing.TB, path string) string {
	t.Helper()
	must(t, CreateNetNS(path))
	t.Cleanup(func() {
		if err := DeleteNetNS(path); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return path
}

// handleAt opens a netlink handle in the namespace at path.
func handleAt(t testing.TB, path string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	must(t, err)
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	must(t, err)
	t.Cleanup(h.Close)
	return h
}

type labNode struct {
	name     string
	ns       string
	underlay netip.Addr
	k        *NetlinkKernel
	m        *Manager
}

type lab struct {
	dir   string
	nodes []*labNode
}

// newLab makes n nodes, node i with eth0 at 10.78.0.(i+1)/24 on the switch.
func newLab(t testing.TB, n int) *lab {
	testenv.RequireRoot(t, rootWhy)
	l := &lab{dir: t.TempDir()}
	sw := handleAt(t, newNS(t, filepath.Join(l.dir, "switch")))
	must(t, sw.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "lan"}}))
	lan, err := sw.LinkByName("lan")
	must(t, err)
	must(t, sw.LinkSetUp(lan))
	for i := range n {
		name := string(rune('a' + i))
		path := newNS(t, filepath.Join(l.dir, "node-"+name))
		ns, err := netns.GetFromPath(path)
		must(t, err)
		port := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "port-" + name, MasterIndex: lan.Attrs().Index},
			PeerName: "eth0", PeerNamespace: netlink.NsFd(ns)}
		err = sw.LinkAdd(port)
		ns.Close()
		must(t, err)
		must(t, sw.LinkSetUp(port))
		h := handleAt(t, path)
		ul := netip.AddrFrom4([4]byte{10, 78, 0, byte(i + 1)})
		for _, dev := range []string{"lo", "eth0"} {
			link, err := h.LinkByName(dev)
			must(t, err)
			if dev == "eth0" {
				must(t, h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(ul, 24))}))
			}
			must(t, h.LinkSetUp(link))
		}
		// Strict reverse-path filtering, as many distributions set it.
		must(t, nsthread.DoPath(path, func() error {
			for _, c := range []string{"all", "default", "eth0"} {
				if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+c+"/rp_filter", []byte("1"), 0o644); err != nil {
					return err
				}
			}
			return nil
		}))
		k, err := NewNetlinkKernelAt(path)
		must(t, err)
		t.Cleanup(func() { k.Close() })
		l.nodes = append(l.nodes, &labNode{name: name, ns: path, underlay: ul, k: k, m: NewManager(k, quiet)})
	}
	return l
}

// labNet is an overlay network of the lab: node i's subnet is
// 10.<octet>.<i+1>.0/24.
type labNet struct {
	name  string
	vni   uint32
	octet byte
}

func (n labNet) subnet(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, n.octet, byte(i + 1), 0}), 24)
}

// desired is node i's configuration with every node in peers (but itself).
func (l *lab) desired(i int, nets []labNet, peers ...int) Desired {
	d := Desired{Underlay: l.nodes[i].underlay, UnderlayDev: "eth0"}
	for _, n := range nets {
		nw := Network{Name: n.name, VNI: n.vni, Subnet: n.subnet(i),
			CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, n.octet, 0, 0}), 16)}
		for _, j := range peers {
			if j != i {
				nw.Peers = append(nw.Peers, Peer{NodeID: l.nodes[j].name, Underlay: l.nodes[j].underlay, Subnet: n.subnet(j)})
			}
		}
		d.Networks = append(d.Networks, nw)
	}
	return d
}

// task makes a task namespace on node i and attaches it.
func (l *lab) task(t testing.TB, i int, id string, reqs ...AttachRequest) string {
	t.Helper()
	path := newNS(t, filepath.Join(l.dir, "task-"+id))
	atts, err := l.nodes[i].m.Attach(context.Background(), path, id, reqs)
	must(t, err)
	// Every host end is a hairpin bridge port (see AddTaskVeth).
	h := handleAt(t, l.nodes[i].ns)
	for _, a := range atts {
		link, err := h.LinkByName(a.HostVeth)
		must(t, err)
		pi, err := h.LinkGetProtinfo(link)
		must(t, err)
		if !pi.Hairpin {
			t.Errorf("task %s: bridge port %s is not in hairpin mode", id, a.HostVeth)
		}
	}
	return path
}

// serve listens on TCP port 7000 in the namespace at path and answers every
// connection with name. It stops at cleanup.
func serve(t testing.TB, path, name string) {
	t.Helper()
	var ln net.Listener
	must(t, nsthread.DoPath(path, func() (err error) {
		ln, err = net.Listen("tcp4", ":7000")
		return err
	}))
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, name)
			_ = c.Close()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
}

// dial connects from the namespace at path to addr:7000 and returns what the
// server said.
func dial(path, addr string) (string, error) {
	var c net.Conn
	err := nsthread.DoPath(path, func() (err error) {
		c, err = net.DialTimeout("tcp4", net.JoinHostPort(addr, "7000"), 5*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// dialUntil retries dial until it succeeds or 15 s have passed.
func dialUntil(t testing.TB, path, addr string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := dial(path, addr)
		if err == nil {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s from %s: %v", addr, filepath.Base(path), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ipIn runs an iproute2 command in the namespace at path (observation only).
func ipIn(t testing.TB, path string, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// countingKernel counts the mutating calls that reach the real kernel.
type countingKernel struct {
	Kernel
	mu sync.Mutex
	n  []string
}

func (c *countingKernel) count(what fmt.Stringer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = append(c.n, what.String())
}

type str string

func (s str) String() string { return string(s) }

func (c *countingKernel) AddLink(l Link) error { c.count(l); return c.Kernel.AddLink(l) }
func (c *countingKernel) UpdateLink(a, b Link) error {
	c.count(b)
	return c.Kernel.UpdateLink(a, b)
}
func (c *countingKernel) DelLink(n string) error     { c.count(str(n)); return c.Kernel.DelLink(n) }
func (c *countingKernel) AddAddr(a Addr) error       { c.count(a); return c.Kernel.AddAddr(a) }
func (c *countingKernel) DelAddr(a Addr) error       { c.count(a); return c.Kernel.DelAddr(a) }
func (c *countingKernel) AddRoute(r Route) error     { c.count(r); return c.Kernel.AddRoute(r) }
func (c *countingKernel) ReplaceRoute(r Route) error { c.count(r); return c.Kernel.ReplaceRoute(r) }
func (c *countingKernel) DelRoute(r Route) error     { c.count(r); return c.Kernel.DelRoute(r) }
func (c *countingKernel) SetNeigh(n Neigh) error     { c.count(n); return c.Kernel.SetNeigh(n) }
func (c *countingKernel) DelNeigh(n Neigh) error     { c.count(n); return c.Kernel.DelNeigh(n) }
func (c *countingKernel) SetFDB(f FDB) error         { c.count(f); return c.Kernel.SetFDB(f) }
func (c *countingKernel) DelFDB(f FDB) error         { c.count(f); return c.Kernel.DelFDB(f) }
func (c *countingKernel) AddRule(r Rule) error       { c.count(r); return c.Kernel.AddRule(r) }
func (c *countingKernel) DelRule(r Rule) error       { c.count(r); return c.Kernel.DelRule(r) }
func (c *countingKernel) AddTaskVeth(v TaskVeth) error {
	c.count(str(v.Host))
	return c.Kernel.AddTaskVeth(v)
}
