package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/store"
)

// httpError is an error with the HTTP status it should be answered with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

type handler func(w http.ResponseWriter, r *http.Request) error

const forwardedHeader = "X-Shoal-Forwarded"

// routes builds the API. tcp=true is the agent-to-agent/remote listener:
// everything there but the admission of new nodes needs a client
// certificate of the cluster; local-only operations are not offered there.
func (a *Agent) routes(tcp bool) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h handler) { mux.Handle(pattern, a.serve(h)) }
	handle("GET /v1/info", a.handleInfo)
	handle("GET /v1/members", a.handleMembers)
	handle("GET /v1/nodes", a.handleNodeList)
	handle("GET /v1/nodes/{ref}", a.handleNodeInspect)
	handle("POST /v1/nodes/{ref}/update", a.leaderOnly(a.handleNodeUpdate))
	handle("DELETE /v1/nodes/{ref}", a.leaderOnly(a.handleNodeRemove))
	handle("GET /v1/cluster/join-token", a.handleJoinToken)
	handle("GET /v1/cluster/limits", a.handleLimits)
	handle("PUT /v1/cluster/limits", a.leaderOnly(a.handleLimitsUpdate))
	handle("POST /v1/cluster/join-token/rotate", a.leaderOnly(a.handleJoinTokenRotate))
	handle("POST /v1/internal/remove-peer", a.leaderOnly(a.handleRemovePeer))
	handle("POST /v1/internal/task-status", a.leaderOnly(a.handleTaskStatus))
	handle("POST /v1/services", a.leaderOnly(a.handleServiceCreate))
	handle("GET /v1/services", a.handleServiceList)
	handle("GET /v1/services/{ref}", a.handleServiceInspect)
	handle("POST /v1/services/{ref}/update", a.leaderOnly(a.handleServiceUpdate))
	handle("POST /v1/services/{ref}/rollback", a.leaderOnly(a.handleServiceRollback))
	handle("GET /v1/services/{ref}/history", a.handleServiceHistory)
	handle("DELETE /v1/services/{ref}", a.leaderOnly(a.handleServiceRemove))
	handle("GET /v1/tasks", a.handleTaskList)
	handle("GET /v1/tasks/{id}", a.handleTaskInspect)
	handle("POST /v1/networks", a.leaderOnly(a.handleNetworkCreate))
	handle("GET /v1/networks", a.handleNetworkList)
	handle("GET /v1/networks/{ref}", a.handleNetworkInspect)
	handle("DELETE /v1/networks/{ref}", a.leaderOnly(a.handleNetworkRemove))
	handle("GET /v1/services/{ref}/logs", a.handleServiceLogs)
	handle("GET /v1/tasks/{id}/logs", a.handleTaskLogs)
	handle("/", func(w http.ResponseWriter, r *http.Request) error { return noRoute(mux, w, r) })
	if tcp {
		handle("POST /v1/internal/admit", a.handleAdmit)
		handle("GET /v1/internal/read-index", a.handleReadIndex)
		return requireClientCert(mux)
	}
	handle("POST /v1/images/load", a.handleImageLoad)
	handle("POST /v1/cluster/init", a.handleInit)
	handle("POST /v1/cluster/join", a.handleJoin)
	handle("POST /v1/cluster/leave", a.handleLeave)
	return mux
}

// noRoute answers a request that no pattern but the catch-all matched: 405
// with an Allow header when the path exists under other methods (the
// catch-all hides the mux's own 405), else 404.
func noRoute(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return &httpError{code: http.StatusMethodNotAllowed, msg: fmt.Sprintf(
			"%s %s: method not allowed: this endpoint answers %s", r.Method, r.URL.Path, strings.Join(allow, ", "))}
	}
	return &httpError{code: http.StatusNotFound, msg: fmt.Sprintf(
		"this agent (version %s) has no API endpoint %s %s: is agentctl newer than the agent?", api.Version, r.Method, r.URL.Path)}
}

