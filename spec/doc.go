// Package spec is the server's front door for what users send: the one
// place where a service or network spec gets its defaults, is validated,
// and is held to the cluster's limits before anything is written to raft.
//
// Every client (agentctl, the HTTP API, a script) sends only what the user
// set; the leader calls Defaults then Validate on every create and update,
// so a spec created through the API and one created by the CLI look the
// same in `service inspect`. Checks that need the cluster's state (other
// services' names and ports, the nodes' addresses and ports, cluster-wide
// counts) take that state as plain arguments (see Cluster), so the package
// stays pure and depends only on store types, the scheduler's constraint
// parsing, the overlay's block sizes and api's default port numbers.
//
// Unset versus zero: where swarm gives 0 a meaning of its own
// (UpdateConfig.Parallelism 0 = all at once), the field is a pointer and
// only nil is defaulted. Elsewhere a zero value means "unset" (as the CLI
// sent it before), with one consequence: a restart delay is defaulted only
// when the whole restart policy is unset, so --restart-delay 0 with a
// condition stays 0. Replicas is the exception the client still fills
// (1): a zero count is legal, and the wire has no "unset" for it.
//
// Errors are *Error values naming the field, the value and the fix; the
// API turns them into 400s (409 where Conflict is set). Limits (limits.go)
// come from one table with the reason for each; a cluster may override
// them (store.Cluster.Limits).
package spec
