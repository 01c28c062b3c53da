// Package lb is shoal's kernel load-balancing dataplane for service virtual
// IPs and published ports (swarm's routing mesh). A Dataplane takes the whole
// desired state (Config) in Apply, may be given the same state again, and
// changes only what differs from what it last programmed. Two backends sit
// behind the interface: IPVS (github.com/moby/ipvs), used where the kernel
// has it, and nftables (github.com/google/nftables), used where it does not;
// Detect picks one, New builds it, Fake stands in for unit tests of callers,
// and lb/lbtest is the conformance suite both pass with real traffic
// (nftables on the host; IPVS in a VM, see lb/ipvsvm).
//
// # nftables
//
// One table of our own, family ip (Options.TableName, default "shoal"):
//
//	map vips      { ipv4_addr . inet_proto . inet_service : verdict }  # VIP:port/proto -> goto svc-N
//	map published { inet_proto . inet_service : verdict }              # published port -> goto svc-N
//	chain services {
//	  ip daddr . meta l4proto . th dport vmap @vips
//	  fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @published
//	}
//	chain prerouting  { type nat hook prerouting priority dstnat; jump services }
//	chain output      { type nat hook output priority dstnat; jump services }   # locally originated
//	chain postrouting { type nat hook postrouting priority srcnat; meta mark & M != 0 masquerade }
//	map slots-N { integer : ipv4_addr . inet_service }   # per service: slot -> backend
//	chain svc-N { meta l4proto P meta mark |= M dnat to numgen inc mod S map @slots-N }
//
// Each service owns one chain and one map, named by a number the dataplane
// assigns. Weights become slots: each backend gets a number of slots
// proportional to its weight (divided by their gcd, at most 256 in all), and
// numgen inc (round robin) picks one. Weight 0 gives no slot: no new
// connection, while existing ones go on through conntrack (nat chains see
// only a connection's first packet). A service without slots rejects new
// connections (TCP reset, ICMP port unreachable). Changing a service's
// backends rewrites only the elements of its slot map that differ, plus its
// one rule when the number of slots changes; every Apply is one atomic
// transaction. Measured: 1,000 services of 10 backends in about 0.2 s, one
// endpoint change in about 6.5 ms (BenchmarkNftProgram1000x10,
// BenchmarkNftOneEndpointChange).
//
// # IPVS
//
// One virtual service per frontend (VIP:port/proto), scheduler rr, or wrr
// when the positive weights differ; real servers use masquerading (NAT)
// forwarding with the weights given (0 quiesces). IPVS only sees packets to
// a local address, so every VIP is assigned (/32) to a dummy device
// (Options.DummyDevice, default shoal-vip0), as swarm and kube-proxy do. A
// small nftables table does what IPVS cannot: it marks connections to VIPs
// for masquerade, DNATs published ports on local addresses to the service's
// VIP:port (IPVS, hooked after nat, balances them like any connection to
// the VIP), and masquerades in postrouting. The dataplane sets
// net.ipv4.vs.conntrack=1 (so that nat and conntrack see IPVS connections)
// and expire_nodest_conn / expire_quiescent_template=1 in its namespace.
// Quirk: a connection to a VIP at another service's published port is
// published-port traffic, since VIPs are local addresses.
//
// # Both
//
// Connections this dataplane balances are masqueraded to the address of the
// interface towards the backend, so replies come back through the node
// whatever the path: a backend on the same bridge as the client, on another
// node across the overlay, or a published port reached from outside. The
// backend therefore sees the node's address, not the client's (as with
// swarm's ingress). When a backend leaves a service (or the service goes),
// its conntrack entries for that service are deleted, so no further packet
// of those flows reaches it; draining (weight 0) keeps them.
//
// Assumed of the node, as the overlay sets it up: IP forwarding is on; tasks
// route VIPs to the node (their default route via the bridge); the node
// itself has a route covering the VIPs for its own connections to them in
// the nftables backend (in the IPVS backend VIPs are local). Published ports
// answer on every local address except 127.0.0.0/8 (DNAT from loopback would
// need route_localnet). IPv4 only.
//
// On start, the first Apply takes over whatever a previous run left: the
// nftables backend replaces its table in the same transaction that programs
// the new state (existing connections keep their translation in conntrack);
// the IPVS backend reads back the IPVS services on the dummy device's
// addresses (or at desired frontends) and reconciles them. After a failed
// Apply, the next one reconciles in the same way. Close removes everything
// the dataplane created; an agent that restarts should exit without Close so
// that traffic keeps flowing until its successor's first Apply.
package lb
