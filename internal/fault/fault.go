// Package fault classifies the errors the daemon's operations return, so
// that every API that serves them (shoal's /v1 API today, the Engine API
// beside it) answers a refusal with the same meaning: invalid input, not
// found, conflict, unavailable... Each API maps a Kind to its own status
// codes; the operations never speak HTTP.
package fault

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Kind is what went wrong, from the caller's point of view.
type Kind int

const (
	Internal        Kind = iota // a bug or an unexpected failure
	Invalid                     // the request is malformed or breaks a rule; fix it
	NotFound                    // the object does not exist
	Conflict                    // the object exists, or changed since it was read
	Unavailable                 // try again later (no leader, leadership changed)
	TooLarge                    // the request body is over the limit
	Unauthenticated             // no credentials the cluster accepts
	Forbidden                   // credentials are fine, the action is not allowed
	NotAllowed                  // the path exists, not with this method
	Upstream                    // another agent that had to answer failed
	NotImplemented              // outside what this API serves
)

// Error is an error of a known Kind, with the message the user reads.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// New returns an error of kind k with a formatted message.
func New(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Invalidf returns an Invalid error.
func Invalidf(format string, args ...any) error { return New(Invalid, format, args...) }

// Conflictf returns a Conflict error.
func Conflictf(format string, args ...any) error { return New(Conflict, format, args...) }

// Unavailablef returns an Unavailable error.
func Unavailablef(format string, args ...any) error { return New(Unavailable, format, args...) }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ReadState records, for one request, whether a read it made came from a
// replica that no leader confirmed.
type ReadState struct{ stale atomic.Bool }

type readStateKey struct{}

// TrackReads returns a context that carries a fresh ReadState.
func TrackReads(ctx context.Context) (context.Context, *ReadState) {
	rs := &ReadState{}
	return context.WithValue(ctx, readStateKey{}, rs), rs
}

// MarkStale notes in ctx's request that it read an unconfirmed replica; a
// context without a ReadState is left alone.
func MarkStale(ctx context.Context) {
	if rs, ok := ctx.Value(readStateKey{}).(*ReadState); ok {
		rs.stale.Store(true)
	}
}

// Stale reports whether a read of the request was unconfirmed.
func (rs *ReadState) Stale() bool { return rs != nil && rs.stale.Load() }

// KindOfStatus is the Kind of an HTTP status another agent answered with,
// for relaying its refusal with the same meaning.
func KindOfStatus(code int) Kind {
	switch code {
	case 400, 422:
		return Invalid
	case 401:
		return Unauthenticated
	case 403:
		return Forbidden
	case 404:
		return NotFound
	case 405:
		return NotAllowed
	case 409:
		return Conflict
	case 413:
		return TooLarge
	case 501:
		return NotImplemented
	case 502, 504:
		return Upstream
	case 503:
		return Unavailable
	}
	return Internal
}
