package overlay

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// State is the part of a network namespace's configuration that the overlay
// owns: its bridges and VXLAN devices, their addresses, the routes, static
// neighbour and FDB entries for remote nodes, and the policy rules that keep
// networks apart. Both the desired configuration (rendered from Desired) and
// the configuration a Kernel reads back are expressed as a State, so that a
// pure diff between the two yields the operations to run. Task veths are not
// part of it: they belong to Attach/Detach.
type State struct {
	Links  []Link
	Addrs  []Addr
	Routes []Route
	Neighs []Neigh
	FDBs   []FDB
	Rules  []Rule
}

// LinkKind is the type of an overlay link.
type LinkKind string

// The link kinds the overlay creates.
const (
	KindBridge LinkKind = "bridge"
	KindVXLAN  LinkKind = "vxlan"
)

// Link is a bridge or VXLAN device of one overlay network. The VXLAN fields
// are zero for a bridge; MAC is left empty for a bridge (the kernel picks it).
type Link struct {
	Name string
	Kind LinkKind
	MTU  int
	Up   bool
	// Forwarding is the interface's net.ipv4.conf.<dev>.forwarding: the
	// overlay routes only between its own devices, never turning on forwarding
	// for the underlay or the whole host.
	Forwarding bool
	MAC        string

	VNI      uint32
	Local    netip.Addr
	Port     int
	Learning bool
	// VtepDev is the underlay device the VXLAN socket is bound to.
	VtepDev string
}

// sameIdentity reports whether cur can be turned into l in place; attributes
// such as the VNI or the local address need the device to be recreated.
func (l Link) sameIdentity(cur Link) bool {
	return l.Name == cur.Name && l.Kind == cur.Kind && l.VNI == cur.VNI &&
		l.Local == cur.Local && l.Port == cur.Port && l.Learning == cur.Learning &&
		l.VtepDev == cur.VtepDev
}

func (l Link) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "link %s %s mtu=%d", l.Name, l.Kind, l.MTU)
	if l.Kind == KindVXLAN {
		fmt.Fprintf(&b, " vni=%d local=%s port=%d dev=%s mac=%s", l.VNI, l.Local, l.Port, l.VtepDev, l.MAC)
		if l.Learning {
			b.WriteString(" learning")
		} else {
			b.WriteString(" nolearning")
		}
	}
	if l.Up {
		b.WriteString(" up")
	} else {
		b.WriteString(" down")
	}
	if l.Forwarding {
		b.WriteString(" forwarding")
	}
	return b.String()
}

// Addr is an address on one of the overlay's links.
type Addr struct {
	Link   string
	Prefix netip.Prefix
}

func (a Addr) String() string { return fmt.Sprintf("addr %s %s", a.Link, a.Prefix) }

// MainTable is the kernel's main routing table.
const MainTable uint32 = 254

// Route is a route the overlay owns (tagged with the overlay's route
// protocol). Unreachable routes have no Dev; a route with a Gw and OnLink
// goes straight to the VXLAN device, as in flannel.
type Route struct {
	Table       uint32
	Dst         netip.Prefix
	Unreachable bool
	Dev         string
	Gw          netip.Addr
	Src         netip.Addr
	OnLink      bool
}

func (r Route) key() routeKey { return routeKey{r.Table, r.Dst} }

type routeKey struct {
	table uint32
	dst   netip.Prefix
}

func (r Route) String() string {
	var b strings.Builder
	table := fmt.Sprint(r.Table)
	if r.Table == MainTable {
		table = "main"
	}
	fmt.Fprintf(&b, "route table=%s ", table)
	if r.Unreachable {
		b.WriteString("unreachable ")
	}
	b.WriteString(r.Dst.String())
	if r.Gw.IsValid() {
		fmt.Fprintf(&b, " via %s", r.Gw)
	}
	if r.Dev != "" {
		fmt.Fprintf(&b, " dev %s", r.Dev)
	}
	if r.Src.IsValid() {
		fmt.Fprintf(&b, " src %s", r.Src)
	}
	if r.OnLink {
		b.WriteString(" onlink")
	}
	return b.String()
}

// Neigh is a permanent neighbour (ARP) entry on a VXLAN device: a remote
// subnet's .0 address to the remote VTEP's MAC.
type Neigh struct {
	Link string
	IP   netip.Addr
	MAC  string
}

func (n Neigh) key() [2]string { return [2]string{n.Link, n.IP.String()} }

func (n Neigh) String() string { return fmt.Sprintf("neigh %s %s lladdr %s", n.Link, n.IP, n.MAC) }

// FDB is a permanent forwarding entry on a VXLAN device: a remote VTEP MAC to
// the remote node's underlay address.
type FDB struct {
	Link string
	MAC  string
	Dst  netip.Addr
}

func (f FDB) key() [2]string { return [2]string{f.Link, f.MAC} }

func (f FDB) String() string { return fmt.Sprintf("fdb %s %s dst %s", f.Link, f.MAC, f.Dst) }

// Rule is a policy-routing rule sending packets that arrive on an overlay
// device to that network's own table.
type Rule struct {
	Priority int
	IifName  string
	// Mark, when not zero, matches packets whose mark has these bits
	// (fwmark Mark/Mark) instead of an input interface.
	Mark  uint32
	Table uint32
}

func (r Rule) String() string {
	if r.Mark != 0 {
		return fmt.Sprintf("rule %d fwmark %#x/%#x table %d", r.Priority, r.Mark, r.Mark, r.Table)
	}
	return fmt.Sprintf("rule %d iif %s table %d", r.Priority, r.IifName, r.Table)
}

// Lines renders s as sorted text lines, one per object; two States with the
// same Lines describe the same configuration.
func (s State) Lines() []string {
	var out []string
	for _, x := range s.Links {
		out = append(out, x.String())
	}
	for _, x := range s.Addrs {
		out = append(out, x.String())
	}
	for _, x := range s.Routes {
		out = append(out, x.String())
	}
	for _, x := range s.Neighs {
		out = append(out, x.String())
	}
	for _, x := range s.FDBs {
		out = append(out, x.String())
	}
	for _, x := range s.Rules {
		out = append(out, x.String())
	}
	sort.Strings(out)
	return out
}

// String renders s as its Lines joined by newlines.
func (s State) String() string { return strings.Join(s.Lines(), "\n") }
