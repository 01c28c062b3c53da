package agent

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/internal/idgen"
	"github.com/shoal-org/shoal/leader"
	"github.com/shoal-org/shoal/netplan"
	"github.com/shoal-org/shoal/pki"
	"github.com/shoal-org/shoal/store"
)

// DefaultOverlayCIDR is split into per-node subnets unless init says otherwise.
const DefaultOverlayCIDR = "10.240.0.0/16"

// Info describes this agent and, when it is in a cluster, its view of it.
func (a *Agent) Info(ctx context.Context) api.Info {
	id := a.ident()
	info := api.Info{NodeID: id.NodeID, Name: id.Name, ClusterID: id.ClusterID,
		Addr: a.cfg.AdvertiseAddr, APIPort: a.cfg.APIPort, Version: api.Version}
	if cl, err := a.cluster(); err == nil {
		info.InCluster = true
		// Without the catch-up wait of other reads: info answers at once
		// on an agent that is still catching up.
		info.Freshness = cl.freshness(!cl.syncReadNow(ctx))
		info.RaftState = cl.raft.State()
		info.LeaderID = cl.raft.LeaderID()
		view := cl.store.View()
		if n := view.Node(info.LeaderID); n != nil {
			info.LeaderName = n.Hostname
		}
		info.Voters = cl.voterCount()
		info.Nodes = len(view.Nodes())
		info.AppliedIdx = cl.store.Index()
		info.Role = string(cl.role(cl.id.NodeID))
		info.Dataplane = cl.dataplane()
		info.Generation, info.StaleGeneration = cl.generationInfo()
	}
	return info
}

// role is a node's suffrage in this agent's copy of the raft configuration.
func (cl *cluster) role(id string) types.Role {
	servers, err := cl.raft.Servers()
	if err != nil {
		return ""
	}
	for _, s := range servers {
		if s.ID == id {
			if s.Voter {
				return types.RoleVoter
			}
			return types.RoleNonvoter
		}
	}
	return ""
}

func (a *Agent) Members(ctx context.Context) ([]api.Member, error) {
	cl, err := a.cluster()
	if err != nil {
		return nil, err
	}
	var out []api.Member
	for _, m := range cl.ml.Members() {
		out = append(out, api.Member{ID: m.ID, Name: m.Name, Addr: net.JoinHostPort(m.Addr, strconv.Itoa(m.Port)),
			Status: string(m.Status), Tags: m.Tags})
	}
	return out, nil
}

// beginMembershipChange makes init, join and leave exclusive.
func (a *Agent) beginMembershipChange(wantInCluster bool) (func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.joining {
		return nil, &fault.Error{Kind: fault.Conflict, Msg: "an init, join or leave is already in progress on this agent"}
	}
	if wantInCluster && a.cl == nil {
		return nil, errNotInCluster
	}
	if !wantInCluster && (a.cl != nil || a.id.ClusterID != "") { // a.mu is held
		return nil, &fault.Error{Kind: fault.Conflict, Msg: fmt.Sprintf(
			"this agent is already part of cluster %s: run `agent leave` first to join another", a.id.ClusterID)}
	}
	a.joining = true
	return func() { a.mu.Lock(); a.joining = false; a.mu.Unlock() }, nil
}

func (a *Agent) ClusterInit(ctx context.Context, req api.InitRequest) (api.InitResponse, error) {
	if req.OverlayCIDR == "" {
		req.OverlayCIDR = DefaultOverlayCIDR
	}
	if _, _, err := net.ParseCIDR(req.OverlayCIDR); err != nil {
		return api.InitResponse{}, fault.Invalidf("overlay CIDR %q: %v (use a form like 10.240.0.0/16)", req.OverlayCIDR, err)
	}
	done, err := a.beginMembershipChange(false)
	if err != nil {
		return api.InitResponse{}, err
	}
	defer done()
	resp, err := a.initCluster(ctx, req)
	if err != nil {
		return api.InitResponse{}, err
	}
	return *resp, nil
}

