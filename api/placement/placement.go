package placement

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shoal-org/shoal/api/types"
)

// ErrInvalidPlacement is wrapped by every error about a malformed
// constraint, placement preference, strategy or platform list.
var ErrInvalidPlacement = errors.New("scheduler: invalid placement")

// SpecError reports one malformed placement expression. Its message names
// the expression and the fix, e.g.
// `constraint "node.labels.env=test": expected KEY==VALUE or KEY!=VALUE`.
type SpecError struct {
	Field  string // "constraint", "placement preference", ...
	Expr   string
	Reason string
}

func (e *SpecError) Error() string { return fmt.Sprintf("%s %q: %s", e.Field, e.Expr, e.Reason) }

// Unwrap returns ErrInvalidPlacement.
func (e *SpecError) Unwrap() error { return ErrInvalidPlacement }

// Constraint operators.
const (
	OpEq = "=="
	OpNe = "!="
)

// Keys understood by constraints and preferences.
const (
	KeyNodeID    = "node.id"
	KeyHostname  = "node.hostname"
	KeyRole      = "node.role"
	KeyOS        = "node.platform.os"
	KeyArch      = "node.platform.arch"
	KeyLabelPref = "node.labels."
)

// PlatformsKey is the TaskTemplate.Extra entry listing the image's
// platforms as comma-separated "os/arch" (or "os") values.
const PlatformsKey = "platforms"

// Constraint is one parsed placement constraint, Key Op Value. Keys are
// node.id, node.hostname, node.role, node.platform.os, node.platform.arch
// and node.labels.<name>. Values compare case-insensitively, as in swarm; a
// missing label compares as the empty string, so "node.labels.x!=y" holds on
// a node without the label. node.role is voter or nonvoter: shoal has no
// managers, so swarm's "manager" is read as voter and "worker" as nonvoter
// (voters are chosen automatically, so such a constraint follows them).
type Constraint struct{ Key, Op, Value string }

// String renders c as it would be written.
func (c Constraint) String() string { return c.Key + c.Op + c.Value }

// Match reports whether node n satisfies c.
func (c Constraint) Match(n *types.Node) bool {
	eq := strings.EqualFold(NodeValue(c.Key, n), c.Value)
	if c.Op == OpEq {
		return eq
	}
	return !eq
}

