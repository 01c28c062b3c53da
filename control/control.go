// Package control holds the cluster's operations, the ones the API serves
// (apiserver.Backend, for /v1 and the Engine API alike): admit a request,
// check it against the replicated state and turn it into raft commands;
// answer reads from the local replica once a leader confirmed it; stream
// task logs and load images on this node's containerd.
//
// It sees the running cluster through Cluster, a small seam of values and
// funcs the agent fills in: the replica, applying a command through raft,
// the read barrier, raft's and gossip's views, the local runtime, dialling
// another agent, and the clock. It starts nothing and owns no goroutine
// beyond the call it serves; what starts and stops is the agent's.
package control

import (
	"context"
	"io"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-org/shoal/agent/runtime"
	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/logrec"
	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
)

// Cluster is the running cluster as the operations see it. The agent
// builds one per cluster it runs; every field is set (Runtime's answer may
// be nil). Its funcs are safe for concurrent use.
type Cluster struct {
	// NodeID and NodeName name the node this agent runs on.
	NodeID, NodeName string
	// Store is this agent's replica of the cluster state.
	Store *store.Store
	// Apply commits a command through raft and returns its index. Only
	// the leader calls it (the API server forwards writes there).
	Apply func(ctx context.Context, cmd store.Command) (uint64, error)
	// Sync brings the replica at least as far as the leader was when the
	// read began and says whether a live leader confirmed it. When none
	// can, the replica answers as it is: Sync marks ctx's answer stale
	// (fault.MarkStale) and returns when a leader was last seen.
	Sync func(ctx context.Context) api.Freshness
	// Servers is raft's configuration as this agent knows it, LeaderID the
	// leader raft names now ("" for none), Members this agent's gossip
	// view: what the node statuses shown are derived from.
	Servers  func() ([]membership.ServerInfo, error)
	LeaderID func() string
	Members  func() []membership.Member
	// RemovePeer takes a node out of the raft configuration.
	RemovePeer func(ctx context.Context, id string) error
	// Runtime is this node's container runtime, nil while containerd is
	// not connected.
	Runtime func() Runtime
	// Dial is an API client for the agent whose API listens at addr
	// (host:port), over the cluster's mutual TLS.
	Dial func(addr string) *api.Client
	// Now is the clock that dates revisions and rolling updates.
	Now func() time.Time
	// Seal encrypts data with the cluster's data key (making the key
	// first if the cluster has none), aad as additional data. Leader only.
	// Until the caller calls release (after committing what it sealed),
	// the key cannot be rotated, so nothing is committed sealed under a
	// key that is already gone.
	Seal func(ctx context.Context, data, aad []byte) (sealed *types.Sealed, release func(), err error)

	// commitMu serialises this leader's service writes that allocate
	// VIPs: each reads the networks and writes them back at the version
	// read, so concurrent creates would conflict with each other (and a
	// burst of them ran out of retries: "network was changed
	// concurrently"). The version guard stays for writes from elsewhere.
	commitMu sync.Mutex
}

// Runtime is what the operations use of this node's containerd (package
// agent/runtime): task logs, image archives and registry lookups.
type Runtime interface {
	// Logs hands task id's log to emit a record at a time (package
	// logrec), filtered by o; with o.Follow, what comes until ctx ends
	// too.
	Logs(ctx context.Context, id string, o runtime.LogOptions, emit func(logrec.Record) error) error
	// ImportArchive loads an OCI image archive and returns the names it
	// holds.
	ImportArchive(ctx context.Context, r io.Reader) ([]string, error)
	// Distribution asks ref's registry, without pulling, for the
	// descriptor ref names and the platforms it serves.
	Distribution(ctx context.Context, ref string) (ocispec.Descriptor, []ocispec.Platform, error)
	// Volumes lists this node's volumes and the containers that mount
	// them; RemoveVolume deletes one no container mounts.
	Volumes(ctx context.Context) ([]runtime.Volume, error)
	RemoveVolume(ctx context.Context, name string) error
	// CheckLogin asks registry host whether cred is an account of it.
	CheckLogin(ctx context.Context, host string, cred runtime.Credential) error
}

// Ops are the operations of the API over whichever cluster the agent runs
// now. Each exported method is one endpoint's, called once the request is
// decoded (and, for writes, on the leader); its errors are classified with
// package fault and the store's sentinels.
type Ops struct {
	current func() (*Cluster, error)
}

// New returns the operations over the cluster current returns; current
// fails (with the error the caller sees) while the agent is in no cluster.
func New(current func() (*Cluster, error)) *Ops {
	return &Ops{current: current}
}

// cluster returns the running cluster or why there is none.
func (o *Ops) cluster() (*Cluster, error) { return o.current() }

// now is the cluster's clock in UTC.
func (cl *Cluster) now() time.Time { return cl.Now().UTC() }
