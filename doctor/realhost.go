package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/hostaddr"
	"github.com/shoal-org/shoal/pki"
)

// RealHost is the Host of the running system. Its zero value is ready.
type RealHost struct{}

var _ Host = RealHost{}

// ReadFile implements Host.
func (RealHost) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// Exists implements Host.
func (RealHost) Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Writable implements Host.
func (RealHost) Writable(path string) bool { return unix.Access(path, unix.W_OK) == nil }

// LookPath implements Host.
func (RealHost) LookPath(name string) (string, error) { return exec.LookPath(name) }

// Output implements Host.
func (RealHost) Output(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}

// KernelRelease implements Host.
func (RealHost) KernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// Root implements Host.
func (RealHost) Root() bool { return os.Geteuid() == 0 }

// NFTables implements Host.
func (RealHost) NFTables() (int, error) {
	c, err := nftables.New()
	if err != nil {
		return 0, err
	}
	defer c.CloseLasting()
	tables, err := c.ListTables()
	return len(tables), err
}

// IPVS implements Host. It looks the generic netlink family up as
// lb.Detect does: github.com/moby/ipvs's New returns a handle even without
// IPVS (it only logs through logrus) and runs modprobe first.
func (RealHost) IPVS() error {
	_, err := netlink.GenlFamilyGet("IPVS")
	if errors.Is(err, unix.ENOENT) {
		return errors.New("generic netlink has no IPVS family")
	}
	return err
}

// Containerd implements Host.
func (RealHost) Containerd(ctx context.Context, socket string) (string, error) {
	c, err := containerd.New(socket, containerd.WithTimeout(2*time.Second))
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := c.Version(ctx)
	if err != nil {
		return "", err
	}
	return v.Version, nil
}

// Listen implements Host. Its error is the system call's ("bind: address
// already in use"): the finding names the address already.
func (RealHost) Listen(network, addr string) error {
	var c io.Closer
	var err error
	if network == "udp" {
		c, err = net.ListenPacket(network, addr)
	} else {
		c, err = net.Listen(network, addr)
	}
	if err != nil {
		if op := (*net.OpError)(nil); errors.As(err, &op) {
			return op.Err
		}
		return err
	}
	return c.Close()
}

// Underlay implements Host.
func (RealHost) Underlay(advertise string) (Link, error) {
	if advertise == "" {
		a, err := hostaddr.First()
		if err != nil {
			return Link{}, err
		}
		advertise = a
	}
	ip := net.ParseIP(advertise)
	if ip == nil {
		return Link{}, fmt.Errorf("advertise address %q is not an IP", advertise)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return Link{}, fmt.Errorf("list interfaces: %w", err)
	}
	for _, l := range links {
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a.IP.Equal(ip) {
				return Link{Name: l.Attrs().Name, MTU: l.Attrs().MTU, Addr: advertise, IPv6: ip.To4() == nil}, nil
			}
		}
	}
	return Link{}, fmt.Errorf("no interface holds %s", advertise)
}

// LocalAgent implements Host.
func (RealHost) LocalAgent(ctx context.Context, socket string) (api.Info, []api.Member, error) {
	c, err := api.NewClient("unix://"+socket, nil)
	if err != nil {
		return api.Info{}, nil, err
	}
	info, err := c.Info(ctx)
	if err != nil || !info.InCluster {
		return info, nil, err
	}
	members, err := c.Members(ctx)
	return info, members, err
}

// PeerClock implements Host.
func (RealHost) PeerClock(ctx context.Context, dataDir, addr string) (ClockSample, error) {
	var pem [3][]byte
	for i, name := range []string{"ca.pem", "node.pem", "node-key.pem"} {
		b, err := os.ReadFile(filepath.Join(dataDir, "tls", name))
		if err != nil {
			return ClockSample{}, fmt.Errorf("read this node's certificates: %w", err)
		}
		pem[i] = b
	}
	cfg, err := pki.ClientTLS(pem[0], pem[1], pem[2])
	if err != nil {
		return ClockSample{}, err
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, ForceAttemptHTTP2: false,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	defer tr.CloseIdleConnections()
	// Connect first, so that the handshake does not widen the interval.
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return ClockSample{}, err
	}
	tr.DialTLSContext = func(context.Context, string, string) (net.Conn, error) { return conn, nil }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/v1/info", nil)
	if err != nil {
		return ClockSample{}, err
	}
	sent := time.Now()
	resp, err := tr.RoundTrip(req)
	received := time.Now()
	if err != nil {
		return ClockSample{}, err
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return ClockSample{}, fmt.Errorf("member's answer has no usable Date header %q: %w", resp.Header.Get("Date"), err)
	}
	return ClockSample{Sent: sent, Received: received, Date: date}, nil
}

// trimFirstLine returns the first line of s without surrounding space.
func trimFirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}
