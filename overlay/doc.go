// Package overlay builds a node's VXLAN overlay networks and wires tasks into
// them, through netlink only.
//
// # Model
//
// The model is flannel's vxlan backend, L3 variant. The leader leases every
// node a subnet of each network's CIDR (LeaseSubnet); a node owns the
// addresses of its subnet, so starting a task needs no round trip (IPAM).
// Per network, identified by its VNI, each node has:
//
//	shoalbr<VNI>  bridge, holds the subnet's .1 (the tasks' gateway); task veths are its ports
//	shoalvx<VNI>  VXLAN device: VNI, UDP 4789, local = underlay address, bound to the underlay
//	              device, nolearning, MTU = underlay MTU - 50 (70 over IPv6); holds the subnet's .0/32
//
// and for every remote node of the network:
//
//	route  <remote subnet> via <remote .0> dev shoalvx<VNI> onlink
//	neigh  <remote .0> lladdr <remote VTEP MAC> dev shoalvx<VNI> permanent
//	fdb    <remote VTEP MAC> dst <remote underlay> dev shoalvx<VNI> self permanent
//
// A packet from a task is routed by the host from the bridge into the VXLAN
// device; the static neighbour entry gives the inner destination MAC and the
// static FDB entry the outer destination IP. Nothing is learned, flooded or
// multicast, so the data path needs no gossip beyond node addresses and
// subnets.
//
// # Why L3 and not the vxlan device in the bridge (L2)
//
//   - Per-node subnets make every remote subnet one route + one neighbour +
//     one FDB entry, known ahead; an L2 segment would need an FDB entry per
//     remote task (or flooding and learning) and ARP for every remote task.
//   - Broadcast stays on the node: a task's ARP never crosses the underlay.
//   - The host is on the path, so it reaches every task (the load balancer and
//     published ports need that) through the main table.
//
// # Isolation between networks
//
// The host routes between its bridges and VXLAN devices, so without more
// care a task of one network could reach another network through it. Each
// network therefore has its own routing table (TableBase+VNI) holding only
// its local subnet, its remote subnets and an "unreachable default", and
// policy rules (priority RulePriority) send every packet that arrives on the
// network's bridge or VXLAN device to that table. A packet from network A to
// network B finds no route there and is refused with ICMP unreachable,
// whether B lives on this node or another. The host's own traffic uses the
// main table, which also gets the remote-subnet routes. Tasks can still
// reach the host's own addresses (the local table comes first), as with
// Docker. The kernel here has no VRF support, which would have been the
// other way to split the tables. This package turns IPv4 forwarding on only
// on the overlay's own devices, never for the underlay or the whole host;
// the overlay gives tasks no route out of the cluster. (The agent turns it
// on for the underlay device too when it runs a load balancer, because
// published ports forward connections from the underlay into the overlay.) It does not touch
// netfilter: on a host whose firewall drops forwarded packets (Docker sets
// the FORWARD policy to DROP) traffic between the overlay devices must be
// accepted there.
//
// # VTEP MACs
//
// A node's VXLAN device MAC is derived from (underlay IP, VNI) by VTEPMAC, a
// hash into the locally administered unicast range. Every node computes every
// other's, so the agent publishes nothing beyond what membership already
// carries (Peer.VTEPMAC may override it).
//
// # Convergence
//
// Apply renders the desired State (a pure function of Desired and the
// underlay MTU), reads the State the overlay owns from the kernel (links
// named shoalbr*/shoalvx*, their addresses, routes tagged RouteProtocol,
// permanent neighbour and FDB entries on the VXLAN devices, rules tagged
// RouteProtocol), and runs a pure plan: additions and in-place changes first,
// deletions last; unchanged objects are not touched, so an agent restart
// adopts the running overlay without a blip. The Kernel interface keeps the
// netlink code apart from that logic; a fake Kernel renders its state as text
// for table tests.
//
// # Tasks
//
// A task's network namespace is pinned as a file (CreateNetNS); Attach gives
// it one veth per network (eth0, eth1, …), its host end named shv<hash><i>
// with the task ID in its alias, so Detach finds it after a restart.
package overlay
