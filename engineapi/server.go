package engineapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/internal/fault"
)

// Server is the Engine API of one agent.
type Server struct{ b apiserver.Backend }

// New returns the Engine API served by b.
func New(b apiserver.Backend) *Server { return &Server{b: b} }

// served lists what this API answers, for the 501 of everything else.
const served = "shoal serves the swarm subset of the Engine API: /_ping, /version, /info, /swarm (inspect), " +
	"/auth, /distribution, /events (swarm scope), /nodes, /services (and their logs), /tasks, /networks (overlay), /secrets, /configs " +
	"and /volumes (the node's own)"

// Handler returns the API. tcp=true is the agent's TCP listener, where
// every request needs a client certificate of the cluster (mutual TLS).
func (s *Server) Handler(tcp bool) http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h apiserver.HandlerFunc) { mux.Handle(pattern, apiserver.Serve(h)) }
	write := func(pattern string, h apiserver.HandlerFunc) { handle(pattern, apiserver.LeaderOnly(s.b, h)) }
	handle("GET /_ping", s.ping) // GET patterns match HEAD too
	handle("GET /version", s.version)
	handle("GET /info", s.info)
	handle("GET /swarm", s.swarmInspect)
	handle("POST /swarm/{op}", s.swarmRefuse)
	handle("GET /swarm/unlockkey", s.swarmRefuse)
	handle("GET /distribution/{ref...}", s.distribution)
	handle("GET /nodes", s.nodeList)
	handle("GET /nodes/{id}", s.nodeInspect)
	write("POST /nodes/{id}/update", s.nodeUpdate)
	write("DELETE /nodes/{id}", s.nodeRemove)
	handle("GET /services", s.serviceList)
	write("POST /services/create", s.serviceCreate)
	handle("GET /services/{id}", s.serviceInspect)
	write("POST /services/{id}/update", s.serviceUpdate)
	write("DELETE /services/{id}", s.serviceRemove)
	handle("GET /services/{id}/logs", s.serviceLogs)
	handle("GET /tasks", s.taskList)
	handle("GET /tasks/{id}", s.taskInspect)
	handle("GET /tasks/{id}/logs", s.taskLogs)
	handle("GET /events", s.events)
	handle("GET /networks", s.networkList)
	handle("GET /networks/{id}", s.networkInspect)
	write("POST /networks/create", s.networkCreate)
	write("DELETE /networks/{id}", s.networkRemove)
	s.fileRoutes(handle, write)
	handle("POST /auth", s.auth)
	handle("GET /volumes", s.volumeList)
	handle("GET /volumes/{name}", s.volumeInspect)
	handle("DELETE /volumes/{name}", s.volumeRemove)
	handle("POST /volumes/create", s.volumeCreate)
	handle("/", notServed)
	h := withVersion(mux)
	if tcp {
		return requireClientCert(h)
	}
	return h
}

// notServed answers every endpoint outside the subset with a 501 that
// names what is served; the container, image and build endpoints point at
// services instead.
func notServed(w http.ResponseWriter, r *http.Request) error {
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch first {
	case "containers", "build", "images", "exec", "commit", "plugins", "session", "grpc":
		return fault.New(fault.NotImplemented, "%s %s is not served by shoal: use `docker service create` (tasks run as services; %s)",
			r.Method, r.URL.Path, served)
	}
	return fault.New(fault.NotImplemented, "%s %s is not served by shoal (not yet, or not at all): %s", r.Method, r.URL.Path, served)
}

// requireClientCert refuses a TCP request without a verified certificate
// of the cluster's CA.
func requireClientCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			serveErr(w, r, fault.New(fault.Unauthenticated,
				"the Engine API over TCP needs a client certificate of the cluster: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or use the node's unix socket"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveErr answers err as every handler's error is answered.
func serveErr(w http.ResponseWriter, r *http.Request, err error) {
	apiserver.Serve(func(http.ResponseWriter, *http.Request) error { return err }).ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}
