package store

import (
	"cmp"
	"slices"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/shoal-org/shoal/api/types"
)

// View is a consistent, read-only, point-in-time view of the store, safe
// for use from many goroutines. Later writes never show in it.
//
// Objects returned by a View are shared with the store and with every other
// reader: callers MUST NOT modify them (nor their maps and slices). To
// change an object, Copy() it, modify the copy and write it back through a
// Command, usually with Op.IfVersion set to the copy's Meta.Version.
type View struct {
	txn   *memdb.Txn
	index uint64
}

// Index returns the raft index this view reflects.
func (v *View) Index() uint64 { return v.index }

// Cluster returns the cluster row, or nil before the cluster is initialised.
func (v *View) Cluster() *types.Cluster {
	return first[types.Cluster](v, TableCluster, idxID, ClusterKey)
}

// Node returns the node with the given ID, or nil.
func (v *View) Node(id string) *types.Node { return first[types.Node](v, TableNodes, idxID, id) }

// Nodes returns every node, sorted by Hostname, then ID.
func (v *View) Nodes() []*types.Node {
	nodes := list[types.Node](v, TableNodes, idxID)
	slices.SortFunc(nodes, func(a, b *types.Node) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(a.ID, b.ID))
	})
	return nodes
}

// NodesByHostname returns the nodes with the given hostname, sorted by ID.
func (v *View) NodesByHostname(hostname string) []*types.Node {
	return list[types.Node](v, TableNodes, idxHostname, hostname)
}

// Service returns the service with the given ID, or nil.
func (v *View) Service(id string) *types.Service {
	return first[types.Service](v, TableServices, idxID, id)
}

// ServiceByName returns the service with the given name, or nil.
func (v *View) ServiceByName(name string) *types.Service {
	return first[types.Service](v, TableServices, idxName, name)
}

// Services returns every service, sorted by name.
func (v *View) Services() []*types.Service { return list[types.Service](v, TableServices, idxName) }

// Task returns the task with the given ID, or nil.
func (v *View) Task(id string) *types.Task { return first[types.Task](v, TableTasks, idxID, id) }

// Tasks returns every task, sorted by ID.
func (v *View) Tasks() []*types.Task { return list[types.Task](v, TableTasks, idxID) }

// TasksByService returns the tasks of a service, sorted by ID.
func (v *View) TasksByService(serviceID string) []*types.Task {
	return list[types.Task](v, TableTasks, idxService, serviceID)
}

// TasksByNode returns the tasks assigned to a node, sorted by ID.
func (v *View) TasksByNode(nodeID string) []*types.Task {
	return list[types.Task](v, TableTasks, idxNode, nodeID)
}

// Network returns the network with the given ID, or nil.
func (v *View) Network(id string) *types.Network {
	return first[types.Network](v, TableNetworks, idxID, id)
}

// NetworkByName returns the network with the given name, or nil.
func (v *View) NetworkByName(name string) *types.Network {
	return first[types.Network](v, TableNetworks, idxName, name)
}

// Networks returns every network, sorted by name.
func (v *View) Networks() []*types.Network { return list[types.Network](v, TableNetworks, idxName) }

// DefaultNetwork returns the network services join when they name none, or
// nil (a cluster made before networks existed).
func (v *View) DefaultNetwork() *types.Network {
	for _, n := range v.Networks() {
		if n.Default {
			return n
		}
	}
	return nil
}

// first returns the first object of an index lookup, or nil. Tables and
// indexes are constants of this package, so memdb cannot fail here.
func first[T any](v *View, table Table, index string, args ...any) *T {
	raw, err := v.txn.First(string(table), index, args...)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*T)
}

// list returns every object of an index lookup in index order (with no
// args: the whole table).
func list[T any](v *View, table Table, index string, args ...any) []*T {
	it, err := v.txn.Get(string(table), index, args...)
	if err != nil {
		return nil
	}
	var out []*T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*T))
	}
	return out
}
