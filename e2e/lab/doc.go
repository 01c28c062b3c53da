// Package lab turns one Linux machine into several shoal hosts for
// end-to-end tests, benchmarks and the demo; cmd/lab is its command line.
//
// # Shape
//
// A hub network namespace (PREFIX-hub, default shoal-hub) holds a bridge
// lab0 with 10.77.0.254/24 and the registry (Debian's docker-registry on
// 10.77.0.254:5000). Node K is a namespace PREFIX-nK whose eth0 (10.77.0.K/24)
// is the far end of a veth whose hub end veth-nK is a bridge port. There is
// no default route and no NAT, and the root namespace gets no address or
// route in 10.77/16: nothing in the lab reaches outside the machine, and
// the machine reaches the lab only by entering a namespace (Exec, or
// HTTPClient/Dialer for Go code).
//
// Each node runs its own containerd (own root, state, sockets; no CRI, no
// metrics or debug listener) and its own agent, both inside the node's
// namespace and detached (own session, reparented to init). Partitions are
// nftables bridge-family rules in the hub namespace, so they die with it.
//
// # Why nsenter and not `ip netns exec`
//
// `ip netns exec` also unshares the mount namespace. containerd mounts
// container root filesystems and the agent bind-mounts task namespaces; in
// private mount namespaces the two would not see each other's mounts, and
// Down could not unmount them. nsenter --net switches the network
// namespace only.
//
// # Processes and state
//
// The state file (RUN_DIR/state.json) records nodes, PIDs and flags; a file
// lock serialises changes from concurrent lab processes. A recorded PID
// counts as the lab's process only while it lives in the node's network
// namespace and runs the expected executable, so a reused PID is never
// signalled. Teardown needs no state file: it finds the lab's namespaces by
// name and kills every process in them and their descendants (containers
// are children of shims in the node namespace), then lab daemons that still
// name the lab's directories, unmounts what containerd left under them, and
// removes the directories only if they carry the lab's marker file.
//
// # The agent contract
//
// The agent is driven only through its command line (see agent.go):
// `agent run --name nK --data-dir … --advertise 10.77.0.K --bind 10.77.0.K
// --api-socket … --containerd … --insecure-registry 10.77.0.254:5000`,
// ready when `agentctl --host unix://SOCK info` exits 0; then `agent init`
// on n1, `agent join-token -q`, `agent join --token T 10.77.0.1:7948` on the
// others, and Up returns once `agentctl node ls --format json` on n1 lists
// every node with Status ready. Options.NoAgent stops before the agents.
package lab
