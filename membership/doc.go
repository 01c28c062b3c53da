// Package membership is how shoal agents find each other and agree on a
// leader.
//
// Gossip (gossip.go, events.go, timing.go): every agent runs a serf member
// over memberlist, named by its node ID, with encrypted gossip (AES key from
// the join token). serf gives the member list, failure detection (SWIM with
// Lifeguard) and tags that carry each agent's hostname, API and raft ports
// and version. DefaultTiming is tuned so that a killed agent is declared
// failed in about 1–2 s on a LAN.
//
// Decisions (raft.go, tls.go): a hashicorp/raft log in DataDir (bolt store
// and file snapshots), spoken over mutual TLS with the cluster CA. Every
// agent is a raft server and holds a full replica of the FSM.
//
// Voter management (voters.go, autopilot.go): there are no dedicated
// managers. PlanVoters is a pure function from (raft configuration, gossip
// view, clock) to configuration changes; Autopilot, run on every agent,
// applies it while its raft is the leader: new agents join as non-voters,
// alive non-voters are promoted until there is an odd number of voters (up
// to 5), and a voter that left, or failed for longer than a grace period, is
// replaced.
//
// Recovery generations (generation.go, genguard.go): `agent recover`
// raises the cluster's Generation (epoch + hash of the new voter set). Each
// agent carries its generation in the gossip tag "gen", and the TLS stream
// layer exchanges cluster ID and generation after the TLS handshake: raft
// traffic never crosses generations. A GenGuard gates raft at start (no
// traffic, elections held back) until the agent has joined gossip and seen
// nothing higher, and reports a higher generation of its cluster through
// OnStale; DecideGeneration is the whole decision, pure. Autopilot adds and
// promotes only members of the leader's generation (SameGeneration).
//
// How the agent wires it: Start the Membership, Join peers, OpenReplica
// (and Replica.Bootstrap on `agent init`), then run
// replica.Autopilot(m.MemberInfos, policy, log).Run(ctx, kick) with kick
// signalled on membership events. Replica is the daemon's only view of
// raft: apply a command, leadership and its changes, the configuration's
// servers. Nothing outside this package and the store's FSM names
// hashicorp/raft.
package membership
