package worker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api/types"
)

// Healthcheck defaults (docker's), for fields of store.HealthConfig left
// zero by both the task and the image.
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 30 * time.Second
	DefaultHealthRetries  = 3
)

// errUnhealthy is the Err of a task failed by its healthcheck.
const errUnhealthy = "task: container unhealthy"

// effectiveHealth is the healthcheck a task's container runs: the task's
// over the image's, field by field as docker merges them (a task that sets
// only timings keeps the image's test), with defaults applied. It is nil
// when neither has one or the result's test is ["NONE"], and an error
// naming the fix when the test has no known form.
func effectiveHealth(task, image *types.HealthConfig) (*types.HealthConfig, error) {
	var h types.HealthConfig
	switch {
	case task == nil && image == nil:
		return nil, nil
	case task == nil:
		h = *image
	default:
		h = *task
		if image != nil {
			if len(h.Test) == 0 {
				h.Test = image.Test
			}
			h.Interval = cmp.Or(h.Interval, image.Interval)
			h.Timeout = cmp.Or(h.Timeout, image.Timeout)
			h.Retries = cmp.Or(h.Retries, image.Retries)
			h.StartPeriod = cmp.Or(h.StartPeriod, image.StartPeriod)
		}
	}
	if len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil, nil
	}
	if _, err := probeCommand(h.Test); err != nil {
		return nil, err
	}
	h.Test = slices.Clone(h.Test)
	if h.Interval <= 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.Retries <= 0 {
		h.Retries = DefaultHealthRetries
	}
	h.StartPeriod = max(h.StartPeriod, 0)
	return &h, nil
}

// probeCommand is the argv a healthcheck test runs: ["CMD", prog, args...]
// runs prog, ["CMD-SHELL", command...] runs /bin/sh -c with the command
// (its words joined by spaces, as docker does).
func probeCommand(test []string) ([]string, error) {
	switch {
	case len(test) >= 2 && test[0] == "CMD":
		return slices.Clone(test[1:]), nil
	case len(test) >= 2 && test[0] == "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(test[1:], " ")}, nil
	}
	return nil, fmt.Errorf(`task: healthcheck test %q: want ["CMD", program, args...], ["CMD-SHELL", command] or ["NONE"]`, test)
}

// healthLabel encodes h for LabelHealthcheck.
func healthLabel(h *types.HealthConfig) string {
	b, err := json.Marshal(h)
	if err != nil {
		panic(fmt.Sprintf("encode healthcheck: %v", err)) // a struct of strings and numbers
	}
	return string(b)
}

// parseHealthLabel decodes LabelHealthcheck; "" is no healthcheck.
func parseHealthLabel(v string) (*types.HealthConfig, error) {
	if v == "" {
		return nil, nil
	}
	var h types.HealthConfig
	if err := json.Unmarshal([]byte(v), &h); err != nil {
		return nil, fmt.Errorf("container label %s: %w", LabelHealthcheck, err)
	}
	return effectiveHealth(&h, nil)
}

// healthChange is what one probe result changed.
type healthChange int

const (
	healthSame healthChange = iota
	healthBecameHealthy
	healthBecameUnhealthy
)

// healthTracker counts probe results under docker's rules: a success
// makes the container healthy and resets the failure streak; a failure
// while the container has not yet been healthy and is within StartPeriod
// of since does not count; Retries failures in a row make it unhealthy.
// It is pure: time arrives with each result.
type healthTracker struct {
	cfg      types.HealthConfig
	since    time.Time // start of the start period
	healthy  bool
	failures int
}

// observe records one probe result taken at time at.
func (h *healthTracker) observe(ok bool, at time.Time) healthChange {
	if ok {
		h.failures = 0
		if h.healthy {
			return healthSame
		}
		h.healthy = true
		return healthBecameHealthy
	}
	if !h.healthy && at.Sub(h.since) < h.cfg.StartPeriod {
		return healthSame
	}
	h.failures++
	if h.failures < h.cfg.Retries {
		return healthSame
	}
	h.healthy = false
	return healthBecameUnhealthy
}
