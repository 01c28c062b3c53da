package lbtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/internal/nsthread"
)

// Addresses of the test topology. Every one lives in namespaces the suite
// creates; nothing is routed out of them.
var (
	bridgeNet  = netip.MustParsePrefix("10.201.0.1/24") // node's address on the task bridge
	extNet     = netip.MustParsePrefix("10.202.0.1/24") // node's address on the "LAN" link
	extClient  = netip.MustParsePrefix("10.202.0.2/24")
	bridgeCli  = netip.MustParsePrefix("10.201.0.100/24")
	vipRoute   = netip.MustParsePrefix("10.96.0.0/16")
	backendNet = netip.MustParseAddr("10.201.0.10") // backend i gets .10+i
)

// Ports used by the backends' servers: HTTP on two ports (all-port VIPs
// are reached on both), UDP on one.
const (
	backendHTTPPort = 8080
	backendAltPort  = 80
	backendUDPPort  = 8081
)

// servedPortHeader is the response header in which a backend's HTTP server
// names the port it served the request on.
const servedPortHeader = "X-Served-Port"

// nsPath names a namespace handle by a path any thread can open.
func nsPath(ns netns.NsHandle) string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns)) }

// Backend is a test backend: a namespace on the bridge whose HTTP server
// (ports 8080 and 80) and UDP server (port 8081) answer with its name; the
// HTTP server names the port it served on in header X-Served-Port.
type Backend struct {
	Name string
	IP   netip.Addr
	ns   netns.NsHandle
	srv  *http.Server
	udp  net.PacketConn
	wg   sync.WaitGroup
}

// Topo is one case's network: a node namespace (where the dataplane runs)
// with a bridge holding the backends and a client, and a separate link to an
// "external" client that reaches the node's own address.
type Topo struct {
	Node     netns.NsHandle
	Client   netns.NsHandle // on the bridge, like a task on the node
	External netns.NsHandle // on the node's other link, like another host
	Backends []*Backend
	// NodeIP is the node's own address on the external link.
	NodeIP netip.Addr
	// BridgeIP is the node's own address on the bridge.
	BridgeIP netip.Addr
	nsAll    []netns.NsHandle
}

// NodePath is a path naming the node namespace, for lb.Options.NetNS.
func (tp *Topo) NodePath() string { return nsPath(tp.Node) }

// newTopo builds the topology with n backends named b1..bn; t.Cleanup tears
// it down.
func newTopo(t *testing.T, n int) *Topo {
	t.Helper()
	tp := &Topo{NodeIP: extNet.Addr(), BridgeIP: bridgeNet.Addr()}
	t.Cleanup(tp.close)
	if err := tp.build(n); err != nil {
		t.Fatalf("build test topology: %v", err)
	}
	return tp
}

func (tp *Topo) ns() (netns.NsHandle, error) {
	ns, err := nsthread.New()
	if err == nil {
		tp.nsAll = append(tp.nsAll, ns)
	}
	return ns, err
}

func (tp *Topo) build(n int) error {
	var err error
	if tp.Node, err = tp.ns(); err != nil {
		return err
	}
	hn, err := netlink.NewHandleAt(tp.Node, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink handle in node ns: %w", err)
	}
	defer hn.Close()
	if err := setupNode(hn); err != nil {
		return err
	}
	if err := nsthread.Do(tp.Node, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	}); err != nil {
		return fmt.Errorf("enable forwarding in node ns: %w", err)
	}
	if tp.Client, err = tp.ns(); err != nil {
		return err
	}
	if err := plug(hn, tp.Client, "vcli", "br0", bridgeCli, bridgeNet.Addr()); err != nil {
		return err
	}
	if tp.External, err = tp.ns(); err != nil {
		return err
	}
	if err := plug(hn, tp.External, "ext0", "", extClient, extNet.Addr()); err != nil {
		return err
	}
	if err := hn.AddrAdd(mustLink(hn, "ext0"), &netlink.Addr{IPNet: ipnet(extNet)}); err != nil {
		return fmt.Errorf("address node's external link: %w", err)
	}
	for i := 1; i <= n; i++ {
		if err := tp.addBackend(hn, i); err != nil {
			return err
		}
	}
	return tp.waitUp()
}

