package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shoal-org/shoal/membership"
	"github.com/shoal-org/shoal/store"
)

// RecoverResult is what `agent recover` did.
type RecoverResult struct {
	NodeID string
	// Voters are the node IDs of the new voter set, this agent first.
	Voters []string
	// Previous and Generation are the recovery generations before and
	// after.
	Previous, Generation membership.Generation
}

// Survivor is another surviving agent named to `agent recover`.
type Survivor struct {
	NodeID string
	Addr   string // HOST:RAFTPORT, HOST an IP
}

// ParseSurvivors checks every survivor ("NODEID@HOST:RAFTPORT", HOST an IP,
// RAFTPORT 1..65535) and that none is named twice. The errors name the
// --survivor flag and the form expected.
func ParseSurvivors(vals []string) ([]Survivor, error) {
	var out []Survivor
	ids, addrs := map[string]bool{}, map[string]bool{}
	for _, v := range vals {
		nid, addr, ok := strings.Cut(strings.TrimSpace(v), "@")
		if !ok || nid == "" || strings.ContainsAny(nid, " /") {
			return nil, fmt.Errorf("--survivor %q: expected NODEID@HOST:RAFTPORT, e.g. 3f2a…@10.0.0.2:7947 (node IDs are shown by `agentctl node ls`)", v)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("--survivor %q: address %q is not HOST:RAFTPORT: %v", v, addr, err)
		}
		if net.ParseIP(host) == nil {
			return nil, fmt.Errorf("--survivor %q: host %q is not an IP address: give the survivor's advertised IP", v, host)
		}
		if err := checkPort(port); err != nil {
			return nil, fmt.Errorf("--survivor %q: raft port %w", v, err)
		}
		if ids[nid] {
			return nil, fmt.Errorf("--survivor %q: node %s is named twice; name each survivor once", v, nid)
		}
		if addrs[addr] {
			return nil, fmt.Errorf("--survivor %q: address %s is named twice; each survivor has its own", v, addr)
		}
		ids[nid], addrs[addr] = true, true
		out = append(out, Survivor{NodeID: nid, Addr: addr})
	}
	return out, nil
}

func checkPort(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not a port: use 1..65535", s)
	}
	return nil
}

// Recover rewrites the raft configuration in dataDir so that this agent and
// the named survivors are the only voters, and raises the recovery
// generation (membership.RecoveryGeneration), so that the old voters, when
// they come back, refuse to talk raft with the recovered cluster's and
// rejoin it instead. It is for a cluster that lost its quorum for good,
// runs while the agent is stopped, and keeps every entry in the local log.
// Run it with the same survivor list on each survivor (they then get the
// same generation), then start their agents.
//
// Every argument is checked before anything is written: advertise must be
// an IP, raftPort in 1..65535, survivors well formed (see ParseSurvivors)
// and not this agent.
func Recover(dataDir, advertise string, raftPort int, survivors []string, logger *slog.Logger) (*RecoverResult, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if advertise == "" || net.ParseIP(advertise) == nil {
		return nil, fmt.Errorf("--advertise %q is not an IP address: pass this agent's advertised IP, as given to `agent run`", advertise)
	}
	if err := checkPort(strconv.Itoa(raftPort)); err != nil {
		return nil, fmt.Errorf("--raft-port: %w (as given to `agent run`, default 7947)", err)
	}
	others, err := ParseSurvivors(survivors)
	if err != nil {
		return nil, err
	}
	self := net.JoinHostPort(advertise, strconv.Itoa(raftPort))
	if _, err := os.Stat(filepath.Join(dataDir, "node.json")); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("data dir %s holds no agent (no node.json): nothing to recover; pass --data-dir", dataDir)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	id, err := loadIdentity(dataDir, "")
	if err != nil {
		return nil, err
	}
	if id.ClusterID == "" {
		return nil, fmt.Errorf("data dir %s holds no cluster: nothing to recover", dataDir)
	}
	voters := []membership.ServerInfo{{ID: id.NodeID, Address: self, Voter: true}}
	ids := []string{id.NodeID}
	for _, s := range others {
		if s.NodeID == id.NodeID || s.Addr == self {
			return nil, fmt.Errorf("--survivor %s@%s is this agent: name only the other survivors", s.NodeID, s.Addr)
		}
		voters = append(voters, membership.ServerInfo{ID: s.NodeID, Address: s.Addr, Voter: true})
		ids = append(ids, s.NodeID)
	}
	res := &RecoverResult{NodeID: id.NodeID, Voters: ids, Previous: id.generation()}
	res.Generation = membership.RecoveryGeneration(res.Previous, ids)
	err = membership.Recover(membership.RaftConfig{NodeID: id.NodeID, DataDir: id.path("raft"), Logger: logger},
		store.New(logger), voters)
	if err != nil {
		return nil, err
	}
	if _, err := id.withGeneration(res.Generation); err != nil {
		return nil, fmt.Errorf("raft configuration rewritten, but recording generation %s failed: %w (run recover again)", res.Generation, err)
	}
	logger.Info("recovered", "node", id.NodeID, "voters", ids, "generation", res.Generation)
	return res, nil
}
