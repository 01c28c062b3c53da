package doctor

import (
	"context"
	"time"

	"github.com/shoal-org/shoal/api"
)

// Host is everything the checks ask of the machine. RealHost answers from
// the running system; tests use a fake. Implementations must not change the
// host's state, and must be safe for concurrent use (PeerClock is called
// for several members at once).
type Host interface {
	// ReadFile returns a file's contents (os.ReadFile).
	ReadFile(path string) ([]byte, error)
	// Exists reports whether path exists.
	Exists(path string) bool
	// Writable reports whether this process may write path (access(2) W_OK).
	Writable(path string) bool
	// LookPath finds a program on PATH (exec.LookPath).
	LookPath(name string) (string, error)
	// Output runs a program and returns its standard output.
	Output(ctx context.Context, name string, args ...string) (string, error)
	// KernelRelease is uname -r.
	KernelRelease() string
	// Root reports whether this process runs as root (the netlink probes
	// need CAP_NET_ADMIN).
	Root() bool
	// NFTables opens an nftables netlink connection and lists the tables;
	// it returns how many there are.
	NFTables() (int, error)
	// IPVS looks up the IPVS generic netlink family (github.com/moby/ipvs).
	IPVS() error
	// Containerd asks the containerd at socket for its version.
	Containerd(ctx context.Context, socket string) (string, error)
	// Listen opens and closes a listener ("tcp" or "udp") on addr; an error
	// means the port cannot be taken.
	Listen(network, addr string) error
	// Underlay returns the interface that holds advertise; when advertise
	// is empty, the one holding the address the agent picks itself (the
	// first global unicast IPv4 address of an up interface).
	Underlay(advertise string) (Link, error)
	// LocalAgent asks the agent at the unix socket about itself and its
	// gossip members.
	LocalAgent(ctx context.Context, socket string) (api.Info, []api.Member, error)
	// PeerClock makes one HTTPS request to a member's API at addr
	// (host:port) with the node's certificates from dataDir and returns the
	// times around it and the Date header of the answer.
	PeerClock(ctx context.Context, dataDir, addr string) (ClockSample, error)
}

// Link is a network interface as the MTU and forwarding checks see it.
type Link struct {
	Name string
	MTU  int
	// Addr is the underlay address the interface holds.
	Addr string
	// IPv6 is true when the underlay address is IPv6 (VXLAN then costs 70
	// bytes instead of 50).
	IPv6 bool
}

// ClockSample is one request to a member: the local clock when it was sent
// and when the answer came, and the member's clock (the Date header, whole
// seconds) somewhere in between.
type ClockSample struct {
	Sent, Received, Date time.Time
}

// String names the interface and, when known, the address: "eth0 (10.0.0.1)".
func (l Link) String() string {
	if l.Addr == "" {
		return l.Name
	}
	return l.Name + " (" + l.Addr + ")"
}
