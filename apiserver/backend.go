package apiserver

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// Backend is what the agent does for the API: one method per endpoint, with
// the request already decoded. Its errors are classified with package
// fault (and the store's sentinel errors); it never writes HTTP. Methods
// that change the cluster are only called on the leader: the server
// forwards them there (see Leadership).
type Backend interface {
	Leadership
	Lifecycle
	Operations
	FileBackend
}

// Lifecycle are the operations on the agent itself and its place in the
// cluster: what it is, init, join, leave, join tokens, admitting a joining
// node, the read index and raft peers (package agent).
type Lifecycle interface {
	Info(ctx context.Context) api.Info
	Members(ctx context.Context) ([]api.Member, error)
	ClusterInit(ctx context.Context, req api.InitRequest) (api.InitResponse, error)
	ClusterJoin(ctx context.Context, req api.JoinRequest) (api.JoinResponse, error)
	ClusterLeave(ctx context.Context) error
	JoinToken(ctx context.Context) (api.TokenResponse, error)
	RotateJoinToken(ctx context.Context) (api.TokenResponse, error)
	Admit(ctx context.Context, req api.AdmitRequest) (api.AdmitResponse, error)
	ReadIndex(ctx context.Context) (api.ReadIndexResponse, error)
	RemovePeer(ctx context.Context, req api.LeaveRequest) error
	// SubscribeEvents returns the events kept since `since` (none for the
	// zero time) and a channel of the ones that follow, closed when the
	// agent leaves its cluster; cancel ends the subscription.
	SubscribeEvents(since time.Time) (past []api.Event, live <-chan api.Event, cancel func(), err error)
	// SignClientCert signs a client certificate with the cluster's CA.
	SignClientCert(ctx context.Context, req api.CertRequest) (api.CertResponse, error)
}

// Operations are the cluster's operations: services, nodes, tasks,
// networks, limits, logs and images (package control).
type Operations interface {
	Limits(ctx context.Context) ([]api.Limit, error)
	UpdateLimits(ctx context.Context, upd api.LimitsUpdate) ([]api.Limit, error)
	ImageLoad(ctx context.Context, archive io.Reader) (api.ImageLoadResponse, error)
	// ImageDistribution asks ref's registry, from the answering node and
	// without pulling, what ref names now (the Engine API's
	// /distribution/{ref}/json).
	ImageDistribution(ctx context.Context, ref string) (api.ImageDistribution, error)

	Nodes(ctx context.Context) ([]api.Node, error)
	Node(ctx context.Context, ref string) (api.Node, error)
	NodeUpdate(ctx context.Context, ref string, upd api.NodeUpdate) (api.Node, error)
	NodeRemove(ctx context.Context, ref string, force bool) error

	Services(ctx context.Context) ([]api.Service, error)
	Service(ctx context.Context, ref string) (api.Service, error)
	ServiceCreate(ctx context.Context, req api.ServiceCreateRequest) (api.ServiceCreateResponse, error)
	ServiceUpdate(ctx context.Context, ref string, req api.ServiceUpdateRequest) (api.ServiceUpdateResponse, error)
	ServiceRollback(ctx context.Context, ref string, req api.ServiceRollbackRequest) (api.ServiceUpdateResponse, error)
	ServiceRemove(ctx context.Context, ref string) error
	ServiceHistory(ctx context.Context, ref string) ([]types.Revision, error)
	// ServiceLogs finds the service, then calls open once and hands each
	// line of its tasks' logs to the function open returns; that function
	// is called from several goroutines at once (the tasks' lines
	// interleave).
	ServiceLogs(ctx context.Context, ref string, o api.LogOptions, open func() func(api.LogLine)) error

	Tasks(ctx context.Context, service string) ([]api.Task, error)
	Task(ctx context.Context, ref string) (api.Task, error)
	// TaskLogs is ServiceLogs for one task; with o.Local, for this node's
	// copy of its log only.
	TaskLogs(ctx context.Context, ref string, o api.LogOptions, open func() func(api.LogLine)) error
	ReportTaskStatus(ctx context.Context, ups []types.TaskUpdate) error

	Networks(ctx context.Context) ([]*types.Network, error)
	Network(ctx context.Context, ref string) (*types.Network, error)
	NetworkCreate(ctx context.Context, req api.NetworkCreateRequest) (api.NetworkCreateResponse, error)
	NetworkRemove(ctx context.Context, ref string) error

	// RegistryLogin checks an account of a registry from this node
	// (docker login).
	RegistryLogin(ctx context.Context, auth api.RegistryAuth) error

	// Volumes and VolumeRemove act on the nodes' volumes (every node's,
	// one node's, or with Local this agent's own).
	Volumes(ctx context.Context, o api.VolumeOptions) (api.VolumeList, error)
	VolumeRemove(ctx context.Context, name string, o api.VolumeOptions) (api.VolumeRemoveResponse, error)
}

// Leadership tells the server where writes go.
type Leadership interface {
	// Leader reports whether this agent leads; when it does not, it
	// returns the leader's ID, the base URL of its API and the transport
	// (mutual TLS) that reaches it. It fails when this agent is in no
	// cluster or knows no reachable leader.
	Leader() (self bool, id, base string, rt http.RoundTripper, err error)
	// LeaderID is the leader this agent's raft names now; "" for none.
	LeaderID() string
}
