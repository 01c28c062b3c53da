package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// One method per endpoint of the agent's HTTP API (/v1). The CLI calls
// these and never writes a path; the server's routes are in package
// apiserver.

// call is Do with a typed answer.
func call[T any](ctx context.Context, c *Client, method, path string, in any) (T, error) {
	var out T
	err := c.Do(ctx, method, path, in, &out)
	return out, err
}

func esc(ref string) string { return url.PathEscape(ref) }

// Info is GET /v1/info: the answering agent and its view of the cluster.
func (c *Client) Info(ctx context.Context) (Info, error) {
	return call[Info](ctx, c, http.MethodGet, "/v1/info", nil)
}

// Members is GET /v1/members: the gossip view of the answering agent.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	return call[[]Member](ctx, c, http.MethodGet, "/v1/members", nil)
}

// ClusterInit is POST /v1/cluster/init: the agent founds a cluster of one.
func (c *Client) ClusterInit(ctx context.Context, req InitRequest) (InitResponse, error) {
	return call[InitResponse](ctx, c, http.MethodPost, "/v1/cluster/init", req)
}

// ClusterJoin is POST /v1/cluster/join: the agent joins req.Peer's cluster.
func (c *Client) ClusterJoin(ctx context.Context, req JoinRequest) (JoinResponse, error) {
	return call[JoinResponse](ctx, c, http.MethodPost, "/v1/cluster/join", req)
}

// ClusterLeave is POST /v1/cluster/leave: the agent leaves for good.
func (c *Client) ClusterLeave(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, "/v1/cluster/leave", nil, nil)
}

// JoinToken is GET /v1/cluster/join-token.
func (c *Client) JoinToken(ctx context.Context) (TokenResponse, error) {
	return call[TokenResponse](ctx, c, http.MethodGet, "/v1/cluster/join-token", nil)
}

// SignClientCert is POST /v1/cluster/certs: the answering agent signs a
// client certificate with the cluster's CA.
func (c *Client) SignClientCert(ctx context.Context, req CertRequest) (CertResponse, error) {
	return call[CertResponse](ctx, c, http.MethodPost, "/v1/cluster/certs", req)
}

// RotateJoinToken is POST /v1/cluster/join-token/rotate: the old token
// stops working.
func (c *Client) RotateJoinToken(ctx context.Context) (TokenResponse, error) {
	return call[TokenResponse](ctx, c, http.MethodPost, "/v1/cluster/join-token/rotate", nil)
}

// Limits is GET /v1/cluster/limits: every front-door limit in force.
func (c *Client) Limits(ctx context.Context) ([]Limit, error) {
	return call[[]Limit](ctx, c, http.MethodGet, "/v1/cluster/limits", nil)
}

// UpdateLimits is PUT /v1/cluster/limits; it answers with every limit.
func (c *Client) UpdateLimits(ctx context.Context, upd LimitsUpdate) ([]Limit, error) {
	return call[[]Limit](ctx, c, http.MethodPut, "/v1/cluster/limits", upd)
}

// ImageLoad is POST /v1/images/load: archive (docker save or OCI layout)
// is imported into the answering node's containerd.
func (c *Client) ImageLoad(ctx context.Context, archive io.Reader) (ImageLoadResponse, error) {
	return call[ImageLoadResponse](ctx, c, http.MethodPost, "/v1/images/load", archive)
}

// Nodes is GET /v1/nodes.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	return call[[]Node](ctx, c, http.MethodGet, "/v1/nodes", nil)
}

// Node is GET /v1/nodes/{ref}: ref is an ID, a name or a unique ID prefix.
func (c *Client) Node(ctx context.Context, ref string) (Node, error) {
	return call[Node](ctx, c, http.MethodGet, "/v1/nodes/"+esc(ref), nil)
}

// NodeUpdate is POST /v1/nodes/{ref}/update.
func (c *Client) NodeUpdate(ctx context.Context, ref string, upd NodeUpdate) (Node, error) {
	return call[Node](ctx, c, http.MethodPost, "/v1/nodes/"+esc(ref)+"/update", upd)
}

// NodeRemove is DELETE /v1/nodes/{ref}; force removes a node that is not
// down.
func (c *Client) NodeRemove(ctx context.Context, ref string, force bool) error {
	path := "/v1/nodes/" + esc(ref)
	if force {
		path += "?force=true"
	}
	return c.Do(ctx, http.MethodDelete, path, nil, nil)
}

// Services is GET /v1/services.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	return call[[]Service](ctx, c, http.MethodGet, "/v1/services", nil)
}

// Service is GET /v1/services/{ref}.
func (c *Client) Service(ctx context.Context, ref string) (Service, error) {
	return call[Service](ctx, c, http.MethodGet, "/v1/services/"+esc(ref), nil)
}

// ServiceCreate is POST /v1/services.
func (c *Client) ServiceCreate(ctx context.Context, req ServiceCreateRequest) (ServiceCreateResponse, error) {
	return call[ServiceCreateResponse](ctx, c, http.MethodPost, "/v1/services", req)
}

// ServiceUpdate is POST /v1/services/{id}/update; req.Version must be the
// version read, or the update is refused as out of sequence.
func (c *Client) ServiceUpdate(ctx context.Context, id string, req ServiceUpdateRequest) (ServiceUpdateResponse, error) {
	return call[ServiceUpdateResponse](ctx, c, http.MethodPost, "/v1/services/"+esc(id)+"/update", req)
}

