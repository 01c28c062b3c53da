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
// # Services
//
// A Service is one of three shapes (see Service): an all-port VIP (Port 0:
// the VIP answers on every TCP and UDP port and forwards to the same port
// of a backend, as swarm's VIPs do; backends are addresses with Port 0), a
// published port without VIP (PublishedPort on every local address to the
// target Port of the backends, as swarm's --publish), or a port VIP
// (VIP:Port/Proto, optionally also published). The agent programs a swarm
// service as one all-port VIP per network it joins plus one published-port
// Service per published port, all over the same tasks:
//
//	{Key: "web/vip/net1", VIP: 10.96.0.5, Backends: [{IP: 10.0.1.7, Weight: 1}, ...]}
//	{Key: "web/published/8080/tcp", Port: 80, Proto: tcp, PublishedPort: 8080,
//	 Backends: [{IP: 10.0.1.7, Port: 80, Weight: 1}, ...]}
//
// # nftables
//
// One table of our own, family ip (Options.TableName, default "shoal"):
//
//	map vips      { ipv4_addr . inet_proto . inet_service : verdict }  # port VIP -> goto svc-N
//	map allvips   { ipv4_addr . inet_proto : verdict }                 # all-port VIP, tcp/udp -> goto svc-N
//	map published { inet_proto . inet_service : verdict }              # published port -> goto svc-N
//	chain services {
//	  ip daddr . meta l4proto . th dport vmap @vips
//	  ip daddr . meta l4proto vmap @allvips
//	  fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @published
//	}
//	chain prerouting  { type nat hook prerouting priority dstnat; jump services }
//	chain output      { type nat hook output priority dstnat; jump services }   # locally originated
//	chain postrouting { type nat hook postrouting priority srcnat; meta mark & M != 0 masquerade }
//	# per service, port VIP or published port:
//	map slots-N { integer : ipv4_addr . inet_service }   # slot -> backend
//	chain svc-N { meta l4proto P meta mark |= M dnat to numgen inc mod S map @slots-N }
//	# per all-port VIP:
//	map slots-N { integer : ipv4_addr }                  # slot -> backend, port kept
//	chain svc-N { meta mark |= M dnat to numgen inc mod S map @slots-N }
//
// Each service owns one chain and one map, named by a number the dataplane
// assigns. Weights become slots: each backend gets a number of slots
// proportional to its weight (divided by their gcd, at most 256 in all), and
// numgen inc (round robin) picks one. Weight 0 gives no slot: no new
// connection, while existing ones go on through conntrack (nat chains see
// only a connection's first packet). A service without slots rejects new
// connections (TCP reset, ICMP port unreachable). Changing a service's
// backends rewrites only the elements of its slot map that differ, plus its
// rules when the number of slots changes; every Apply is one atomic
// transaction. Measured (1,000 swarm services of 10 tasks, each an all-port
// VIP, every fourth also published: 1,250 Services): programming all in
// about 0.22 s, one endpoint change in about 8 ms (BenchmarkNftProgram1000x10,
// BenchmarkNftOneEndpointChange; with port VIPs instead, the *Ports
// variants, 0.2 s and 6.5 ms).
//
// # IPVS
//
// A port VIP is one virtual service at VIP:port/proto. An all-port VIP and
// a published port are each a firewall-mark virtual service, as in swarm:
// the dataplane's nftables table marks their packets in mangle prerouting
// and output (VIP . proto, or a local address at the published port, to
// the mark) and IPVS picks the service by the mark. Real servers of an
// all-port VIP have port 0, so IPVS keeps the client's destination port;
// those of a published port have the target port. Marks are
// MasqueradeMark | n (see Options.MasqueradeMark). Schedulers are rr, or wrr
// when the positive weights differ; real servers use masquerading (NAT)
// forwarding with the weights given (0 quiesces). IPVS only sees packets to
// a local address, so every VIP is assigned (/32) to a dummy device
// (Options.DummyDevice, default shoal-vip0), as swarm and kube-proxy do;
// published ports are on the node's own addresses already. The nftables
// table (see ipvsnft.go) also marks connections to port VIPs for
// masquerade and masquerades in postrouting. The dataplane sets
// net.ipv4.vs.conntrack=1 (so that nat and conntrack see IPVS connections)
// and expire_nodest_conn / expire_quiescent_template=1 in its namespace.
// The mark rules overwrite the packet mark of traffic to VIPs and
// published ports, as swarm's do.
//
// # Both
//
// Connections this dataplane balances are masqueraded to the address of the
// interface towards the backend, so replies come back through the node
// whatever the path: a backend on the same bridge as the client, on another
// node across the overlay, or a published port reached from outside. The
// backend therefore sees the node's address, not the client's (as with
// swarm's ingress). When a backend leaves a service (or the service goes),
// its conntrack entries for that service are deleted (for an all-port VIP,
// every TCP and UDP flow to the VIP answered by that address), so no
// further packet of those flows reaches it; draining (weight 0) keeps them.
// Entries are deleted by their reply tuple, which names the backend, and
// closed TCP entries (TIME_WAIT, CLOSE) are left to expire: a client that
// reuses such an entry's source port gets a new entry with the same
// original tuple, balanced to a live backend, and a delete by original
// tuple (even with the conntrack ID, which the new entry often gets
// again) would cut that new connection in flight (see deleteFlows).
// The two dataplanes cut at different moments: IPVS drops a removed real
// server's next packet and expires its connection at once
// (expire_nodest_conn), nftables when Apply deletes the entries, after
// the rules changed. Neither cuts anything of a drained backend, which is
// how a task leaves in the product (agent/netctl gives it weight 0 while
// it stops); the ReusedPorts conformance case removes a backend that way.
// Published ports are not answered at VIPs: a port VIP answers at its
// port only, an all-port VIP forwards every port to its backends.
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
// addresses (or at desired frontends) and the firewall-mark services whose
// mark includes MasqueradeMark, keeps the marks its predecessor's table
// gave to all-port VIPs and published ports that are still wanted (so their
// open connections go on), and reconciles. After a failed Apply, the next
// one reconciles in the same way. Close removes everything the dataplane
// created; an agent that restarts should exit without Close so that
// traffic keeps flowing until its successor's first Apply.
package lb