// ParseConstraints parses swarm-style constraint expressions such as
// "node.labels.zone==a" or "node.role!=manager". The error, a *SpecError,
// names the first bad expression and says what is expected.
func ParseConstraints(exprs []string) ([]Constraint, error) {
	out := make([]Constraint, 0, len(exprs))
	for _, e := range exprs {
		c, err := parseConstraint(e)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseConstraint(expr string) (Constraint, error) {
	const form = "expected KEY==VALUE or KEY!=VALUE"
	bad := func(reason string) error { return &SpecError{Field: "constraint", Expr: expr, Reason: reason} }
	eq, ne := strings.Index(expr, OpEq), strings.Index(expr, OpNe)
	var c Constraint
	var pos int
	switch {
	case eq >= 0 && (ne < 0 || eq < ne):
		c.Op, pos = OpEq, eq
	case ne >= 0:
		c.Op, pos = OpNe, ne
	default:
		return c, bad(form)
	}
	c.Value = strings.TrimSpace(expr[pos+2:])
	if c.Value == "" || strings.Contains(c.Value, OpEq) || strings.Contains(c.Value, OpNe) {
		return c, bad(form)
	}
	rawKey := strings.TrimSpace(expr[:pos])
	if rawKey == "" {
		return c, bad(form)
	}
	key, err := parseKey(rawKey)
	if err != nil {
		return c, bad(err.Error())
	}
	c.Key = key
	switch key {
	case KeyRole:
		switch strings.ToLower(c.Value) {
		case "voter", "manager":
			c.Value = string(types.RoleVoter)
		case "nonvoter", "worker":
			c.Value = string(types.RoleNonvoter)
		default:
			return c, bad("node.role is voter or nonvoter (swarm's manager and worker are accepted)")
		}
	case KeyArch:
		c.Value = normArch(c.Value)
	}
	return c, nil
}

// parseKey validates and normalises a constraint or preference key. Known
// keys are case-insensitive; label names keep their case.
func parseKey(key string) (string, error) {
	lower := strings.ToLower(key)
	switch {
	case key == "":
		return "", errors.New("missing key")
	case lower == KeyNodeID, lower == KeyHostname, lower == KeyRole, lower == KeyOS, lower == KeyArch:
		return lower, nil
	case strings.HasPrefix(lower, KeyLabelPref):
		name := key[len(KeyLabelPref):]
		if name == "" {
			return "", fmt.Errorf("missing label name after %q", KeyLabelPref)
		}
		return KeyLabelPref + name, nil
	case strings.HasPrefix(lower, "engine.labels."):
		return "", errors.New("engine labels are not supported; label the node and use node.labels.<name>")
	default:
		return "", fmt.Errorf("unknown key %q; use node.id, node.hostname, node.role, "+
			"node.platform.os, node.platform.arch or node.labels.<name>", key)
	}
}

// NodeValue is the value of key (already normalised by parseKey) on n.
func NodeValue(key string, n *types.Node) string {
	switch key {
	case KeyNodeID:
		return n.ID
	case KeyHostname:
		return n.Hostname
	case KeyRole:
		if n.Role == types.RoleVoter {
			return string(types.RoleVoter)
		}
		return string(types.RoleNonvoter)
	case KeyOS:
		return n.Platform.OS
	case KeyArch:
		return normArch(n.Platform.Architecture)
	}
	return n.Labels[strings.TrimPrefix(key, KeyLabelPref)]
}

// ParsePreferences parses placement preferences: label keys to spread
// over, written "node.labels.zone" or, as swarm's CLI writes them,
// "spread=node.labels.zone". Any constraint key is accepted. It returns the
// normalised keys.
func ParsePreferences(prefs []string) ([]string, error) {
	out := make([]string, 0, len(prefs))
	for _, p := range prefs {
		raw := strings.TrimSpace(p)
		if k, v, ok := strings.Cut(raw, "="); ok {
			if strings.TrimSpace(strings.ToLower(k)) != "spread" {
				return nil, &SpecError{Field: "placement preference", Expr: p,
					Reason: "expected spread=node.labels.<name>"}
			}
			raw = strings.TrimSpace(v)
		}
		key, err := parseKey(raw)
		if err != nil {
			return nil, &SpecError{Field: "placement preference", Expr: p, Reason: err.Error()}
		}
		out = append(out, key)
	}
	return out, nil
}

// ParsePlatforms parses a comma-separated list of "os/arch" or "os"
// platforms (the value of TaskTemplate.Extra[PlatformsKey]).
func ParsePlatforms(list string) ([]types.Platform, error) {
	var out []types.Platform
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		os, arch, _ := strings.Cut(item, "/")
		arch, _, _ = strings.Cut(arch, "/") // drop a variant such as arm/v7
		if os == "" || strings.ContainsAny(os+arch, " =") {
			return nil, &SpecError{Field: "platform", Expr: item, Reason: "expected OS/ARCH such as linux/amd64"}
		}
		out = append(out, types.Platform{OS: strings.ToLower(os), Architecture: normArch(arch)})
	}
	return out, nil
}

// PlatformOK reports whether node platform np is one of want. An empty list
// or an unreported node platform passes.
func PlatformOK(want []types.Platform, np types.Platform) bool {
	if len(want) == 0 || np.OS == "" {
		return true
	}
	arch := normArch(np.Architecture)
	for _, w := range want {
		if strings.EqualFold(w.OS, np.OS) && (w.Architecture == "" || w.Architecture == arch) {
			return true
		}
	}
	return false
}

// normArch maps the spellings of an architecture (uname, Debian, Go) to
// Go's name, so "x86_64" matches a node reporting "amd64".
func normArch(a string) string {
	switch a = strings.ToLower(strings.TrimSpace(a)); a {
	case "x86_64", "x86-64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "armhf", "armv7l", "armv7", "arm":
		return "arm"
	case "i386", "i686", "x86", "386":
		return "386"
	}
	return a
}
