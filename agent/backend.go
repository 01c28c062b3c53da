package agent

import (
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/apiserver"
	"github.com/shoal-org/shoal/control"
)

// The Agent is the API's backend (apiserver.Backend, served by apiserver
// and engineapi): the cluster's operations (apiserver.Operations) are
// package control's, embedded in the Agent and run over the seam cl.ctl;
// the agent's own are those of its lifecycle (apiserver.Lifecycle): info,
// members, init, join, leave, join tokens, admission, read index and raft
// peers (lifecycle.go, join.go, raftops.go).
var _ apiserver.Backend = (*Agent)(nil)

// controlCluster is the seam of the running cluster for package control,
// or why there is none.
func (a *Agent) controlCluster() (*control.Cluster, error) {
	cl, err := a.cluster()
	if err != nil {
		return nil, err
	}
	return cl.ctl, nil
}

// newControl builds cl's seam for package control once raft and gossip
// run.
func (cl *cluster) newControl() *control.Cluster {
	return &control.Cluster{
		NodeID: cl.id.NodeID, NodeName: cl.id.Name, Store: cl.store, Apply: cl.apply, Sync: cl.readFreshness,
		Servers: cl.raft.Servers, LeaderID: cl.raft.LeaderID, Members: cl.ml.Members, RemovePeer: cl.removePeer,
		Runtime: cl.containerd, Now: time.Now, Seal: cl.seal,
		Dial: func(addr string) *api.Client { return api.NewHTTPClient("https://"+addr, cl.peerHTTP) },
	}
}
