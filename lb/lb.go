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

// Backend is one endpoint (a task's address) of a service. Weight 0 means
// draining: the backend gets no new connections while its existing ones
// continue through conntrack.
type Backend struct {
	IP     netip.Addr
	Port   uint16
	Weight int
}

// AddrPort returns the backend's address and port.
func (b Backend) AddrPort() netip.AddrPort { return netip.AddrPortFrom(b.IP, b.Port) }

// Frontend is the address a service is reached at: its VIP, port and
// protocol.
type Frontend struct {
	VIP   netip.Addr
	Port  uint16
	Proto Proto
}

// String renders the frontend as "VIP:port/proto".
func (f Frontend) String() string {
	return netip.AddrPortFrom(f.VIP, f.Port).String() + "/" + string(f.Proto)
}

// Service is one load-balanced frontend and its backends. Key is a stable id
// (for example serviceID/port/proto) that ties successive configs together.
// PublishedPort, when not 0, makes every local address of the node answer on
// that port too (swarm's routing mesh).
type Service struct {
	Key           string
	VIP           netip.Addr
	Port          uint16
	Proto         Proto
	PublishedPort uint16
	Backends      []Backend
}

// Frontend returns the VIP frontend of s.
func (s Service) Frontend() Frontend { return Frontend{VIP: s.VIP, Port: s.Port, Proto: s.Proto} }

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
	// masqueraded on their way to a backend. Default 0x00100000.
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
