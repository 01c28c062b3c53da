// Package apiserver serves shoal's HTTP API (/v1) over a Backend: routing,
// request decoding, error answers and the forwarding of writes to the
// leader are here, once; what each endpoint does is the Backend's. The
// Engine API is meant to sit beside it as a sibling package over the same
// backend.
package apiserver

import (
	"net/http"
	"strings"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/pki"
)

// Server is the /v1 API of one agent.
type Server struct{ b Backend }

// New returns the API served by b.
func New(b Backend) *Server { return &Server{b: b} }

// HandlerFunc serves a request and returns its error, which the server
// answers (see Serve).
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

type handler = HandlerFunc

// Handler returns the API. tcp=true is the agent-to-agent and remote
// listener: everything there but the admission of new nodes needs a client
// certificate of the cluster, and operations that only make sense on the
// host itself (init, join, leave, image load) are not offered there.
func (s *Server) Handler(tcp bool) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h handler) { mux.Handle(pattern, serve(h)) }
	write := func(pattern string, h handler) { handle(pattern, s.leaderOnly(h)) }
	handle("GET /v1/info", s.info)
	handle("GET /v1/members", s.members)
	handle("GET /v1/nodes", s.nodeList)
	handle("GET /v1/nodes/{ref}", s.nodeInspect)
	write("POST /v1/nodes/{ref}/update", s.nodeUpdate)
	write("DELETE /v1/nodes/{ref}", s.nodeRemove)
	handle("GET /v1/cluster/join-token", s.joinToken)
	handle("GET /v1/cluster/limits", s.limits)
	handle("POST /v1/cluster/certs", s.signClientCert)
	write("PUT /v1/cluster/limits", s.limitsUpdate)
	write("POST /v1/cluster/join-token/rotate", s.joinTokenRotate)
	write("POST /v1/internal/remove-peer", s.removePeer)
	write("POST /v1/internal/task-status", s.taskStatus)
	write("POST /v1/services", s.serviceCreate)
	handle("GET /v1/services", s.serviceList)
	handle("GET /v1/services/{ref}", s.serviceInspect)
	write("POST /v1/services/{ref}/update", s.serviceUpdate)
	write("POST /v1/services/{ref}/rollback", s.serviceRollback)
	handle("GET /v1/services/{ref}/history", s.serviceHistory)
	write("DELETE /v1/services/{ref}", s.serviceRemove)
	handle("GET /v1/tasks", s.taskList)
	handle("GET /v1/tasks/{id}", s.taskInspect)
	write("POST /v1/networks", s.networkCreate)
	handle("GET /v1/networks", s.networkList)
	handle("GET /v1/networks/{ref}", s.networkInspect)
	write("DELETE /v1/networks/{ref}", s.networkRemove)
	handle("GET /v1/services/{ref}/logs", s.serviceLogs)
	handle("GET /v1/tasks/{id}/logs", s.taskLogs)
	handle("GET /v1/events", s.events)
	handle("GET /v1/volumes", s.volumeList)
	handle("DELETE /v1/volumes/{name}", s.volumeRemove)
	s.fileRoutes(handle, write)
	handle("/", func(w http.ResponseWriter, r *http.Request) error { return noRoute(mux, r) })
	if tcp {
		handle("POST /v1/internal/admit", s.admit)
		handle("GET /v1/internal/read-index", s.readIndex)
		handle("POST /v1/internal/task-secrets", s.taskSecrets)
		return requireClientCert(mux)
	}
	handle("POST /v1/images/load", s.imageLoad)
	handle("POST /v1/cluster/init", s.clusterInit)
	handle("POST /v1/cluster/join", s.clusterJoin)
	handle("POST /v1/cluster/leave", s.clusterLeave)
	return mux
}

func serve(h handler) http.Handler { return Serve(h) }

// Serve runs h with a context that tracks whether its reads were
// unconfirmed, and answers its error as JSON {"message": ...} with the
// status StatusOf gives (a not-found from an unconfirmed replica becomes a
// 503). The Engine API answers errors the same way: Docker's error body is
// the same.
func Serve(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, rs := fault.TrackReads(r.Context())
		if err := h(w, r.WithContext(ctx)); err != nil {
			writeError(w, unconfirmed(err, rs))
		}
	})
}

// noRoute answers a request that no pattern but the catch-all matched: 405
// with an Allow header when the path exists under other methods (the
// catch-all hides the mux's own 405), else 404.
func noRoute(mux *http.ServeMux, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		return &allowError{allow: strings.Join(allow, ", "), err: fault.New(fault.NotAllowed,
			"%s %s: method not allowed: this endpoint answers %s", r.Method, r.URL.Path, strings.Join(allow, ", "))}
	}
	return fault.New(fault.NotFound,
		"this agent (version %s) has no API endpoint %s %s: is agentctl newer than the agent?", api.Version, r.Method, r.URL.Path)
}

// allowError is a 405 that also sets the Allow header.
type allowError struct {
	allow string
	err   error
}

func (e *allowError) Error() string { return e.err.Error() }
func (e *allowError) Unwrap() error { return e.err }

// requireClientCert refuses every TCP request without a verified cluster
// certificate, except the admission of a new node (which proves the join
// secret instead). The agent-to-agent endpoints (/v1/internal/) take only a
// node's certificate, checked here, where the request enters the cluster,
// since a follower forwards writes to the leader under its own.
func requireClientCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/internal/admit":
		case r.TLS == nil || len(r.TLS.VerifiedChains) == 0:
			writeError(w, fault.New(fault.Unauthenticated,
				"this API needs a client certificate of the cluster (use the local socket, or pass --tlscacert, --tlscert and --tlskey)"))
			return
		case strings.HasPrefix(r.URL.Path, "/v1/internal/"):
			if _, node := pki.VerifiedNodeID(r.TLS); !node {
				writeError(w, fault.New(fault.Forbidden, "%s is for the cluster's agents only: a client certificate cannot call it", r.URL.Path))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
