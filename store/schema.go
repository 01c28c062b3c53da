package store

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/shoal-org/shoal/api/types"
)

// Index names used with memdb.
const (
	idxID       = "id"
	idxHostname = "hostname"
	idxName     = "name"
	idxService  = "service"
	idxNode     = "node"
)

// metaTable holds one row, the raft index the data reflects, so that a read
// transaction sees data and index from the same instant.
const (
	metaTable = "_meta"
	metaKey   = "index"
)

type indexRow struct{ Index uint64 }

// strIndex indexes a string taken from an object by a typed accessor; it is
// cheaper than memdb's reflection-based StringFieldIndex and reaches nested
// fields (Service.Spec.Name). Empty values are not indexed.
type strIndex struct {
	get func(obj any) string
}

var (
	_ memdb.SingleIndexer = strIndex{}
	_ memdb.PrefixIndexer = strIndex{}
)

// FromObject implements memdb.SingleIndexer. Values are NUL-terminated so
// that an exact lookup of "ab" does not match "abc".
func (x strIndex) FromObject(obj any) (bool, []byte, error) {
	v := x.get(obj)
	if v == "" {
		return false, nil, nil
	}
	b := make([]byte, len(v)+1)
	copy(b, v)
	return true, b, nil
}

// FromArgs implements memdb.Indexer.
func (x strIndex) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b, nil
}

// PrefixFromArgs implements memdb.PrefixIndexer.
func (x strIndex) PrefixFromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func oneString(args []any) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("want one string argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return "", fmt.Errorf("want a string argument, got %T", args[0])
	}
	return s, nil
}

// idIndex is every table's primary index: the object's key().
func idIndex() *memdb.IndexSchema {
	return &memdb.IndexSchema{
		Name:    idxID,
		Unique:  true,
		Indexer: strIndex{get: func(o any) string { return keyOf(o) }},
	}
}

// secondary is a non-primary index; objects whose value is empty are left
// out of it.
func secondary(name string, unique bool, get func(any) string) *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: name, Unique: unique, AllowMissing: true, Indexer: strIndex{get: get}}
}

// schema returns the memdb schema. memdb does not enforce uniqueness of
// secondary indexes (a duplicate silently shadows the other entry), so
// "unique" here only documents intent: apply checks names itself.
func schema() *memdb.DBSchema {
	table := func(name string, extra ...*memdb.IndexSchema) *memdb.TableSchema {
		idx := map[string]*memdb.IndexSchema{idxID: idIndex()}
		for _, e := range extra {
			idx[e.Name] = e
		}
		return &memdb.TableSchema{Name: name, Indexes: idx}
	}
	tables := []*memdb.TableSchema{
		table(string(TableCluster)),
		table(string(TableNodes),
			secondary(idxHostname, false, func(o any) string { return o.(*types.Node).Hostname })),
		table(string(TableServices),
			secondary(idxName, true, func(o any) string { return o.(*types.Service).Spec.Name })),
		table(string(TableTasks),
			secondary(idxService, false, func(o any) string { return o.(*types.Task).ServiceID }),
			secondary(idxNode, false, func(o any) string { return o.(*types.Task).NodeID })),
		table(string(TableNetworks),
			secondary(idxName, true, func(o any) string { return o.(*types.Network).Name })),
		table(string(TableSecrets),
			secondary(idxName, true, func(o any) string { return o.(*types.Secret).Spec.Name })),
		table(string(TableConfigs),
			secondary(idxName, true, func(o any) string { return o.(*types.Config).Spec.Name })),
		table(string(TableKeys)),
		{
			Name: metaTable,
			Indexes: map[string]*memdb.IndexSchema{idxID: {
				Name: idxID, Unique: true,
				Indexer: strIndex{get: func(any) string { return metaKey }},
			}},
		},
	}
	s := &memdb.DBSchema{Tables: make(map[string]*memdb.TableSchema, len(tables))}
	for _, t := range tables {
		s.Tables[t.Name] = t
	}
	return s
}

// newDB returns an empty database with the store's schema.
func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		// The schema is a constant of this package: failing to build it is
		// a programming error caught by every test.
		panic(fmt.Sprintf("store: invalid memdb schema: %v", err))
	}
	return db
}

// setIndex records the raft index the transaction's data reflects.
func setIndex(txn *memdb.Txn, idx uint64) error {
	if err := txn.Insert(metaTable, &indexRow{Index: idx}); err != nil {
		return fmt.Errorf("record applied index %d: %w", idx, err)
	}
	return nil
}

// txnIndex reads the index recorded by setIndex (0 for an empty store).
func txnIndex(txn *memdb.Txn) uint64 {
	raw, err := txn.First(metaTable, idxID, metaKey)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*indexRow).Index
}
