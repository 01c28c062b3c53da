package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
)

// Proto is a transport protocol a service is reached over.
type Proto string

// The protocols a service may use.
const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// Backend is one endpoint (a task's address) of a service. Port is the
// port connections are forwarded to; it is 0 in an all-port service, whose
// connections keep the port the client used. Weight 0 means draining: the
// backend gets no new connections while its existing ones continue through
// conntrack.
type Backend struct {
	IP     netip.Addr
	Port   uint16
	Weight int
}

// AddrPort returns the backend's address and port.
func (b Backend) AddrPort() netip.AddrPort { return netip.AddrPortFrom(b.IP, b.Port) }

// Frontend is where a service is reached at a VIP: VIP:Port/Proto, or with
// Port 0 and no Proto every TCP and UDP port of the VIP. A service reached
// only at a published port has a Frontend without VIP, naming its target
// port.
type Frontend struct {
	VIP   netip.Addr
	Port  uint16
	Proto Proto
}

// AllPorts reports whether the frontend is every TCP and UDP port of its VIP.
func (f Frontend) AllPorts() bool { return f.Port == 0 }

// String renders the frontend as "VIP:port/proto", "VIP:*" for all ports,
// or "port/proto" without VIP.
func (f Frontend) String() string {
	switch {
	case !f.VIP.IsValid():
		return fmt.Sprintf("%d/%s", f.Port, f.Proto)
	case f.AllPorts():
		return f.VIP.String() + ":*"
	}
	return netip.AddrPortFrom(f.VIP, f.Port).String() + "/" + string(f.Proto)
}

// Service is one load-balanced frontend and its backends. Key is a stable id
// that ties successive configs together. A Service takes one of three
// shapes (Apply rejects any other):
//
//   - All-port VIP (swarm's VIP): VIP set, Port 0, Proto "", no
//     PublishedPort, backends with Port 0. The VIP answers on every TCP and
//     UDP port and forwards each connection to the same port of a backend.
//     No other service may use the VIP.
//   - Published port (swarm's routing mesh): no VIP, PublishedPort set,
//     Port the target port and Proto its protocol, backends with that
//     Port. Every local address of the node (except 127.0.0.0/8) answers
//     on PublishedPort/Proto and forwards to Port on a backend.
//   - Port VIP: VIP, Port and Proto set, backends with a Port; VIP:Port/Proto
//     forwards to the backends' ports. With PublishedPort it is also
//     published as above.
//
// A swarm service with VIPs on two networks and --publish 8080:80/tcp is
// three Services: one all-port VIP per network (its tasks' addresses on that
// network) and one published port (80 on the tasks' addresses), for example
// keyed "web/vip/net1", "web/vip/net2" and "web/published/8080/tcp".
type Service struct {
	Key           string
	VIP           netip.Addr
	Port          uint16
	Proto         Proto
	PublishedPort uint16
	Backends      []Backend
}

// Frontend returns the VIP frontend of s (without VIP for a published-port
// service).
func (s Service) Frontend() Frontend { return Frontend{VIP: s.VIP, Port: s.Port, Proto: s.Proto} }

// AllPorts reports whether s is an all-port VIP service.
func (s Service) AllPorts() bool { return s.Port == 0 }

// Config is the whole desired state of a dataplane.
type Config struct {
	Services []Service
}

// Dataplane programs the kernel so that every Service of the last applied
// Config is balanced over its backends. Implementations are safe for
// concurrent use; calls are serialized.
type Dataplane interface {
	// Name is the backend's kind: "ipvs", "nftables" or "fake".
	Name() string
	// Apply makes the kernel match cfg, the whole desired state. It is
	// idempotent and incremental: only what changed since the last Apply is
	// touched. An invalid cfg is rejected as a whole and changes nothing. On
	// a kernel error the dataplane keeps what it knows it reached, and a
	// later Apply retries the rest.
	Apply(ctx context.Context, cfg Config) error
	// Close removes everything this dataplane created and releases its
	// handles. The dataplane must not be used afterwards.
	Close() error
}

// Kinds accepted by New.
const (
	KindAuto     = "auto"
	KindIPVS     = "ipvs"
	KindNftables = "nftables"
)

// Defaults for Options.
const (
	DefaultTableName      = "shoal"
	DefaultDummyDevice    = "shoal-vip0"
	DefaultMasqueradeMark = 0x00100000
)

// Options configure a dataplane. The zero value is usable.
type Options struct {
	// TableName is the nftables table (family ip) the dataplane owns:
	// the whole load balancer in the nftables backend, the marking,
	// published-port and masquerade rules in the IPVS backend.
	// Default "shoal".
	TableName string
	// NetNS is the path of the network namespace to program (for example
	// /var/run/netns/x or /proc/self/fd/N); "" is the namespace of the
	// thread calling New (normally the process's own).
	NetNS string
	// Logger receives change summaries; nil means slog.Default().
	Logger *slog.Logger
	// MasqueradeMark is the packet mark bit that flags connections to be
	// masqueraded on their way to a backend. Default 0x00100000. The IPVS
	// backend's firewall marks (MasqueradeMark | n, n counting from 1)
	// include it, and it owns the IPVS firewall-mark services whose mark
	// does.
	MasqueradeMark uint32
	// DummyDevice is the interface the IPVS backend assigns VIPs to.
	// Default "shoal-vip0".
	DummyDevice string
}

func (o Options) withDefaults() Options {
	if o.TableName == "" {
		o.TableName = DefaultTableName
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MasqueradeMark == 0 {
		o.MasqueradeMark = DefaultMasqueradeMark
	}
	if o.DummyDevice == "" {
		o.DummyDevice = DefaultDummyDevice
	}
	return o
}

// ErrUnknownKind is returned by New for a kind it does not know.
var ErrUnknownKind = errors.New("lb: unknown dataplane kind")

// Detect returns "ipvs" if the kernel offers IPVS (the ip_vs module is loaded
// or its generic netlink family resolves, which loads it on demand), else
// "nftables".
func Detect() string {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		return KindIPVS
	}
	if _, err := netlink.GenlFamilyGet("IPVS"); err == nil {
		return KindIPVS
	}
	return KindNftables
}

// New returns the dataplane of the given kind: "ipvs", "nftables", or ""/"auto"
// for the one Detect picks.
func New(kind string, opts Options) (Dataplane, error) {
	opts = opts.withDefaults()
	if kind == "" || kind == KindAuto {
		kind = Detect()
	}
	var dp Dataplane
	var err error
	switch kind {
	case KindNftables:
		dp, err = newNft(opts)
	case KindIPVS:
		dp, err = newIPVS(opts)
	default:
		return nil, fmt.Errorf("%w %q: use auto, ipvs or nftables", ErrUnknownKind, kind)
	}
	if err != nil {
		return nil, err
	}
	return dp, nil
}

func protoNumber(p Proto) uint8 {
	if p == UDP {
		return 17
	}
	return 6
}
