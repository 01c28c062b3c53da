package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the store returns wraps exactly one of them,
// so callers test with errors.Is; the message itself names the object.
var (
	// ErrNotFound: the object (or reference) does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: OpCreate named an ID that is already stored.
	ErrExists = errors.New("store: already exists")
	// ErrConflict: Op.IfVersion did not match the stored version; re-read
	// the object and retry.
	ErrConflict = errors.New("store: version conflict")
	// ErrNameTaken: a service or network name is already used by another
	// object of the same kind.
	ErrNameTaken = errors.New("store: name taken")
	// ErrInUse: a secret or config that a service uses cannot be removed
	// (a service naming one that does not exist is ErrNotFound).
	ErrInUse = errors.New("store: in use")
	// ErrAmbiguous: a user's reference matches more than one object.
	ErrAmbiguous = errors.New("store: ambiguous reference")
	// ErrInvalid: a malformed command, op or reference.
	ErrInvalid = errors.New("store: invalid")
)

// detailError is an error whose message is written for the user (it names
// the object) and which unwraps to one sentinel. It keeps the sentinel's
// "store: ..." text out of the message a user reads.
type detailError struct {
	msg      string
	sentinel error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.sentinel }

// errorf returns an error with the formatted message that wraps sentinel.
func errorf(sentinel error, format string, args ...any) error {
	return &detailError{msg: fmt.Sprintf(format, args...), sentinel: sentinel}
}
