// Package engineapi serves the swarm subset of the Docker Engine API over
// the same Backend as shoal's own /v1 API (package apiserver), so that the
// docker CLI, its SDKs and tools built on them drive a shoal cluster
// unchanged: `DOCKER_HOST=unix:///run/shoal/docker.sock docker service ls`.
//
// The wire types are the Engine API module's
// (github.com/moby/moby/api/types); package convert translates them to
// shoal's and back. Handlers here only decode, convert, call the Backend
// and encode; errors are fault-classified and answered by apiserver.Serve
// as Docker does ({"message": ...} with 400, 404, 409, 501...).
//
// Every route is served with and without the /vX.Y prefix, for every
// version from MinAPIVersion to MaxAPIVersion; the prefix is checked and
// stripped before routing, so the answers do not yet depend on it.
//
// Transports: each agent serves this API on a local unix socket
// (root-only, /run/shoal/docker.sock by default) and on its TCP API
// listener beside /v1, behind the cluster's mutual TLS. Writes run on the
// raft leader: on any other agent apiserver.LeaderOnly forwards the
// Docker request unchanged (unversioned path) to the leader's TCP
// listener, which is why the TCP listener serves it too.
package engineapi
