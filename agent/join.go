package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/pki"
)

// handleJoin runs on the joining agent (local socket only): it proves the
// token to a member, receives its credentials and joins gossip and raft.
// Nothing is written to the data dir unless the member admits it.
func (a *Agent) ClusterJoin(ctx context.Context, req api.JoinRequest) (api.JoinResponse, error) {
	tok, err := pki.ParseToken(req.Token)
	if err != nil {
		return api.JoinResponse{}, fault.Invalidf("%v", err)
	}
	peer, err := normalizePeer(req.Peer)
	if err != nil {
		return api.JoinResponse{}, err
	}
	done, err := a.beginMembershipChange(false)
	if err != nil {
		return api.JoinResponse{}, err
	}
	defer done()
	if err := a.joinCluster(ctx, tok, peer); err != nil {
		return api.JoinResponse{}, err
	}
	id := a.ident()
	return api.JoinResponse{ClusterID: id.ClusterID, NodeID: id.NodeID}, nil
}

func normalizePeer(p string) (string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", fault.Invalidf("missing peer: name a cluster member as HOST or HOST:PORT (API port, default %d)", api.DefaultAPIPort)
	}
	for _, scheme := range []string{"tcp://", "https://"} {
		p = strings.TrimSuffix(strings.TrimPrefix(p, scheme), "/")
	}
	host, port, err := net.SplitHostPort(p)
	if err != nil {
		host, port = strings.Trim(p, "[]"), strconv.Itoa(api.DefaultAPIPort)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fault.Invalidf("peer %q: port %q is not a number from 1 to 65535 (the API port, default %d)", p, port, api.DefaultAPIPort)
	}
	if host == "" || strings.ContainsAny(host, "/@?# ") {
		return "", fault.Invalidf("peer %q: expected HOST or HOST:PORT of a cluster member (API port, default %d)", p, api.DefaultAPIPort)
	}
	return net.JoinHostPort(host, port), nil
}

func (a *Agent) joinCluster(ctx context.Context, tok pki.Token, peer string) (err error) {
	keyPEM, err := pki.NewNodeKey()
	if err != nil {
		return err
	}
	id := a.ident()
	csr, err := pki.NewCSR(keyPEM, id.NodeID)
	if err != nil {
		return err
	}
	var caPEM []byte
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: pki.PinnedClientTLS(tok.CADigest, func(p []byte) { caPEM = p }),
		DialContext:     (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}
	req := api.AdmitRequest{Secret: tok.Secret, NodeID: id.NodeID, Hostname: id.Name, Addr: a.cfg.AdvertiseAddr, CSR: csr}
	resp, err := api.NewHTTPClient("https://"+peer, hc).Admit(ctx, req)
	if err != nil {
		return joinError(peer, err)
	}
	if d, derr := pki.Digest(caPEM); derr != nil || d != tok.CADigest {
		return fmt.Errorf("join via %s: the CA received does not match the token", peer)
	}
	gen, err := membership.ParseGeneration(resp.Generation)
	if err != nil {
		return fmt.Errorf("join via %s: the member sent a bad recovery generation: %w", peer, err)
	}
	joined, err := id.saveCluster(resp.ClusterID, caPEM, resp.Cert, keyPEM, resp.GossipKey)
	if err != nil {
		return err
	}
	if joined, err = joined.withGeneration(gen); err != nil {
		return err
	}
	a.setIdent(joined)
	defer func() {
		if err != nil {
			a.abandonCluster()
		}
	}()
	if err := a.startCluster(a.runCtx, resp.Peers, false); err != nil {
		return err
	}
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	// Return once the leader has recorded this node and the record has
	// reached this replica, so `node ls` right after shows it.
	err = waitFor(ctx, 30*time.Second, func() bool {
		n := cl.store.View().Node(joined.NodeID)
		return n != nil && n.Status == types.NodeReady
	})
	if err != nil {
		return fmt.Errorf("joined gossip via %s, but the leader did not record this node: %w (see `agent members`, and the leader's log)", peer, err)
	}
	a.log.Info("joined cluster", "cluster", resp.ClusterID, "via", peer)
	return nil
}

