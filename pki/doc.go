// Package pki holds the cluster's security primitives: the cluster CA, node
// certificates, the join token, the gossip key and the TLS configurations
// used by raft, agent-to-agent RPC and the TCP API.
//
// # Trust model
//
// `agent init` creates a self-signed ECDSA P-256 CA (NewCA) and a join token
// (FormatToken) that carries the SHA-256 digest of the CA certificate and a
// random secret, as swarm's SWMTKN does. A joining node has no CA yet, so it
// dials a member with PinnedClientTLS: the member presents [leaf, CA], the
// joiner accepts the CA only if its digest equals the token's, and only then
// sends the secret together with a CSR (NewCSR). The member checks the secret
// (Token.SecretMatches) and signs the CSR (CA.SignCSR). From then on every
// connection between nodes is mutual TLS 1.3 against the cluster CA
// (ServerTLS, ClientTLS).
//
// # Identity, not addresses
//
// A node certificate names the node (CN = node ID, DNS SAN "node-<ID>") and
// the IPs it had when it joined, but clients do not check the dialled host
// name: nodes are dialled by IP, and IPs change (DHCP, re-addressed lab VMs,
// a raft configuration that still lists an old address). Possession of a
// certificate signed by this cluster's CA is what makes a peer a member; a
// caller that needs a particular node checks NodeID of the peer certificate.
//
// The CA key is stored in the replicated cluster state so that any agent can
// serve a join; protecting it at rest (file modes, disk encryption) is the
// caller's job. Every function in this package is safe for concurrent use.
package pki
