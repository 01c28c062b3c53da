package engineapi

import (
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/engineapi/convert"
	"github.com/shoal-org/shoal/internal/fault"
)

// info answers GET /info: this agent as a Docker engine, with the Swarm
// block that `docker info` and `docker stack deploy` read. A node list
// that cannot be read (no cluster) leaves the counts from the agent's own
// view.
func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	in := s.b.Info(r.Context())
	var nodes []api.Node
	if in.InCluster {
		nodes, _ = s.b.Nodes(r.Context())
	}
	out := system.Info{
		ID: in.NodeID, Name: in.Name, ServerVersion: api.Version,
		OSType: runtime.GOOS, Architecture: runtime.GOARCH, KernelVersion: kernelVersion(),
		OperatingSystem: "shoal", NCPU: runtime.NumCPU(),
		SystemTime: time.Now().Format(time.RFC3339Nano), LoggingDriver: "shoal", CgroupDriver: "systemd",
		DefaultRuntime: "runc", IndexServerAddress: "https://index.docker.io/v1/",
		Swarm:  convert.SwarmInfo(in, nodes),
		Labels: []string{}, Warnings: []string{},
	}
	for _, n := range nodes {
		if n.Self {
			out.MemTotal = n.Resources.MemoryBytes
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) swarmInspect(w http.ResponseWriter, r *http.Request) error {
	in := s.b.Info(r.Context())
	if !in.InCluster {
		return fault.New(fault.Unavailable, "this node is not part of a swarm: run `agent init` to start a shoal cluster, or `agent join --token TOKEN PEER` to join one")
	}
	return writeJSON(w, http.StatusOK, convert.Swarm(in))
}

// swarmRefuse answers init, join, leave, update, unlock and unlockkey: a
// shoal cluster is formed and left with the agent's own commands.
func (s *Server) swarmRefuse(w http.ResponseWriter, r *http.Request) error {
	switch r.PathValue("op") {
	case "init":
		return fault.New(fault.NotImplemented, "docker swarm init is not served by shoal: run `agent init` on this host to start a cluster")
	case "join":
		return fault.New(fault.NotImplemented, "docker swarm join is not served by shoal: run `agent join --token TOKEN PEER` on this host (`agent join-token` on a member prints the command)")
	case "leave":
		return fault.New(fault.NotImplemented, "docker swarm leave is not served by shoal: run `agent leave` on this host")
	}
	return fault.New(fault.NotImplemented, "%s %s is not served by shoal: the cluster's settings are shoal's own (`agentctl` and `agent`); %s",
		r.Method, r.URL.Path, served)
}

// distribution answers GET /distribution/{ref}/json from the image's
// registry, asked by this node. The docker CLI pins a service's image to
// the digest; when this fails it only warns.
func (s *Server) distribution(w http.ResponseWriter, r *http.Request) error {
	ref, ok := strings.CutSuffix(r.PathValue("ref"), "/json")
	if !ok || ref == "" {
		return notServed(w, r)
	}
	d, err := s.b.ImageDistribution(r.Context(), ref)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, convert.Distribution(d))
}

// auth answers POST /auth (docker login): the answering node asks the
// registry whether the account is one of its own. The docker CLI then
// stores the login, for --with-registry-auth to send.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) error {
	var in registry.AuthConfig
	if err := apiserver.ReadJSONLenient(r, &in); err != nil {
		return err
	}
	auth := api.RegistryAuth{Username: in.Username, Password: in.Password, ServerAddress: in.ServerAddress, IdentityToken: in.IdentityToken}
	if err := s.b.RegistryLogin(r.Context(), auth); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registry.AuthResponse{Status: "Login Succeeded"})
}