func joinError(peer string, err error) error {
	var mismatch *pki.CAMismatchError
	var se *api.StatusError
	var wrong *api.WrongServerError
	switch {
	case errors.As(err, &mismatch):
		return fault.Invalidf("join refused: %v", mismatch)
	case errors.As(err, &se) && se.Code == http.StatusForbidden:
		return &fault.Error{Kind: fault.Forbidden, Msg: "join refused by " + peer + ": " + se.Message}
	case errors.As(err, &se):
		return &fault.Error{Kind: fault.KindOfStatus(se.Code), Msg: "join via " + peer + ": " + se.Message}
	case errors.As(err, &wrong):
		return &fault.Error{Kind: fault.Upstream, Msg: "join via " + peer + ": " + wrong.Error()}
	}
	return &fault.Error{Kind: fault.Upstream, Msg: fmt.Sprintf("join via %s: %v (is an agent of the cluster listening there?)", peer, err)}
}

// handleAdmit runs on any member: it checks the join secret and signs the
// new node's certificate. The new node appears in the nodes table once the
// leader sees it in gossip.
func (a *Agent) Admit(ctx context.Context, req api.AdmitRequest) (api.AdmitResponse, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.AdmitResponse{}, err
	}
	c := cl.store.View().Cluster()
	if c == nil {
		return api.AdmitResponse{}, &fault.Error{Kind: fault.Unavailable, Msg: "this member has no copy of the cluster record yet; try another member"}
	}
	if !(pki.Token{Secret: c.JoinSecret}).SecretMatches(req.Secret) {
		return api.AdmitResponse{}, &fault.Error{Kind: fault.Forbidden, Msg: "the join token's secret is not this cluster's current one " +
			"(it may have been rotated): get the current token with `agent join-token` on a member"}
	}
	if n := cl.store.View().Node(req.NodeID); n != nil && n.Status == types.NodeReady {
		return api.AdmitResponse{}, &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf("node ID %s is already an active member", req.NodeID)}
	}
	ip := net.ParseIP(req.Addr)
	if ip == nil {
		return api.AdmitResponse{}, fault.Invalidf("joining node's address %q is not an IP: start its agent with --advertise", req.Addr)
	}
	ca, err := pki.LoadCA(c.CACertPEM, c.CAKeyPEM)
	if err != nil {
		return api.AdmitResponse{}, fmt.Errorf("load cluster CA: %w", err)
	}
	cert, err := ca.SignCSR(req.CSR, req.NodeID, []net.IP{ip})
	if err != nil {
		return api.AdmitResponse{}, fault.Invalidf("certificate request: %v", err)
	}
	var peers []string
	for _, m := range cl.ml.Members() {
		if m.Status == membership.StatusAlive {
			peers = append(peers, net.JoinHostPort(m.Addr, strconv.Itoa(m.Port)))
		}
	}
	a.log.Info("admitting node", "node", req.NodeID, "name", req.Hostname, "addr", req.Addr)
	return api.AdmitResponse{ClusterID: c.ID, CACert: c.CACertPEM, Cert: cert,
		GossipKey: c.GossipKey, Peers: peers, Generation: cl.guard.Generation().String()}, nil
}

// handleLeave takes this agent out of the cluster for good: out of raft
// first (so the voters keep a majority), then out of gossip with a leave
// message (so it shows as Down/left rather than failed), then its cluster
// files are removed.
func (a *Agent) ClusterLeave(ctx context.Context) error {
	done, err := a.beginMembershipChange(true)
	if err != nil {
		return err
	}
	defer done()
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	if len(cl.ml.Members()) > 1 {
		if err := cl.leaveRaft(ctx); err != nil {
			return err
		}
	}
	a.stopCluster(true)
	fresh, err := cl.id.forget()
	a.setIdent(fresh)
	if err != nil {
		return fmt.Errorf("left the cluster, but cleaning the data dir failed: %w", err)
	}
	a.log.Info("left the cluster")
	return nil
}

func (cl *cluster) leaveRaft(ctx context.Context) error {
	self := cl.id.NodeID
	if cl.isLeader() {
		return cl.removePeer(ctx, self)
	}
	c, err := cl.leaderClient()
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	if err := c.RemovePeer(ctx, api.LeaveRequest{NodeID: self}); err != nil {
		return fmt.Errorf("leave: the leader could not remove this node from raft: %w", err)
	}
	return nil
}

func (a *Agent) RemovePeer(ctx context.Context, req api.LeaveRequest) error {
	cl, err := a.cluster()
	if err != nil {
		return err
	}
	if err := cl.removePeer(ctx, req.NodeID); err != nil {
		return err
	}
	return nil
}
