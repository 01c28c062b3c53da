package resolver

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Kind says how a query is to be answered.
type Kind uint8

const (
	// Forward: the name is not a cluster name; ask the upstream servers.
	Forward Kind = iota
	// Found: the name is a cluster name the client may see. The answer is
	// NOERROR with Result.IPs, which may be empty (no serving task, a
	// record type other than A, a VIP not yet allocated).
	Found
	// Hidden: the name is a cluster name, but of services on networks the
	// client is not on. The answer is NXDOMAIN; the name is not forwarded,
	// so a cluster name never leaks to an outside server.
	Hidden
)

// String names k for logs and test failures.
func (k Kind) String() string {
	switch k {
	case Forward:
		return "forward"
	case Found:
		return "found"
	case Hidden:
		return "hidden"
	}
	return "kind?"
}

// Result is the outcome of Lookup. IPs is shared with the Records and must
// not be modified.
type Result struct {
	Kind Kind
	IPs  []netip.Addr
}

// Lookup answers one question from a client. client is the query's source
// address; the invalid Addr stands for a client on the node itself, which
// sees the services of every network. qname may carry any case and a
// trailing dot. Lookup is pure and safe for concurrent use.
func (r *Records) Lookup(client netip.Addr, qname string, qtype uint16) Result {
	e := r.names[normalize(qname)]
	if e == nil {
		return Result{Kind: Forward}
	}
	v, ok := r.pick(e, r.clientNets(client))
	if !ok {
		return Result{Kind: Hidden}
	}
	if qtype != dns.TypeA {
		return Result{Kind: Found}
	}
	return Result{Kind: Found, IPs: v.ips}
}

// normalize lowercases name and drops one trailing dot. strings.ToLower
// does not allocate for a name that is already lower case.
func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// clientView is what a client may see: all networks (a node-local client),
// or the listed ones, the first being the one holding its address.
type clientView struct {
	all  bool
	nets []string
}

// clientNets finds the networks of client: the network whose subnet holds
// the address, plus every network of the live task that owns the address.
// An address in no network is treated as the node itself (all networks).
func (r *Records) clientNets(client netip.Addr) clientView {
	if !client.IsValid() {
		return clientView{all: true}
	}
	client = client.Unmap()
	var nets []string
	for _, n := range r.nets {
		if n.prefix.Contains(client) {
			nets = append(nets, n.name)
			break
		}
	}
	for _, n := range r.hosts[client] {
		if !slices.Contains(nets, n) {
			nets = append(nets, n)
		}
	}
	if len(nets) == 0 {
		return clientView{all: true}
	}
	return clientView{nets: nets}
}

// pick chooses the network whose addresses answer e for the client: for a
// node-local client the first of e's networks; otherwise the client's own
// network if e is on it, else the first of e's networks that the client
// shares.
func (r *Records) pick(e *entry, c clientView) (netIPs, bool) {
	if c.all {
		return e.perNet[0], true
	}
	for _, v := range e.perNet {
		if v.network == c.nets[0] {
			return v, true
		}
	}
	for _, v := range e.perNet {
		if slices.Contains(c.nets[1:], v.network) {
			return v, true
		}
	}
	return netIPs{}, false
}
