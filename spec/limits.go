package spec

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/shoal-org/shoal/api/types"
)

// MaxRequestBytes is the most the API reads of one request body (8 MiB):
// it bounds what one client can make an agent buffer before anything is
// parsed. It is not overridable: it applies before the cluster's
// configuration is known. The transport (agent/server.go) enforces it.
const MaxRequestBytes = 8 << 20

// MaxNameLen is the longest service name: one DNS label (RFC 1035).
const MaxNameLen = 63

// MaxNetworkNameLen is the longest network name; it is also a DNS label
// (web.NETWORK) and part of interface names, so it stays short.
const MaxNetworkNameLen = 32

// Limits are the front door's bounds on what a request may make the
// leader create or store. The zero value means nothing; use
// DefaultLimits or Effective.
type Limits struct {
	Replicas     int64 // tasks of one replicated service
	Tasks        int64 // desired tasks in the whole cluster
	Services     int64 // services in the cluster
	Networks     int64 // overlay networks in the cluster
	SpecBytes    int64 // one service spec, JSON-encoded
	EnvVarBytes  int64 // one environment variable (NAME=value)
	EnvBytes     int64 // all environment variables of a spec
	Labels       int64 // labels on one object (service, task template, node, network)
	LabelBytes   int64 // one label's key plus value
	CommandBytes int64 // command and arguments together
}

// Limit is one row of the limits table: its key (as in `agentctl cluster
// limits --set KEY=N`), its default and why it exists.
type Limit struct {
	Key     string
	Default int64
	Why     string
	field   func(*Limits) *int64
}

// Table lists every limit with its default and reason; README's "Limits"
// section mirrors it.
var Table = []Limit{
	{"replicas", 10_000, "one request must not make the leader create more tasks than raft and the nodes can hold (100,000,000 took a lab down)",
		func(l *Limits) *int64 { return &l.Replicas }},
	{"tasks", 100_000, "every task lives in every agent's replica and in each raft snapshot",
		func(l *Limits) *int64 { return &l.Tasks }},
	{"services", 5_000, "each service is a VIP on every node and a DNS name in every resolver",
		func(l *Limits) *int64 { return &l.Services }},
	{"networks", 500, "each network is a bridge and a VXLAN device on every node",
		func(l *Limits) *int64 { return &l.Networks }},
	{"spec-bytes", 512 << 10, "a spec is copied into every task and the last 10 revisions; raft entries must stay small",
		func(l *Limits) *int64 { return &l.SpecBytes }},
	{"env-var-bytes", 128 << 10, "Linux refuses a single argument or variable longer than MAX_ARG_STRLEN (128 KiB)",
		func(l *Limits) *int64 { return &l.EnvVarBytes }},
	{"env-bytes", 256 << 10, "the environment and arguments together must fit Linux's ARG_MAX; the spec stays small",
		func(l *Limits) *int64 { return &l.EnvBytes }},
	{"labels", 256, "labels are matched by constraints on every placement",
		func(l *Limits) *int64 { return &l.Labels }},
	{"label-bytes", 4 << 10, "a label is metadata, not a place for data",
		func(l *Limits) *int64 { return &l.LabelBytes }},
	{"command-bytes", 128 << 10, "a command line longer than MAX_ARG_STRLEN cannot be exec'd",
		func(l *Limits) *int64 { return &l.CommandBytes }},
}

// DefaultLimits returns the table's defaults.
func DefaultLimits() Limits {
	var l Limits
	for _, row := range Table {
		*row.field(&l) = row.Default
	}
	return l
}

// Effective returns the defaults with the cluster's overrides applied;
// unknown keys and non-positive values are ignored (CheckOverrides
// refuses them before they are stored).
func Effective(overrides map[string]int64) Limits {
	l := DefaultLimits()
	for _, row := range Table {
		if v, ok := overrides[row.Key]; ok && v > 0 {
			*row.field(&l) = v
		}
	}
	return l
}

// Get returns the limit named key.
func (l Limits) Get(key string) (int64, bool) {
	for _, row := range Table {
		if row.Key == key {
			return *row.field(&l), true
		}
	}
	return 0, false
}

// CheckOverrides validates overrides of the limits table: known keys,
// positive values.
func CheckOverrides(overrides map[string]int64) error {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := DefaultLimits().Get(k); !ok {
			return invalid("limit", k, "is not a limit", "use one of "+strings.Join(LimitKeys(), ", "))
		}
		if overrides[k] <= 0 {
			return invalid("limit "+k, fmt.Sprint(overrides[k]), "must be positive", "give a positive number, or leave it out for the default")
		}
	}
	return nil
}

// LimitKeys lists the keys of Table in order.
func LimitKeys() []string {
	keys := make([]string, 0, len(Table))
	for _, row := range Table {
		keys = append(keys, row.Key)
	}
	return keys
}

// overLimit is the error for a value above the limit key.
func overLimit(field string, value, limit int64, key string) *Error {
	return invalid(field, fmt.Sprint(value), fmt.Sprintf("exceeds the limit %d", limit),
		fmt.Sprintf("use at most %d, or raise the cluster's limit with `agentctl cluster limits --set %s=N`", limit, key))
}

// CheckLimits holds s to the per-service limits: its replica count and
// the sizes of its environment, command line, labels and encoding.
func CheckLimits(s *types.ServiceSpec, lim Limits) error {
	if s.Mode.Replicas > uint64(lim.Replicas) {
		return overLimit("replicas", clampInt(s.Mode.Replicas), lim.Replicas, "replicas")
	}
	var env int64
	for _, e := range s.Task.Env {
		name, _, _ := strings.Cut(e, "=")
		if n := int64(len(e)); n > lim.EnvVarBytes {
			return overLimit("env "+truncate(name)+" (bytes)", n, lim.EnvVarBytes, "env-var-bytes")
		}
		env += int64(len(e)) + 1
	}
	if env > lim.EnvBytes {
		return overLimit("env (bytes in all)", env, lim.EnvBytes, "env-bytes")
	}
	var cmd int64
	for _, a := range append(append([]string(nil), s.Task.Command...), s.Task.Args...) {
		cmd += int64(len(a)) + 1
	}
	if cmd > lim.CommandBytes {
		return overLimit("command and args (bytes)", cmd, lim.CommandBytes, "command-bytes")
	}
	if err := CheckLabels("label", s.Labels, lim); err != nil {
		return err
	}
	if err := CheckLabels("container-label", s.Task.Labels, lim); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return invalid("spec", s.Name, "cannot be encoded ("+err.Error()+")", "report this as a bug")
	}
	if n := int64(len(b)); n > lim.SpecBytes {
		return overLimit("spec (bytes, JSON-encoded)", n, lim.SpecBytes, "spec-bytes")
	}
	return nil
}

// CheckLabels holds one object's labels to the label limits.
func CheckLabels(field string, labels map[string]string, lim Limits) error {
	if n := int64(len(labels)); n > lim.Labels {
		return overLimit(field+" (count)", n, lim.Labels, "labels")
	}
	for k, v := range labels {
		if k == "" {
			return invalid(field, "="+truncate(v), "has an empty key", "use KEY=VALUE")
		}
		if n := int64(len(k) + len(v)); n > lim.LabelBytes {
			return overLimit(field+" "+truncate(k)+" (bytes)", n, lim.LabelBytes, "label-bytes")
		}
	}
	return nil
}
