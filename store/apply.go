package store

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/shoal-org/shoal/api/types"
)

// stamp is what Apply writes into Meta: taken from the raft log, never from
// the local clock, so that every replica stores identical objects.
type stamp struct {
	index uint64
	at    time.Time
}

// runCommand applies cmd's ops to txn in order and reports the tables they
// touched. It does not commit. A panic in an op (a bug, but one every
// replica hits alike) becomes ErrInvalid so that raft's FSM goroutine
// survives; the caller then aborts the transaction.
func runCommand(txn *memdb.Txn, cmd Command, st stamp, logger *slog.Logger) (touched tableSet, err error) {
	defer func() {
		if r := recover(); r != nil {
			logger.Error("store: panic while applying command", "index", st.index, "panic", r, "stack", string(debug.Stack()))
			touched, err = 0, errorf(ErrInvalid, "apply command at index %d: internal error: %v", st.index, r)
		}
	}()
	for i := range cmd.Ops {
		bit, err := applyOp(txn, &cmd.Ops[i], st)
		if err != nil {
			return 0, err
		}
		touched |= bit
	}
	return touched, nil
}

// applyOp applies one op and returns its table's bit.
func applyOp(txn *memdb.Txn, op *Op, st stamp) (tableSet, error) {
	bit := op.Table.bit()
	if bit == 0 {
		return 0, errorf(ErrInvalid, "%s: unknown table %q", op.Kind, op.Table)
	}
	switch op.Kind {
	case OpCreate, OpPut:
		return bit, putOp(txn, op, st)
	case OpDelete:
		return bit, deleteOp(txn, op)
	}
	return 0, errorf(ErrInvalid, "unknown op kind %q on table %s", op.Kind, op.Table)
}

func putOp(txn *memdb.Txn, op *Op, st stamp) error {
	obj, err := op.object()
	if err != nil {
		return err
	}
	id := keyOf(obj)
	if err := checkID(op.Table, id); err != nil {
		return err
	}
	existing, err := lookup(txn, op.Table, id)
	if err != nil {
		return err
	}
	if op.Kind == OpCreate && existing != nil {
		return errorf(ErrExists, "%s %s already exists", op.Table.noun(), id)
	}
	if err := checkVersion(op, existing, id); err != nil {
		return err
	}
	if err := checkNames(txn, obj); err != nil {
		return err
	}
	if err := checkFileRefs(txn, obj); err != nil {
		return err
	}
	m := metaOf(obj)
	m.Version, m.CreatedAt, m.UpdatedAt = st.index, st.at, st.at
	if existing != nil {
		m.CreatedAt = metaOf(existing).CreatedAt
	}
	if err := txn.Insert(string(op.Table), obj); err != nil {
		return errorf(ErrInvalid, "%s %s %s: %v", op.Kind, op.Table.noun(), id, err)
	}
	return nil
}

func deleteOp(txn *memdb.Txn, op *Op) error {
	id := op.ID
	if op.Table == TableCluster {
		id = ClusterKey
	}
	if err := checkID(op.Table, id); err != nil {
		return err
	}
	existing, err := lookup(txn, op.Table, id)
	if err != nil {
		return err
	}
	if existing == nil {
		return errorf(ErrNotFound, "delete %s %s: not found", op.Table.noun(), id)
	}
	if err := checkVersion(op, existing, id); err != nil {
		return err
	}
	if err := checkUnused(txn, existing); err != nil {
		return err
	}
	if err := txn.Delete(string(op.Table), existing); err != nil {
		return errorf(ErrInvalid, "delete %s %s: %v", op.Table.noun(), id, err)
	}
	return nil
}

// lookup returns the stored object with the given key, or nil.
func lookup(txn *memdb.Txn, table Table, id string) (object, error) {
	raw, err := txn.First(string(table), idxID, id)
	if err != nil {
		return nil, errorf(ErrInvalid, "look up %s %s: %v", table.noun(), id, err)
	}
	if raw == nil {
		return nil, nil
	}
	return raw, nil
}

// checkID rejects keys that cannot be stored: empty, or holding the NUL
// byte the indexes use as a terminator.
func checkID(table Table, id string) error {
	if id == "" {
		return errorf(ErrInvalid, "%s has an empty ID", table.noun())
	}
	if strings.IndexByte(id, 0) >= 0 {
		return errorf(ErrInvalid, "%s ID %q contains a NUL byte", table.noun(), id)
	}
	return nil
}

// checkVersion enforces Op.IfVersion against the stored object.
func checkVersion(op *Op, existing object, id string) error {
	if op.IfVersion == 0 {
		return nil
	}
	if existing == nil {
		return errorf(ErrConflict, "%s %s no longer exists (expected version %d); re-read and retry",
			op.Table.noun(), id, op.IfVersion)
	}
	if v := metaOf(existing).Version; v != op.IfVersion {
		return errorf(ErrConflict, "%s %s was changed concurrently (version %d, expected %d); re-read and retry",
			op.Table.noun(), id, v, op.IfVersion)
	}
	return nil
}

// checkNames enforces that services, networks, secrets and configs have a name no other
// object of their kind uses. A rename within one command is fine as long as
// every intermediate state is unique (ops apply in order).
func checkNames(txn *memdb.Txn, obj object) error {
	var table Table
	var name string
	switch o := obj.(type) {
	case *types.Service:
		table, name = TableServices, o.Spec.Name
	case *types.Network:
		table, name = TableNetworks, o.Name
	case *types.Secret:
		table, name = TableSecrets, o.Spec.Name
	case *types.Config:
		table, name = TableConfigs, o.Spec.Name
	default:
		return nil
	}
	noun := table.noun()
	if name == "" {
		return errorf(ErrInvalid, "%s %s has no name", noun, keyOf(obj))
	}
	if strings.IndexByte(name, 0) >= 0 {
		return errorf(ErrInvalid, "%s name %q contains a NUL byte", noun, name)
	}
	raw, err := txn.First(string(table), idxName, name)
	if err != nil {
		return errorf(ErrInvalid, "look up %s name %q: %v", noun, name, err)
	}
	if raw != nil && keyOf(raw) != keyOf(obj) {
		return errorf(ErrNameTaken, "%s name %q is already in use by %s %s; choose another name",
			noun, name, noun, keyOf(raw))
	}
	return nil
}

// commitIndexOnly records idx in a transaction of its own; used when a
// command failed, so that Index() still advances past its log entry.
func commitIndexOnly(db *memdb.MemDB, idx uint64) error {
	txn := db.Txn(true)
	if err := setIndex(txn, idx); err != nil {
		txn.Abort()
		return err
	}
	txn.Commit()
	return nil
}

// describe summarises a command for debug logs.
func describe(cmd Command) string {
	if len(cmd.Ops) == 1 {
		op := cmd.Ops[0]
		return fmt.Sprintf("%s %s", op.Kind, op.Table)
	}
	return fmt.Sprintf("%d ops", len(cmd.Ops))
}
