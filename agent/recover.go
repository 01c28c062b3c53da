package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
)

// Recover rewrites the raft configuration in dataDir so that this agent and
// the named survivors ("NODEID@HOST:RAFTPORT") are the only voters. It is
// for a cluster that lost its quorum for good, runs while the agent is
// stopped, and keeps every entry in the local log. Run it with the same
// survivor list on each survivor, then start their agents.
func Recover(dataDir, advertise string, raftPort int, survivors []string, logger *slog.Logger) (string, error) {
	if logger == nil {
		logger = slog.Default()
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	id, err := loadIdentity(dataDir, "")
	if err != nil {
		return "", err
	}
	if id.ClusterID == "" {
		return "", fmt.Errorf("data dir %s holds no cluster: nothing to recover", dataDir)
	}
	if advertise == "" {
		return "", errors.New("recover needs this agent's advertised IP: pass --advertise (as given to `agent run`)")
	}
	voters := []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(id.NodeID),
		Address: raft.ServerAddress(net.JoinHostPort(advertise, fmt.Sprint(raftPort)))}}
	for _, s := range survivors {
		nid, addr, ok := strings.Cut(s, "@")
		if !ok || nid == "" {
			return "", fmt.Errorf("survivor %q: expected NODEID@HOST:RAFTPORT (node IDs are shown by `agentctl node ls`)", s)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", fmt.Errorf("survivor %q: address %q: %v (expected HOST:RAFTPORT)", s, addr, err)
		}
		voters = append(voters, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(nid), Address: raft.ServerAddress(addr)})
	}
	err = membership.Recover(membership.RaftConfig{NodeID: id.NodeID, DataDir: id.path("raft"), Logger: logger},
		store.New(logger), voters)
	if err != nil {
		return "", err
	}
	return id.NodeID, nil
}