// waitUp waits until every link of every namespace is operationally up: a
// new veth drops packets until the kernel's link watcher (which runs up to
// a second later) activates its queue.
func (tp *Topo) waitUp() error {
	deadline := time.Now().Add(10 * time.Second)
	for _, ns := range tp.nsAll {
		h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink handle: %w", err)
		}
		err = waitLinksUp(h, deadline)
		h.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func waitLinksUp(h *netlink.Handle, deadline time.Time) error {
	for {
		links, err := h.LinkList()
		if err != nil {
			return fmt.Errorf("list links: %w", err)
		}
		var down []string
		for _, l := range links {
			// Tunnels and other devices without a carrier report
			// "unknown" once up.
			if a := l.Attrs(); a.Name != "lo" && a.OperState != netlink.OperUp && a.OperState != netlink.OperUnknown {
				down = append(down, a.Name+"="+a.OperState.String())
			}
		}
		if len(down) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("links not up after 10s: %v", down)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func setupNode(hn *netlink.Handle) error {
	if err := linkUp(hn, "lo"); err != nil {
		return err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := hn.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge: %w", err)
	}
	if err := hn.AddrAdd(br, &netlink.Addr{IPNet: ipnet(bridgeNet)}); err != nil {
		return fmt.Errorf("address bridge: %w", err)
	}
	if err := hn.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring bridge up: %w", err)
	}
	// Locally originated connections to a VIP need a route before the
	// output hook translates them (the overlay's route in the product).
	rt := &netlink.Route{LinkIndex: br.Index, Dst: ipnet(vipRoute), Scope: netlink.SCOPE_LINK}
	if err := hn.RouteAdd(rt); err != nil {
		return fmt.Errorf("add VIP route: %w", err)
	}
	return nil
}

// plug links peer to the node with a veth pair: hostName in the node
// (enslaved to bridge when given), eth0 in peer with addr and a default
// route via gw.
func plug(hn *netlink.Handle, peer netns.NsHandle, hostName, bridge string, addr netip.Prefix, gw netip.Addr) error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostName}, PeerName: "eth0", PeerNamespace: netlink.NsFd(peer)}
	if err := hn.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", hostName, err)
	}
	if bridge != "" {
		if err := hn.LinkSetMaster(veth, mustLink(hn, bridge)); err != nil {
			return fmt.Errorf("attach %s to %s: %w", hostName, bridge, err)
		}
	}
	if err := hn.LinkSetUp(veth); err != nil {
		return fmt.Errorf("bring %s up: %w", hostName, err)
	}
	hp, err := netlink.NewHandleAt(peer, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink handle in peer ns: %w", err)
	}
	defer hp.Close()
	eth := mustLink(hp, "eth0")
	if eth == nil {
		return errors.New("peer eth0 missing")
	}
	if err := hp.AddrAdd(eth, &netlink.Addr{IPNet: ipnet(addr)}); err != nil {
		return fmt.Errorf("address peer of %s: %w", hostName, err)
	}
	for _, name := range []string{"lo", "eth0"} {
		if err := linkUp(hp, name); err != nil {
			return err
		}
	}
	rt := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice()}
	if err := hp.RouteAdd(rt); err != nil {
		return fmt.Errorf("default route of peer of %s: %w", hostName, err)
	}
	return nil
}

func (tp *Topo) addBackend(hn *netlink.Handle, i int) error {
	ns, err := tp.ns()
	if err != nil {
		return err
	}
	ip := backendNet
	for range i {
		ip = ip.Next()
	}
	b := &Backend{Name: fmt.Sprintf("b%d", i), IP: ip, ns: ns}
	tp.Backends = append(tp.Backends, b)
	if err := plug(hn, ns, fmt.Sprintf("vb%d", i), "br0", netip.PrefixFrom(ip, 24), bridgeNet.Addr()); err != nil {
		return err
	}
	return b.start()
}

// start runs the backend's servers on sockets opened inside its namespace.
func (b *Backend) start() error {
	var lns []net.Listener
	err := nsthread.Do(b.ns, func() error {
		for _, port := range []int{backendHTTPPort, backendAltPort} {
			ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
			if err != nil {
				return err
			}
			lns = append(lns, ln)
		}
		var err error
		b.udp, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", backendUDPPort))
		return err
	})
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return fmt.Errorf("start servers of backend %s: %w", b.Name, err)
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
			w.Header().Set(servedPortHeader, strconv.Itoa(a.Port))
		}
		fmt.Fprint(w, b.Name)
	})}
	for _, ln := range lns {
		b.wg.Add(1)
		go func() { defer b.wg.Done(); _ = b.srv.Serve(ln) }()
	}
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.serveUDP() }()
	return nil
}

func (b *Backend) serveUDP() {
	buf := make([]byte, 512)
	for {
		_, from, err := b.udp.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		_, _ = b.udp.WriteTo([]byte(b.Name), from)
	}
}

func (b *Backend) stop() {
	if b.srv != nil {
		_ = b.srv.Close()
	}
	if b.udp != nil {
		_ = b.udp.Close()
	}
	b.wg.Wait()
}

func (tp *Topo) close() {
	for _, b := range tp.Backends {
		b.stop()
	}
	for _, ns := range tp.nsAll {
		_ = ns.Close()
	}
}

func linkUp(h *netlink.Handle, name string) error {
	l := mustLink(h, name)
	if l == nil {
		return fmt.Errorf("link %s not found", name)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	return nil
}

func mustLink(h *netlink.Handle, name string) netlink.Link {
	l, err := h.LinkByName(name)
	if err != nil {
		return nil
	}
	return l
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
