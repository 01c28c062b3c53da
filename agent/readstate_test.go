package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/shoal-org/shoal/store"
)

// A "not found" from a replica no leader confirmed is not a definite
// answer: it becomes a 503 that says so; every other error, and a "not
// found" from a confirmed read, stays as it was.
func TestUnconfirmedNotFound(t *testing.T) {
	notFound := fmt.Errorf("service %q: %w", "c2", store.ErrNotFound)
	for _, c := range []struct {
		name  string
		stale bool
		err   error
		code  int // 0: err unchanged
	}{
		{"confirmed not found", false, notFound, 0},
		{"stale not found", true, notFound, http.StatusServiceUnavailable},
		{"stale other error", true, store.ErrExists, 0},
		{"stale explicit 404", true, &httpError{code: http.StatusNotFound, msg: "no endpoint"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := &readState{}
			ctx := context.WithValue(context.Background(), readStateKey{}, rs)
			if c.stale {
				markStale(ctx)
			}
			got := unconfirmed(c.err, rs)
			var he *httpError
			switch {
			case c.code == 0 && got != c.err:
				t.Fatalf("unconfirmed(%v) = %v, want it unchanged", c.err, got)
			case c.code != 0 && (!errors.As(got, &he) || he.code != c.code):
				t.Fatalf("unconfirmed(%v) = %v, want HTTP %d", c.err, got, c.code)
			}
		})
	}
	markStale(context.Background()) // a context without a request's state: no effect, no panic
}
