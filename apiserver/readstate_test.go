package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/shoal-org/shoal/internal/fault"
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
		{"stale explicit 404", true, &fault.Error{Kind: fault.NotFound, Msg: "no endpoint"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, rs := fault.TrackReads(context.Background())
			if c.stale {
				fault.MarkStale(ctx)
			}
			got := unconfirmed(c.err, rs)
			switch {
			case c.code == 0 && got != c.err:
				t.Fatalf("unconfirmed(%v) = %v, want it unchanged", c.err, got)
			case c.code != 0 && StatusOf(got) != c.code:
				t.Fatalf("unconfirmed(%v) = %v, want HTTP %d", c.err, got, c.code)
			}
		})
	}
	fault.MarkStale(context.Background()) // a context without a request's state: no effect, no panic
}
