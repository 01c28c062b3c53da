package store

import (
	"encoding/json"
	"fmt"
	"github.com/shoal-org/shoal/api/types"
)

// Table names one kind of stored object.
type Table string

// The tables of the store. TableCluster holds at most one row, keyed
// ClusterKey whatever Cluster.ID says.
const (
	TableCluster  Table = "cluster"
	TableNodes    Table = "nodes"
	TableServices Table = "services"
	TableTasks    Table = "tasks"
	TableNetworks Table = "networks"
	TableSecrets  Table = "secrets"
	TableConfigs  Table = "configs"
	// TableKeys holds the cluster's data key wrapped for each raft voter
	// (types.WrappedKey, keyed by node ID).
	TableKeys Table = "keys"
)

// ClusterKey is the primary key of the single row of TableCluster.
const ClusterKey = "cluster"

// allTables lists the tables in the order snapshots write them.
var allTables = []Table{TableCluster, TableNodes, TableServices, TableNetworks, TableTasks,
	TableSecrets, TableConfigs, TableKeys}

// tableSet is a bit set of tables, used to route change notifications.
type tableSet uint16

// bit returns t's bit, or 0 for an unknown table.
func (t Table) bit() tableSet {
	for i, k := range allTables {
		if k == t {
			return 1 << i
		}
	}
	return 0
}

// noun is the singular used in user-facing messages ("service", "node").
func (t Table) noun() string {
	switch t {
	case TableCluster:
		return "cluster"
	case TableNodes:
		return "node"
	case TableServices:
		return "service"
	case TableTasks:
		return "task"
	case TableNetworks:
		return "network"
	case TableSecrets:
		return "secret"
	case TableConfigs:
		return "config"
	case TableKeys:
		return "wrapped data key"
	}
	return string(t)
}

// OpKind is what an Op does.
type OpKind string

const (
	// OpCreate inserts an object; it fails with ErrExists if the ID exists.
	OpCreate OpKind = "create"
	// OpPut creates or replaces an object.
	OpPut OpKind = "put"
	// OpDelete removes the object with Op.ID; ErrNotFound if absent.
	OpDelete OpKind = "delete"
)

// Op is one write within a Command. For OpCreate and OpPut exactly one of
// the object fields is set and it matches Table; the object's ID is the key.
// For OpDelete, ID names the object (ignored for TableCluster).
//
// IfVersion, when non-zero, makes the op conditional: the stored object must
// exist and have Meta.Version == IfVersion, else the command fails with
// ErrConflict. Meta of the given object is ignored: Apply stamps it.
type Op struct {
	Kind      OpKind `json:"Kind"`
	Table     Table  `json:"Table"`
	ID        string `json:"ID,omitempty"`
	IfVersion uint64 `json:"IfVersion,omitempty"`

	Cluster *types.Cluster    `json:"Cluster,omitempty"`
	Node    *types.Node       `json:"Node,omitempty"`
	Service *types.Service    `json:"Service,omitempty"`
	Task    *types.Task       `json:"Task,omitempty"`
	Network *types.Network    `json:"Network,omitempty"`
	Secret  *types.Secret     `json:"Secret,omitempty"`
	Config  *types.Config     `json:"Config,omitempty"`
	Key     *types.WrappedKey `json:"Key,omitempty"`
}

// Command is the unit the leader submits to raft. Its ops are applied in
// order in one transaction: either all of them take effect or none does.
type Command struct {
	Ops []Op `json:"Ops"`
}

// Result is what Store.Apply returns (as *Result) and so what the leader's
// raft.ApplyFuture.Response() yields. Err is nil or wraps one of the
// package's sentinel errors.
type Result struct {
	Index uint64
	Err   error
}

// formatJSON is the leading byte of a command encoded as JSON. A later
// encoding gets a new byte, and Apply keeps decoding the old ones.
const formatJSON byte = 1