// requireClientCert refuses every TCP request without a verified cluster
// certificate, except the admission of a new node (which proves the join
// secret instead).
func requireClientCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/internal/admit" && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			writeError(w, &httpError{code: http.StatusUnauthorized,
				msg: "this API needs a client certificate of the cluster (use the local socket, or pass --tlscacert, --tlscert and --tlskey)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *Agent) serve(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := &readState{}
		r = r.WithContext(context.WithValue(r.Context(), readStateKey{}, rs))
		if err := h(w, r); err != nil {
			writeError(w, unconfirmed(err, rs))
		}
	})
}

// readState records, for one request, whether a read it made came from a
// replica that no leader confirmed (syncRead's stale answer).
type readState struct{ stale atomic.Bool }

type readStateKey struct{}

// markStale notes in ctx's request that it read an unconfirmed replica.
func markStale(ctx context.Context) {
	if rs, ok := ctx.Value(readStateKey{}).(*readState); ok {
		rs.stale.Store(true)
	}
}

// unconfirmed turns a "not found" that an unconfirmed replica gave into a
// 503: the object may exist (a write the leader acknowledged moments ago
// may not have reached this replica), so a definite "not found" would be a
// wrong answer; the client should retry once a leader is reachable.
func unconfirmed(err error, rs *readState) error {
	var he *httpError
	if !rs.stale.Load() || !errors.Is(err, store.ErrNotFound) || errors.As(err, &he) {
		return err
	}
	return &httpError{code: http.StatusServiceUnavailable,
		msg: err.Error() + " in this agent's replica, and no leader is reachable to confirm it: retry once the cluster has a leader (agentctl info)"}
}

// leaderOnly runs h on the leader; on any other agent it forwards the request
// to the leader over mutual TLS and relays the answer.
func (a *Agent) leaderOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		cl, err := a.cluster()
		if err != nil {
			return err
		}
		if cl.isLeader() {
			return h(w, r)
		}
		// A body the leader would refuse for its size is refused here,
		// unread: forwarding it would stream megabytes to the leader only
		// for the leader to close the connection under the proxy.
		if r.ContentLength > MaxRequestBody {
			return bodyTooLarge(r.ContentLength)
		}
		if r.Header.Get(forwardedHeader) != "" {
			return &httpError{code: http.StatusServiceUnavailable, msg: "leadership changed while forwarding the request; retry it"}
		}
		_, leader := cl.raft.LeaderWithID()
		base, err := cl.leaderBase()
		if err != nil {
			return err
		}
		target, _ := url.Parse(base)
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		go cl.cancelOnLeaderChange(ctx, cancel, string(leader))
		var proxyErr error
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Header.Set(forwardedHeader, "1")
			},
			Transport: cl.peerHTTP.Transport,
			ErrorHandler: func(http.ResponseWriter, *http.Request, error) {
				proxyErr = errNoLeader
				if errors.Is(context.Cause(ctx), errLeaderChanged) {
					proxyErr = &httpError{code: http.StatusServiceUnavailable, msg: errLeaderChanged.Error()}
				}
			},
		}
		proxy.ServeHTTP(w, r.WithContext(ctx))
		return proxyErr
	}
}

// errLeaderChanged ends a forwarded write whose leader lost its place.
var errLeaderChanged = errors.New("the leader changed while this write was forwarded to it: " +
	"it may or may not have been applied; check (e.g. agentctl service ls) and retry")

// cancelOnLeaderChange cancels ctx with errLeaderChanged as soon as this
// agent's raft no longer names leader, so that a write forwarded to a
// leader cut off by a partition fails within moments, not after the
// transport's timeout. It returns when ctx ends.
func (cl *cluster) cancelOnLeaderChange(ctx context.Context, cancel context.CancelCauseFunc, leader string) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, id := cl.raft.LeaderWithID(); string(id) != leader {
				cancel(errLeaderChanged)
				return
			}
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	switch {
	case errors.As(err, &he):
		code = he.code
	case errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrNameTaken), errors.Is(err, store.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrAmbiguous):
		code = http.StatusBadRequest
	}
	_ = writeJSON(w, code, api.Error{Message: err.Error()})
}
