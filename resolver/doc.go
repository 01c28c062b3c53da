// Package resolver is shoal's embedded DNS server. Every agent runs one; it
// listens (UDP and TCP, port 53) on the gateway address of each overlay
// bridge on its node, e.g. 10.240.1.1, and every task's resolv.conf reads
// "nameserver <its network's gateway>" and "options ndots:0".
//
// # Naming
//
// Names follow swarm mode; they are matched case-insensitively, with or
// without a trailing dot:
//
//	SERVICE, SERVICE.NETWORK              the service's VIP on that network;
//	                                      in dnsrr mode its serving tasks' addresses
//	tasks.SERVICE, tasks.SERVICE.NETWORK  the addresses of its serving tasks
//
// A task is serving (Serving) when it is desired running, reported running,
// and healthy or without healthcheck; the load balancer uses the same rule.
// A service is on the networks its task template names, or on the default
// network when it names none.
//
// Only A records are answered. Any other type for a cluster name, and a
// cluster name with no serving task, gets NOERROR without answers, never
// NXDOMAIN, so that a client does not cache the name as nonexistent during
// a scale-up. Replies carry RA, AA for cluster names, TTL 0, and rotate
// their addresses by a random offset. A UDP reply larger than the client's
// EDNS0 size (512 bytes without EDNS0) is truncated with TC set; the client
// retries over TCP, which carries up to 64 KiB.
//
// # Isolation
//
// A client sees only services on networks it shares. Its networks are found
// from the query's source address: the network whose subnet holds it, plus
// every network of the live task owning that address (a task on front and
// back asks from its front address but sees back's services too). SERVICE
// answers with the VIP on the client's own network when the service is on
// it, else on the first shared network in the service's order. A source in
// no network, or one of the server's own listening addresses (the node
// itself asking through a gateway), sees every network and gets the first
// network of the service's order. A cluster name the client may not see
// gets NXDOMAIN and is not forwarded: the answer does not depend on what an
// outside server says, and cluster names do not leak out.
//
// Every other name is forwarded to the upstream servers (Config.Upstreams,
// by default this host's resolv.conf without loopback stubs), over the
// protocol the query came in on, within DefaultForwardTimeout for all of
// them together. Without an upstream, or when all fail, the answer is
// SERVFAIL. There is no cache: upstream answers are relayed as they are.
//
// # Consistency
//
// Answers come from the node's own replica of the store, never from the
// leader: DNS keeps working while the cluster has no leader or the node is
// cut off, and may lag the leader by the replication delay. Run subscribes
// to the networks, services and tasks tables and after every change builds
// a new Records from one consistent View, then swaps it in with an atomic
// pointer. Queries load the pointer once and never wait for a rebuild, so a
// query sees either the old or the new records as a whole. Notifications
// coalesce: a burst of changes costs one rebuild, not one per change.
//
// # Trade-offs
//
// Rebuilding everything on every change is O(services + tasks) (about 3 ms
// for 1,000 services and 3,000 tasks) and keeps the code free of
// incremental-update bugs; it would need revisiting for clusters far
// larger than swarm's typical size. TTL 0 makes every lookup reach this
// server, which costs a round trip on the local bridge but lets answers
// follow a scale change at once. Isolation by source address assumes a task
// cannot forge its source address (no CAP_NET_ADMIN in the task, or
// reverse-path filtering on the bridges); a stricter check would also match
// the address against the bridge the query arrived on. PTR, SRV and AAAA
// records are not served, and /etc/resolv.conf is read once, by New.
package resolver
