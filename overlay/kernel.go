package overlay

import "net/netip"

// Kernel is the narrow set of operations the Manager needs from one network
// namespace. NetlinkKernel implements it with netlink; unit tests use a fake
// that renders its state as text.
//
// Contract shared by every implementation:
//   - State returns only objects the overlay owns (see State).
//   - Add* fail when the object already exists; Set*/Replace*/UpdateLink
//     create or change in place; Del* succeed when the object is already gone.
//   - Deleting a link also removes the addresses, routes, neighbour and FDB
//     entries that use it, as the kernel does; rules and device-less routes
//     stay.
//
// A Kernel is used from one goroutine at a time (the Manager serialises).
type Kernel interface {
	// State reads the overlay's objects.
	State() (State, error)
	// LinkMTU returns the MTU of any link, e.g. the underlay device.
	LinkMTU(name string) (int, error)

	AddLink(l Link) error
	// UpdateLink changes the mutable attributes (MTU, MAC, up, forwarding)
	// of the existing link cur to those of want.
	UpdateLink(cur, want Link) error
	DelLink(name string) error

	AddAddr(a Addr) error
	DelAddr(a Addr) error

	AddRoute(r Route) error
	ReplaceRoute(r Route) error
	DelRoute(r Route) error

	SetNeigh(n Neigh) error
	DelNeigh(n Neigh) error

	SetFDB(f FDB) error
	DelFDB(f FDB) error

	AddRule(r Rule) error
	DelRule(r Rule) error

	// AddTaskVeth creates a veth pair: the host end (v.Host) in v.Bridge, the
	// peer moved into the namespace at v.NetNS as v.Peer, addressed, up, with
	// lo up and routes via v.Gateway: the default route if v.Default, and
	// v.Routes. A leftover host end of the same name is replaced.
	AddTaskVeth(v TaskVeth) error
	// TaskVeths lists the host ends of task veths (any task).
	TaskVeths() ([]TaskVethInfo, error)
}

// TaskVeth describes one network attachment of a task.
type TaskVeth struct {
	Host    string
	Alias   string
	Bridge  string
	MTU     int
	NetNS   string
	Peer    string
	Addr    netip.Prefix
	Gateway netip.Addr
	Default bool
	Routes  []netip.Prefix
}

// TaskVethInfo is the host end of a task veth found in the namespace.
type TaskVethInfo struct {
	Name  string
	Alias string
}
