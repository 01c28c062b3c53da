package store

import "github.com/shoal-org/shoal/api/types"

// SetGeneration returns the command that sets the cluster record's recovery
// generation to gen, conditional on the record still being c (its
// version), so a concurrent change of the record makes it fail with
// ErrConflict rather than be overwritten. The caller (the leader) decides
// that gen is higher: the store does not order generations.
func SetGeneration(c *types.Cluster, gen string) Command {
	cp := c.Copy()
	cp.Generation = gen
	return Command{Ops: []Op{{Kind: OpPut, Table: TableCluster, Cluster: cp, IfVersion: c.Version}}}
}