// EncodeCommand serialises c for raft.Apply. The bytes are a copy: changing
// c's objects afterwards does not change what is applied.
func EncodeCommand(c Command) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode store command: %w", err)
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, formatJSON)
	return append(out, b...), nil
}

// decodeCommand is the inverse of EncodeCommand; any malformed input is
// ErrInvalid.
func decodeCommand(data []byte) (Command, error) {
	var c Command
	if len(data) == 0 {
		return c, errorf(ErrInvalid, "decode store command: empty")
	}
	if data[0] != formatJSON {
		return c, errorf(ErrInvalid, "decode store command: unknown format %#x (written by a newer version?)", data[0])
	}
	if err := json.Unmarshal(data[1:], &c); err != nil {
		return c, errorf(ErrInvalid, "decode store command: %v", err)
	}
	return c, nil
}

// object is one of the stored kinds: *types.Cluster, *types.Node,
// *types.Service, *types.Task, *types.Network, *types.Secret,
// *types.Config or *types.WrappedKey.
type object = any

// keyOf returns obj's primary key: its ID, or ClusterKey for the cluster
// record.
func keyOf(obj object) string {
	switch o := obj.(type) {
	case *types.Cluster:
		return ClusterKey
	case *types.Node:
		return o.ID
	case *types.Service:
		return o.ID
	case *types.Task:
		return o.ID
	case *types.Network:
		return o.ID
	case *types.Secret:
		return o.ID
	case *types.Config:
		return o.ID
	case *types.WrappedKey:
		return o.ID
	}
	panic(fmt.Sprintf("store: %T is not a stored kind", obj))
}

// metaOf returns a pointer to obj's Meta.
func metaOf(obj object) *types.Meta {
	switch o := obj.(type) {
	case *types.Cluster:
		return &o.Meta
	case *types.Node:
		return &o.Meta
	case *types.Service:
		return &o.Meta
	case *types.Task:
		return &o.Meta
	case *types.Network:
		return &o.Meta
	case *types.Secret:
		return &o.Meta
	case *types.Config:
		return &o.Meta
	case *types.WrappedKey:
		return &o.Meta
	}
	panic(fmt.Sprintf("store: %T is not a stored kind", obj))
}

// objects returns the object set in op (the last one if several), its
// table, and how many objects are set.
func (op *Op) objects() (obj object, table Table, n int) {
	if op.Cluster != nil {
		obj, table, n = op.Cluster, TableCluster, n+1
	}
	if op.Node != nil {
		obj, table, n = op.Node, TableNodes, n+1
	}
	if op.Service != nil {
		obj, table, n = op.Service, TableServices, n+1
	}
	if op.Task != nil {
		obj, table, n = op.Task, TableTasks, n+1
	}
	if op.Network != nil {
		obj, table, n = op.Network, TableNetworks, n+1
	}
	if op.Secret != nil {
		obj, table, n = op.Secret, TableSecrets, n+1
	}
	if op.Config != nil {
		obj, table, n = op.Config, TableConfigs, n+1
	}
	if op.Key != nil {
		obj, table, n = op.Key, TableKeys, n+1
	}
	return obj, table, n
}

// onlyObject returns the object and its table if exactly one is set, else
// nil.
func (op *Op) onlyObject() (object, Table) {
	obj, table, n := op.objects()
	if n != 1 {
		return nil, ""
	}
	return obj, table
}

// object returns the single object an OpCreate/OpPut carries, checking that
// exactly one is set and that it belongs to op.Table.
func (op *Op) object() (object, error) {
	obj, table, n := op.objects()
	switch {
	case n == 0:
		return nil, errorf(ErrInvalid, "%s %s: no object given", op.Kind, op.Table)
	case n > 1:
		return nil, errorf(ErrInvalid, "%s %s: %d objects given, want exactly one", op.Kind, op.Table, n)
	case table != op.Table:
		return nil, errorf(ErrInvalid, "%s %s: object is a %s", op.Kind, op.Table, table.noun())
	}
	return obj, nil
}
