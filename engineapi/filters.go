package engineapi

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/shoal-org/shoal/internal/fault"
)

// filters is a request's ?filters=: key -> values. Docker clients send
// {"key":{"value":true}}; clients before API 1.22 sent {"key":["value"]}.
type filters map[string][]string

// parseFilters decodes raw and refuses a key outside accepted, as Docker
// does ("invalid filter 'x'").
func parseFilters(raw string, accepted ...string) (filters, error) {
	f := filters{}
	if raw == "" {
		return f, nil
	}
	var sets map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &sets); err != nil {
		var lists map[string][]string
		if err2 := json.Unmarshal([]byte(raw), &lists); err2 != nil {
			return nil, fault.Invalidf("filters %q: %v (send {\"name\":{\"web\":true}})", raw, err)
		}
		for k, vs := range lists {
			f[k] = vs
		}
	}
	for k, set := range sets {
		for v, on := range set {
			if on {
				f[k] = append(f[k], v)
			}
		}
		slices.Sort(f[k])
	}
	for k := range f {
		if !slices.Contains(accepted, k) {
			return nil, fault.Invalidf("invalid filter '%s' (this endpoint accepts %s)", k, strings.Join(accepted, ", "))
		}
	}
	return f, nil
}

// has reports whether key was given.
func (f filters) has(key string) bool { return len(f[key]) > 0 }

// any reports whether key was not given or fn holds for one of its values.
func (f filters) any(key string, fn func(v string) bool) bool {
	if !f.has(key) {
		return true
	}
	return slices.ContainsFunc(f[key], fn)
}

// prefix reports whether key was not given or s starts with one of its
// values (Docker's id and name filters match prefixes).
func (f filters) prefix(key, s string) bool {
	return f.any(key, func(v string) bool { return strings.HasPrefix(s, v) })
}

// labels reports whether m has every label the key asks for: "k" (the
// label is set) or "k=v".
func (f filters) labels(key string, m map[string]string) bool {
	for _, want := range f[key] {
		k, v, withValue := strings.Cut(want, "=")
		got, ok := m[k]
		if !ok || withValue && got != v {
			return false
		}
	}
	return true
}
