package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-org/shoal/internal/idgen"
	"github.com/shoal-org/shoal/membership"
)

// identity is what an agent keeps in its data dir to find its cluster again
// after a restart. Files, all under the data dir:
//
//	node.json          node ID, name, cluster ID (empty until init/join),
//	                   recovery generation (absent = 1, see membership.Generation)
//	tls/ca.pem         the cluster CA certificate
//	tls/node.pem       this node's certificate, signed by the CA
//	tls/node-key.pem   its private key (0600)
//	gossip.key         the serf encryption key (0600)
//	raft/              raft log, stable store and snapshots
//	serf.snapshot      serf's view of peers, used to rejoin them
//
// An identity value is never changed once built: joining or leaving makes
// a new one, so readers need no lock beyond fetching the current pointer.
type identity struct {
	NodeID    string `json:"NodeID"`
	Name      string `json:"Name"`
	ClusterID string `json:"ClusterID,omitempty"`
	// Generation is the cluster's recovery generation as this agent knows
	// it (membership.Generation.String); "" means 1.
	Generation string `json:"Generation,omitempty"`

	dir       string
	caPEM     []byte
	certPEM   []byte
	keyPEM    []byte
	gossipKey []byte
}

func (id *identity) path(parts ...string) string {
	return filepath.Join(append([]string{id.dir}, parts...)...)
}

// loadIdentity reads the data dir, creating a fresh node ID on first use.
func loadIdentity(dir, name string) (*identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	id := &identity{dir: dir}
	b, err := os.ReadFile(id.path("node.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		id.NodeID, id.Name = idgen.New(), name
		return id, id.saveNode()
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", id.path("node.json"), err)
	}
	if err := json.Unmarshal(b, id); err != nil {
		return nil, fmt.Errorf("read %s: %w (the file is damaged; move the data dir away to start afresh)", id.path("node.json"), err)
	}
	if name != "" && name != id.Name {
		id.Name = name
		if err := id.saveNode(); err != nil {
			return nil, err
		}
	}
	if id.ClusterID == "" {
		return id, nil
	}
	for _, f := range []struct {
		dst  *[]byte
		name string
	}{{&id.caPEM, "tls/ca.pem"}, {&id.certPEM, "tls/node.pem"}, {&id.keyPEM, "tls/node-key.pem"}, {&id.gossipKey, "gossip.key"}} {
		if *f.dst, err = os.ReadFile(id.path(f.name)); err != nil {
			return nil, fmt.Errorf("data dir %s belongs to cluster %s but %s is unreadable: %w", dir, id.ClusterID, f.name, err)
		}
	}
	return id, nil
}

// saveCluster records membership of a cluster. The secrets are written
// before node.json names the cluster, so a crash in between leaves an agent
// that is simply not yet in a cluster.
func (id *identity) saveCluster(clusterID string, caPEM, certPEM, keyPEM, gossipKey []byte) (*identity, error) {
	if err := os.MkdirAll(id.path("tls"), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", id.path("tls"), err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"tls/ca.pem", caPEM}, {"tls/node.pem", certPEM}, {"tls/node-key.pem", keyPEM}, {"gossip.key", gossipKey}} {
		if err := writeFileAtomic(id.path(f.name), f.data, 0o600); err != nil {
			return nil, err
		}
	}
	n := *id
	n.ClusterID, n.caPEM, n.certPEM, n.keyPEM, n.gossipKey = clusterID, caPEM, certPEM, keyPEM, gossipKey
	return &n, n.saveNode()
}

// forget removes everything that ties this data dir to a cluster and
// returns the fresh, unjoined identity (with a new node ID) that replaces id.
func (id *identity) forget() (*identity, error) {
	var errs []error
	paths, _ := filepath.Glob(id.path(staleDirPrefix + "*")) // raft state set aside by stale rejoins
	for _, name := range []string{"tls", "gossip.key", "raft", "serf.snapshot", "node.json"} {
		paths = append(paths, id.path(name))
	}
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	n := &identity{dir: id.dir, Name: id.Name, NodeID: idgen.New()}
	errs = append(errs, n.saveNode())
	return n, errors.Join(errs...)
}

// generation returns the identity's recovery generation; a damaged value
// reads as the initial one (agent recover and stale rejoins rewrite it).
func (id *identity) generation() membership.Generation {
	g, err := membership.ParseGeneration(id.Generation)
	if err != nil {
		return membership.InitialGeneration
	}
	return g
}

// withGeneration returns a copy of id at generation g, saved to node.json.
func (id *identity) withGeneration(g membership.Generation) (*identity, error) {
	n := *id
	n.Generation = g.String()
	return &n, n.saveNode()
}

func (id *identity) saveNode() error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(id.path("node.json"), append(b, '\n'), 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
