// Package api holds the wire types of the agent's HTTP/JSON API and a client
// for it. The server side lives in agent/.
package api

import (
	"strconv"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// Version is the agent's release, shown as ENGINE VERSION.
const Version = "0.1.0"

// DefaultSocket is where the agent's API listens for local clients.
const DefaultSocket = "/run/shoal/agent.sock"

// Default ports; a cluster may use others (they travel in gossip tags).
const (
	DefaultGossipPort = 7946
	DefaultRaftPort   = 7947
	DefaultAPIPort    = 7948
)

// Error is the body of every non-2xx response.
type Error struct {
	Message string `json:"message"`
}

// Info describes the agent answering the request.
type Info struct {
	NodeID     string `json:"NodeID,omitempty"`
	Name       string `json:"Name"`
	ClusterID  string `json:"ClusterID,omitempty"`
	InCluster  bool   `json:"InCluster"`
	Addr       string `json:"Addr"`
	APIPort    int    `json:"APIPort"`
	RaftState  string `json:"RaftState,omitempty"`
	LeaderID   string `json:"LeaderID,omitempty"`
	LeaderName string `json:"LeaderName,omitempty"`
	Role       string `json:"Role,omitempty"`
	Voters     int    `json:"Voters,omitempty"`
	Nodes      int    `json:"Nodes,omitempty"`
	AppliedIdx uint64 `json:"AppliedIndex,omitempty"`
	Dataplane  string `json:"Dataplane,omitempty"`
	Version    string `json:"Version"`
	// Generation is the agent's recovery generation ("1" until the cluster
	// was recovered with `agent recover`).
	Generation string `json:"Generation,omitempty"`
	// StaleGeneration is a higher generation this agent has seen: it is
	// leaving its stale raft state and rejoining that one.
	StaleGeneration string `json:"StaleGeneration,omitempty"`
	// Freshness says whether a live leader confirmed this agent's replica
	// as the request was answered, and if not since when none has been
	// observed. LeaderID and LeaderName are raft's last word and may name
	// a leader that cannot be reached.
	Freshness
}

// Freshness says whether an answer comes from a live leader. Every agent
// answers reads from its own replica of the store. Authoritative is true
// when a live leader confirmed, as the read began, that the replica held
// every committed write (the read index); the answer is then the cluster's
// truth. Otherwise no leader could be reached: the replica answered as it
// is, and what the answering agent cannot confirm through its own gossip
// view is shown as unknown (node status Unknown, voters Unreachable).
type Freshness struct {
	Authoritative bool `json:"Authoritative"`
	// NoLeaderSince is the last moment the answering agent observed a
	// leader (raft named one, or one confirmed a read), or when it started
	// if it never has; set only when Authoritative is false.
	NoLeaderSince time.Time `json:"NoLeaderSince,omitzero"`
}

// InitRequest asks an agent to found a new cluster.
type InitRequest struct {
	// OverlayCIDR is split into per-node subnets; empty means the default.
	OverlayCIDR string `json:"OverlayCIDR,omitempty"`
}

// InitResponse tells the user how other hosts join.
type InitResponse struct {
	ClusterID   string `json:"ClusterID"`
	NodeID      string `json:"NodeID"`
	Token       string `json:"Token"`
	JoinCommand string `json:"JoinCommand"`
}

// JoinRequest asks the local agent to join the cluster that Peer belongs to.
type JoinRequest struct {
	Token string `json:"Token"`
	Peer  string `json:"Peer"`
}

// JoinResponse reports the joined cluster.
type JoinResponse struct {
	ClusterID string `json:"ClusterID"`
	NodeID    string `json:"NodeID"`
}

// TokenResponse carries the current join token.
type TokenResponse struct {
	Token       string `json:"Token"`
	JoinCommand string `json:"JoinCommand"`
}

// Event is a change of the cluster's state: a service, node or network
// created, updated or removed (GET /v1/events; the Engine API's /events).
// Attributes hold "name" and, for an update, the fields that changed as
// FIELD.old and FIELD.new (image, replicas, updatestate for services;
// availability, state, role for nodes), as docker reports them.
type Event struct {
	Time       time.Time         `json:"Time"`
	Type       string            `json:"Type"`   // service | node | network
	Action     string            `json:"Action"` // create | update | remove
	ID         string            `json:"ID"`
	Name       string            `json:"Name"`
	Attributes map[string]string `json:"Attributes,omitempty"`
}

// CertRequest asks the cluster's CA to sign a client certificate
// (`agentctl cert create`): the key stays with the client, only its
// certificate request travels.
type CertRequest struct {
	CSR []byte `json:"CSR"` // PEM CERTIFICATE REQUEST; its common name names the client
	// Validity is how long the certificate lasts; 0 means 90 days.
	Validity time.Duration `json:"Validity,omitempty"`
}

// CertResponse is a signed client certificate and the CA to trust.
type CertResponse struct {
	Name     string    `json:"Name"`
	Cert     []byte    `json:"Cert"` // PEM
	CA       []byte    `json:"CA"`   // PEM
	NotAfter time.Time `json:"NotAfter"`
}

// AdmitRequest is sent by a joining agent to any member (agent-to-agent,
// over TLS pinned by the token's CA digest).
type AdmitRequest struct {
	Secret   string `json:"Secret"`
	NodeID   string `json:"NodeID"`
	Hostname string `json:"Hostname"`
	Addr     string `json:"Addr"`
	CSR      []byte `json:"CSR"`
}

// AdmitResponse gives a newly admitted agent what it needs to take part.
type AdmitResponse struct {
	ClusterID string   `json:"ClusterID"`
	CACert    []byte   `json:"CACert"`
	Cert      []byte   `json:"Cert"`
	GossipKey []byte   `json:"GossipKey"`
	Peers     []string `json:"Peers"` // gossip host:port of live members
	// Generation is the cluster's recovery generation, which the new node
	// starts at.
	Generation string `json:"Generation,omitempty"`
}

// ReadIndexResponse is the leader's applied index, used by followers to
// serve reads that reflect every write acknowledged before the read began.
type ReadIndexResponse struct {
	Index uint64 `json:"Index"`
}

// Member is one agent in the gossip view.
type Member struct {
	ID     string            `json:"ID"`
	Name   string            `json:"Name"`
	Addr   string            `json:"Addr"`
	Status string            `json:"Status"`
	Tags   map[string]string `json:"Tags"`
}

// Node is a stored node plus what the answering agent knows about it now.
//
// Status is what the answering agent vouches for: the replica's record
// when the answer is Authoritative or gossip sees the node alive, else
// unknown. ReplicaStatus then keeps the replica's record.
type Node struct {
	types.Node
	// ManagerStatus is Leader, Reachable or Unreachable for raft voters and
	// empty for non-voters, as docker shows it. Without a live leader no
	// node is Leader, and a voter gossip does not see alive is Unreachable.
	ManagerStatus string `json:"ManagerStatus"`
	// Self is true for the node answering the request.
	Self bool `json:"Self"`
	// ReplicaStatus is the replica's last record of Status, set only when
	// Status shows unknown in its place.
	ReplicaStatus types.NodeStatus `json:"ReplicaStatus,omitempty"`
	Freshness
}

// NodeUpdate changes a node's operator-set fields. A non-zero Version is
// the node's Meta.Version the client read: the update is refused (a
// conflict) if the node changed since, as Docker's ?version= does.
type NodeUpdate struct {
	Availability string            `json:"Availability,omitempty"`
	LabelAdd     map[string]string `json:"LabelAdd,omitempty"`
	LabelRm      []string          `json:"LabelRm,omitempty"`
	Version      uint64            `json:"Version,omitempty"`
}

// LeaveRequest asks the leader to take a node out of the raft configuration.
type LeaveRequest struct {
	NodeID string `json:"NodeID"`
}

// Since returns a human duration for CLI tables ("2 minutes").
func Since(t time.Time, now time.Time) string {
	return HumanDuration(now.Sub(t))
}

// HumanDuration renders d as docker does in CURRENT STATE columns.
func HumanDuration(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 1:
		return "less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return strconv.Itoa(s) + " seconds"
	case d.Minutes() < 2:
		return "about a minute"
	case d.Minutes() < 60:
		return strconv.Itoa(int(d.Minutes())) + " minutes"
	case d.Hours() < 2:
		return "about an hour"
	case d.Hours() < 48:
		return strconv.Itoa(int(d.Hours())) + " hours"
	default:
		return strconv.Itoa(int(d.Hours()/24)) + " days"
	}
}