func (a *Agent) initCluster(ctx context.Context, req api.InitRequest) (_ *api.InitResponse, err error) {
	clusterID := idgen.New()
	ca, err := pki.NewCA(clusterID)
	if err != nil {
		return nil, fmt.Errorf("create cluster CA: %w", err)
	}
	id := a.ident()
	certPEM, keyPEM, err := ca.IssueNode(id.NodeID, []net.IP{net.ParseIP(a.cfg.AdvertiseAddr)})
	if err != nil {
		return nil, fmt.Errorf("issue node certificate: %w", err)
	}
	gossipKey, err := pki.NewGossipKey()
	if err != nil {
		return nil, err
	}
	secret, err := pki.NewSecret()
	if err != nil {
		return nil, err
	}
	joined, err := id.saveCluster(clusterID, ca.CertPEM, certPEM, keyPEM, gossipKey)
	if err != nil {
		return nil, err
	}
	a.setIdent(joined)
	defer func() {
		if err != nil { // leave the agent as it was: outside any cluster
			a.abandonCluster()
		}
	}()
	if err := a.startCluster(a.runCtx, nil, true); err != nil {
		return nil, err
	}
	cl, err := a.cluster()
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, 15*time.Second, cl.isLeader); err != nil {
		return nil, fmt.Errorf("the new single-node cluster elected no leader: %w", err)
	}
	cluster := &types.Cluster{ID: clusterID, CACertPEM: ca.CertPEM, CAKeyPEM: ca.KeyPEM, GossipKey: gossipKey,
		JoinSecret: secret, OverlayCIDR: req.OverlayCIDR, TaskHistory: 5}
	if _, err := cl.apply(ctx, store.Command{Ops: []store.Op{
		{Kind: store.OpCreate, Table: store.TableCluster, Cluster: cluster}, netplan.DefaultNetworkOp(req.OverlayCIDR)}}); err != nil {
		return nil, fmt.Errorf("record the cluster: %w", err)
	}
	if err := leader.SyncNodes(ctx, cl.leaderDeps()); err != nil {
		return nil, fmt.Errorf("record this node: %w", err)
	}
	token, cmd, err := cl.joinToken()
	if err != nil {
		return nil, err
	}
	a.log.Info("cluster initialised", "cluster", clusterID)
	return &api.InitResponse{ClusterID: clusterID, NodeID: joined.NodeID, Token: token, JoinCommand: cmd}, nil
}

// abandonCluster undoes a failed init or join.
func (a *Agent) abandonCluster() {
	a.stopCluster(false)
	fresh, err := a.ident().forget()
	if err != nil {
		a.log.Warn("clean data dir after failed init/join", "err", err)
	}
	a.setIdent(fresh)
}

func (cl *cluster) joinToken() (token, command string, err error) {
	c := cl.store.View().Cluster()
	if c == nil {
		return "", "", &fault.Error{Kind: fault.Unavailable, Msg: "the cluster record has not reached this agent yet; retry in a moment"}
	}
	digest, err := pki.Digest(c.CACertPEM)
	if err != nil {
		return "", "", fmt.Errorf("cluster CA: %w", err)
	}
	token = pki.FormatToken(digest, c.JoinSecret)
	addr := net.JoinHostPort(cl.a.cfg.AdvertiseAddr, strconv.Itoa(cl.a.cfg.APIPort))
	return token, fmt.Sprintf("agent join --token %s %s", token, addr), nil
}

func (a *Agent) JoinToken(ctx context.Context) (api.TokenResponse, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.TokenResponse{}, err
	}
	cl.syncRead(ctx)
	token, cmd, err := cl.joinToken()
	if err != nil {
		return api.TokenResponse{}, err
	}
	return api.TokenResponse{Token: token, JoinCommand: cmd}, nil
}

func (a *Agent) RotateJoinToken(ctx context.Context) (api.TokenResponse, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.TokenResponse{}, err
	}
	c := cl.store.View().Cluster()
	if c == nil {
		return api.TokenResponse{}, &fault.Error{Kind: fault.Unavailable, Msg: "the cluster record is missing on the leader; retry in a moment"}
	}
	cp := c.Copy()
	if cp.JoinSecret, err = pki.NewSecret(); err != nil {
		return api.TokenResponse{}, err
	}
	if _, err := cl.apply(ctx, store.Command{Ops: []store.Op{{Kind: store.OpPut, Table: store.TableCluster, Cluster: cp, IfVersion: c.Version}}}); err != nil {
		return api.TokenResponse{}, err
	}
	token, cmd, err := cl.joinToken()
	if err != nil {
		return api.TokenResponse{}, err
	}
	return api.TokenResponse{Token: token, JoinCommand: cmd}, nil
}

func (a *Agent) ReadIndex(ctx context.Context) (api.ReadIndexResponse, error) {
	cl, err := a.cluster()
	if err != nil {
		return api.ReadIndexResponse{}, err
	}
	if !cl.isLeader() {
		return api.ReadIndexResponse{}, &fault.Error{Kind: fault.Unavailable, Msg: "not the leader"}
	}
	// Every write acknowledged before this request was applied to the
	// leader's store first, so its index is the one a follower must reach
	// (raft's own applied index may name a no-op or barrier, which no
	// store ever applies). Before the leader's barrier it may miss entries
	// of earlier terms.
	if !cl.leaderApplied.Load() {
		return api.ReadIndexResponse{}, fault.Unavailablef("the leader has not applied the earlier terms' entries yet")
	}
	idx := cl.store.Index()
	if err := cl.raft.VerifyLeader(); err != nil {
		return api.ReadIndexResponse{}, errNoLeader
	}
	return api.ReadIndexResponse{Index: idx}, nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s", d)
		case <-t.C:
		}
	}
	return nil
}
