package lb

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Fake is an in-memory Dataplane for unit tests of callers. It validates a
// Config exactly as the kernel dataplanes do and renders the state it was
// given as text (see String). It is safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	svcs     map[string]Service
	applies  int
	closed   bool
	applyErr error
}

var _ Dataplane = (*Fake)(nil)

// NewFake returns an empty Fake.
func NewFake() *Fake { return &Fake{svcs: map[string]Service{}} }

// Name implements Dataplane; it returns "fake".
func (f *Fake) Name() string { return "fake" }

// SetApplyError makes every later Apply fail with err (nil restores
// success), leaving the state unchanged, as a kernel error would.
func (f *Fake) SetApplyError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyErr = err
}

// Apply implements Dataplane.
func (f *Fake) Apply(ctx context.Context, cfg Config) error {
	svcs, err := normalize(cfg)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	f.applies++
	if f.applyErr != nil {
		return f.applyErr
	}
	f.svcs = svcs
	return nil
}

// Close implements Dataplane: the state empties.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.svcs = map[string]Service{}
	return nil
}

// String renders the programmed services sorted by key, one line per
// service (its Frontend, see Frontend.String) and one per backend (sorted
// by address; the port is left out in all-port services):
//
//	service web/vip 10.96.0.2:*
//	  backend 10.1.0.5 weight=1
//	service web/published/8080/tcp 80/tcp published=8080
//	  backend 10.1.0.5:80 weight=1
func (f *Fake) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return render(f.svcs)
}

// Services returns the programmed services sorted by key, backends sorted
// by address.
func (f *Fake) Services() []Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Service, 0, len(f.svcs))
	for _, s := range f.svcs {
		s.Backends = slices.Clone(s.Backends)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Applies counts the Apply calls that passed validation.
func (f *Fake) Applies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applies
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}