// ServiceRollback is POST /v1/services/{id}/rollback.
func (c *Client) ServiceRollback(ctx context.Context, id string, req ServiceRollbackRequest) (ServiceUpdateResponse, error) {
	return call[ServiceUpdateResponse](ctx, c, http.MethodPost, "/v1/services/"+esc(id)+"/rollback", req)
}

// ServiceRemove is DELETE /v1/services/{ref}.
func (c *Client) ServiceRemove(ctx context.Context, ref string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/services/"+esc(ref), nil, nil)
}

// ServiceHistory is GET /v1/services/{id}/history: the stored revisions.
func (c *Client) ServiceHistory(ctx context.Context, id string) ([]types.Revision, error) {
	return call[[]types.Revision](ctx, c, http.MethodGet, "/v1/services/"+esc(id)+"/history", nil)
}

// ServiceLogs is GET /v1/services/{id}/logs; the caller closes the stream.
func (c *Client) ServiceLogs(ctx context.Context, id string, o LogOptions) (io.ReadCloser, error) {
	return c.Stream(ctx, http.MethodGet, withQuery("/v1/services/"+esc(id)+"/logs", o.Values()), nil)
}

// Events is GET /v1/events: it calls fn with each event from since (none
// before the call for the zero time) until until (forever for the zero
// time), of the given types (all for none), until ctx ends or fn fails.
func (c *Client) Events(ctx context.Context, since, until time.Time, types []string, fn func(Event) error) error {
	q := url.Values{"type": types}
	for k, t := range map[string]time.Time{"since": since, "until": until} {
		if !t.IsZero() {
			q.Set(k, t.Format(time.RFC3339Nano))
		}
	}
	body, err := c.Stream(ctx, http.MethodGet, withQuery("/v1/events", q), nil)
	if err != nil {
		return err
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	for {
		var e Event
		if err := dec.Decode(&e); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("events: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// Tasks is GET /v1/tasks; service, when not "", keeps that service's tasks.
func (c *Client) Tasks(ctx context.Context, service string) ([]Task, error) {
	return call[[]Task](ctx, c, http.MethodGet, withQuery("/v1/tasks", url.Values{"service": {service}}), nil)
}

// Task is GET /v1/tasks/{ref}.
func (c *Client) Task(ctx context.Context, ref string) (Task, error) {
	return call[Task](ctx, c, http.MethodGet, "/v1/tasks/"+esc(ref), nil)
}

// TaskLogs is GET /v1/tasks/{id}/logs; the caller closes the stream.
func (c *Client) TaskLogs(ctx context.Context, id string, o LogOptions) (io.ReadCloser, error) {
	return c.Stream(ctx, http.MethodGet, withQuery("/v1/tasks/"+esc(id)+"/logs", o.Values()), nil)
}

// Networks is GET /v1/networks.
func (c *Client) Networks(ctx context.Context) ([]types.Network, error) {
	return call[[]types.Network](ctx, c, http.MethodGet, "/v1/networks", nil)
}

// Network is GET /v1/networks/{ref}.
func (c *Client) Network(ctx context.Context, ref string) (types.Network, error) {
	return call[types.Network](ctx, c, http.MethodGet, "/v1/networks/"+esc(ref), nil)
}

// NetworkCreate is POST /v1/networks.
func (c *Client) NetworkCreate(ctx context.Context, req NetworkCreateRequest) (NetworkCreateResponse, error) {
	return call[NetworkCreateResponse](ctx, c, http.MethodPost, "/v1/networks", req)
}

// NetworkRemove is DELETE /v1/networks/{ref}.
func (c *Client) NetworkRemove(ctx context.Context, ref string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/networks/"+esc(ref), nil, nil)
}

// withQuery appends the values of q that are not empty to path.
func withQuery(path string, q url.Values) string {
	kept := url.Values{}
	for k, v := range q {
		if len(v) > 1 || (len(v) == 1 && v[0] != "") {
			kept[k] = v
		}
	}
	if len(kept) == 0 {
		return path
	}
	return path + "?" + kept.Encode()
}

// Agent-to-agent endpoints (/v1/internal), served over mutual TLS only
// (admit excepted: a joining agent has no certificate yet).

// Admit is POST /v1/internal/admit: a joining agent presents the join
// secret and a CSR and gets its certificate and the cluster's keys.
func (c *Client) Admit(ctx context.Context, req AdmitRequest) (AdmitResponse, error) {
	return call[AdmitResponse](ctx, c, http.MethodPost, "/v1/internal/admit", req)
}

// ReadIndex is GET /v1/internal/read-index: the leader's commit index,
// confirmed by a quorum, for a follower's linearizable read.
func (c *Client) ReadIndex(ctx context.Context) (ReadIndexResponse, error) {
	return call[ReadIndexResponse](ctx, c, http.MethodGet, "/v1/internal/read-index", nil)
}

// ReportTaskStatus is POST /v1/internal/task-status: a worker's observed
// task states, sent to the leader.
func (c *Client) ReportTaskStatus(ctx context.Context, ups []types.TaskUpdate) error {
	return c.Do(ctx, http.MethodPost, "/v1/internal/task-status", ups, nil)
}

// RemovePeer is POST /v1/internal/remove-peer: the leader removes a leaving
// node from the raft configuration.
func (c *Client) RemovePeer(ctx context.Context, req LeaveRequest) error {
	return c.Do(ctx, http.MethodPost, "/v1/internal/remove-peer", req, nil)
}
