package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/store"
)

var kindStatus = map[fault.Kind]int{
	fault.Internal:        http.StatusInternalServerError,
	fault.Invalid:         http.StatusBadRequest,
	fault.NotFound:        http.StatusNotFound,
	fault.Conflict:        http.StatusConflict,
	fault.Unavailable:     http.StatusServiceUnavailable,
	fault.TooLarge:        http.StatusRequestEntityTooLarge,
	fault.Unauthenticated: http.StatusUnauthorized,
	fault.Forbidden:       http.StatusForbidden,
	fault.NotAllowed:      http.StatusMethodNotAllowed,
	fault.Upstream:        http.StatusBadGateway,
	fault.NotImplemented:  http.StatusNotImplemented,
}

// StatusOf is the HTTP status that answers err: its fault kind, else the
// store's sentinel it wraps, else 500.
func StatusOf(err error) int {
	if fe, ok := fault.As(err); ok {
		return kindStatus[fe.Kind]
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrNameTaken), errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrInUse):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrAmbiguous):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// unconfirmed turns a "not found" that an unconfirmed replica gave into a
// 503: the object may exist (a write the leader acknowledged moments ago
// may not have reached this replica), so a definite "not found" would be a
// wrong answer; the client should retry once a leader is reachable.
func unconfirmed(err error, rs *fault.ReadState) error {
	if _, ok := fault.As(err); ok || !rs.Stale() || !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return fault.Unavailablef("%s in this agent's replica, and no leader is reachable to confirm it: "+
		"retry once the cluster has a leader (agentctl info)", err.Error())
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *allowError
	if errors.As(err, &ae) {
		w.Header().Set("Allow", ae.allow)
	}
	_ = writeJSON(w, StatusOf(err), api.Error{Message: err.Error()})
}
