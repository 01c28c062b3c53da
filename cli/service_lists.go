package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-org/shoal/api/placement"
	"github.com/shoal-org/shoal/api/types"
)

// lookupEnv resolves `--env KEY` (no value) from agentctl's environment, as
// docker does; a variable so tests need not touch the process environment.
var lookupEnv = os.LookupEnv

// parseEnv reads KEY=VALUE, or KEY alone taken from agentctl's environment.
func parseEnv(flag, s string) (string, error) {
	k, _, ok := strings.Cut(s, "=")
	if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t") {
		return "", flagErr(flag, s, "expected KEY=VALUE")
	}
	if ok {
		return s, nil
	}
	v, found := lookupEnv(k)
	if !found {
		return "", flagErr(flag, s, "not set in agentctl's environment; write %s=VALUE", k)
	}
	return k + "=" + v, nil
}

func envKey(e string) string {
	k, _, _ := strings.Cut(e, "=")
	return k
}

// setEnv adds entries to env, replacing any with the same key in place.
func setEnv(env []string, flag string, entries []string) ([]string, error) {
	out := slices.Clone(env)
	for _, raw := range entries {
		e, err := parseEnv(flag, raw)
		if err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(out, func(x string) bool { return envKey(x) == envKey(e) }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out, nil
}

// removeWhere drops the elements for which match is true for any key.
func removeWhere[T any](list []T, keys []string, match func(T, string) bool) []T {
	return slices.DeleteFunc(slices.Clone(list), func(x T) bool {
		return slices.ContainsFunc(keys, func(k string) bool { return match(x, k) })
	})
}

// checkConstraint validates one placement constraint as the scheduler
// will read it.
func checkConstraint(flag, c string) error {
	if _, err := placement.ParseConstraints([]string{c}); err != nil {
		var se *placement.SpecError
		if errors.As(err, &se) {
			return flagErr(flag, c, "%s", se.Reason)
		}
		return flagErr(flag, c, "%v", err)
	}
	return nil
}

func sameConstraint(a, b string) bool {
	return strings.ReplaceAll(a, " ", "") == strings.ReplaceAll(b, " ", "")
}

// addConstraints appends valid constraints not already present.
func addConstraints(list []string, flag string, add []string) ([]string, error) {
	out := slices.Clone(list)
	for _, c := range add {
		if err := checkConstraint(flag, c); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, func(x string) bool { return sameConstraint(x, c) }) {
			out = append(out, strings.TrimSpace(c))
		}
	}
	return out, nil
}

// normPrefs parses placement preferences ("spread=node.labels.zone") into
// the label keys the spec stores.
func normPrefs(flag string, prefs []string) ([]string, error) {
	var out []string
	for _, p := range prefs {
		keys, err := placement.ParsePreferences([]string{p})
		if err != nil {
			var se *placement.SpecError
			if errors.As(err, &se) {
				return nil, flagErr(flag, p, "%s", se.Reason)
			}
			return nil, flagErr(flag, p, "%v", err)
		}
		out = append(out, keys...)
	}
	return out, nil
}

// addUnique appends the items not already in list.
func addUnique(list []string, add []string) []string {
	out := slices.Clone(list)
	for _, a := range add {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// parseMount reads type=bind|volume,source=…,target=…[,readonly].
func parseMount(flag, s string) (types.Mount, error) {
	m := types.Mount{Type: "volume"}
	for _, field := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(strings.TrimSpace(field), "=")
		switch strings.ToLower(k) {
		case "type":
			if v != "bind" && v != "volume" && v != "tmpfs" {
				return m, flagErr(flag, s, "type %q: use type=bind, type=volume or type=tmpfs", v)
			}
			m.Type = v
		case "tmpfs-size":
			n, err := parseBytes(flag, v)
			if err != nil {
				return m, flagErr(flag, s, "tmpfs-size=%s: use a size such as 64M, 1G or a number of bytes", v)
			}
			m.TmpfsSize = n
		case "tmpfs-mode":
			mode, ok := octalMode(v, 0o7777)
			if !ok {
				return m, flagErr(flag, s, "tmpfs-mode=%s: use an octal file mode such as 1777 or 700", v)
			}
			m.TmpfsMode = mode
		case "source", "src":
			m.Source = v
		case "target", "destination", "dst":
			m.Target = v
		case "readonly", "ro":
			ro := true
			if hasValue {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return m, flagErr(flag, s, "readonly=%s: use readonly, readonly=true or readonly=false", v)
				}
				ro = b
			}
			m.ReadOnly = ro
		default:
			return m, flagErr(flag, s, "unknown option %q: use type, source, target, readonly, tmpfs-size and tmpfs-mode, e.g. type=bind,source=/data,target=/data", k)
		}
	}
	switch {
	case m.Target == "":
		return m, flagErr(flag, s, "target is missing: add target=/path/in/container")
	case m.Target[0] != '/':
		return m, flagErr(flag, s, "target %q must be an absolute path", m.Target)
	case m.Type == "bind" && (m.Source == "" || m.Source[0] != '/'):
		return m, flagErr(flag, s, "a bind mount needs an absolute source=/path on the node")
	case m.Type == "tmpfs" && m.Source != "":
		return m, flagErr(flag, s, "a tmpfs has no source: drop source=%s", m.Source)
	case m.Type != "tmpfs" && (m.TmpfsSize != 0 || m.TmpfsMode != 0):
		return m, flagErr(flag, s, "tmpfs-size and tmpfs-mode are for type=tmpfs only")
	}
	return m, nil
}

// addMounts adds mounts, replacing any with the same target.
func addMounts(list []types.Mount, flag string, add []string) ([]types.Mount, error) {
	out := slices.Clone(list)
	for _, s := range add {
		m, err := parseMount(flag, s)
		if err != nil {
			return nil, err
		}
		out = slices.DeleteFunc(out, func(x types.Mount) bool { return x.Target == m.Target })
		out = append(out, m)
	}
	return out, nil
}

// portFields is a port as written, before validation; empty fields were
// left out.
type portFields struct {
	pub, target, proto string
}

// splitPort reads the short form PUBLISHED:TARGET[/PROTO] (a single number
// lands in target) or the long form
// published=8080,target=80[,protocol=udp][,mode=ingress].
func splitPort(flag, s string) (portFields, error) {
	var f portFields
	if !strings.Contains(s, "=") {
		ports, proto, _ := strings.Cut(s, "/")
		f.proto = proto
		if a, b, ok := strings.Cut(ports, ":"); ok {
			f.pub, f.target = a, b
		} else {
			f.target = ports
		}
		return f, nil
	}
	for _, field := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(field), "=")
		switch strings.ToLower(k) {
		case "published":
			f.pub = v
		case "target":
			f.target = v
		case "protocol":
			f.proto = v
		case "mode":
			if v == "host" {
				return f, flagErr(flag, s, "mode=host is not supported: shoal publishes every port on every node (mode=ingress); drop mode=host")
			}
			if v != "ingress" {
				return f, flagErr(flag, s, "mode %q: the only publish mode is ingress (every port on every node)", v)
			}
		default:
			return f, flagErr(flag, s, "unknown option %q: use published, target, protocol and mode, e.g. published=8080,target=80", k)
		}
	}
	if f.pub == "" && f.target == "" {
		return f, flagErr(flag, s, "give published= and target=, e.g. published=8080,target=80")
	}
	return f, nil
}

// protocol validates a protocol; empty means tcp.
func (f portFields) protocol(flag, s string) (string, error) {
	switch f.proto {
	case "":
		return "tcp", nil
	case "tcp", "udp":
		return f.proto, nil
	}
	return "", flagErr(flag, s, "protocol %q: use tcp or udp", f.proto)
}

// parsePort reads a port to publish: PUBLISHED:TARGET[/PROTO] or the long
// form published=8080,target=80[,protocol=udp][,mode=ingress].
func parsePort(flag, s string) (types.PortConfig, error) {
	var p types.PortConfig
	f, err := splitPort(flag, s)
	if err != nil {
		return p, err
	}
	if p.Protocol, err = f.protocol(flag, s); err != nil {
		return p, err
	}
	if f.target == "" {
		return p, flagErr(flag, s, "the target port is missing: add target=PORT, e.g. published=%s,target=%s", f.pub, f.pub)
	}
	if p.TargetPort, err = portNumber(flag, s, "target", f.target); err != nil {
		return p, err
	}
	if f.pub == "" {
		return p, flagErr(flag, s, "give the published port too, e.g. %s:%s", f.target, f.target)
	}
	p.PublishedPort, err = portNumber(flag, s, "published", f.pub)
	return p, err
}

// parsePortRef reads a port to unpublish, named by its published port:
// PUBLISHED[/PROTO], PUBLISHED:TARGET[/PROTO] or the long form. TargetPort
// is 0 when left out.
func parsePortRef(flag, s string) (types.PortConfig, error) {
	var p types.PortConfig
	f, err := splitPort(flag, s)
	if err != nil {
		return p, err
	}
	if !strings.Contains(s, "=") && f.pub == "" {
		f.pub, f.target = f.target, ""
	}
	if p.Protocol, err = f.protocol(flag, s); err != nil {
		return p, err
	}
	if f.pub == "" {
		return p, flagErr(flag, s, "name the published port: published=PORT")
	}
	if p.PublishedPort, err = portNumber(flag, s, "published", f.pub); err != nil {
		return p, err
	}
	if f.target != "" {
		p.TargetPort, err = portNumber(flag, s, "target", f.target)
	}
	return p, err
}

func portNumber(flag, s, which, v string) (uint16, error) {
	if strings.Contains(v, "-") {
		return 0, flagErr(flag, s, "port ranges are not supported: publish each port with its own flag")
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return 0, flagErr(flag, s, "%s port %q: use a number from 1 to 65535", which, v)
	}
	return uint16(n), nil
}

// addPorts publishes ports; a port published twice is an error.
func addPorts(list []types.PortConfig, flag string, add []string) ([]types.PortConfig, error) {
	out := slices.Clone(list)
	for _, s := range add {
		p, err := parsePort(flag, s)
		if err != nil {
			return nil, err
		}
		for _, q := range out {
			if q.PublishedPort == p.PublishedPort && q.Protocol == p.Protocol {
				if q == p {
					continue
				}
				if flag == "publish" {
					return nil, flagErr(flag, s, "port %d/%s is published twice (to %d and %d): publish it once", q.PublishedPort, q.Protocol, q.TargetPort, p.TargetPort)
				}
				return nil, flagErr(flag, s, "port %d/%s is already published (to %d): remove it first with --publish-rm %s", q.PublishedPort, q.Protocol, q.TargetPort, portRef(q))
			}
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// removePorts unpublishes ports named by their published port
// (PUBLISHED[/PROTO] or PUBLISHED:TARGET[/PROTO]). Unlike docker's
// --publish-rm, which matches the target port, a bare number is the
// published port: the one number that is unique per service. A reference
// that only matches with another protocol or target, or that names a
// target port, is an error that names the right flag; one that matches
// nothing at all is not (removing is idempotent), and is returned in
// unmatched for a warning.
func removePorts(list []types.PortConfig, flag string, rm []string) (out []types.PortConfig, unmatched []string, err error) {
	out = slices.Clone(list)
	for _, s := range rm {
		r, err := parsePortRef(flag, s)
		if err != nil {
			return nil, nil, err
		}
		n := len(out)
		out = slices.DeleteFunc(out, func(p types.PortConfig) bool {
			return p.PublishedPort == r.PublishedPort && p.Protocol == r.Protocol && (r.TargetPort == 0 || r.TargetPort == p.TargetPort)
		})
		if len(out) < n {
			continue
		}
		if err := nearMiss(out, flag, s, r); err != nil {
			return nil, nil, err
		}
		unmatched = append(unmatched, s)
	}
	return out, unmatched, nil
}

// nearMiss explains a --publish-rm reference r that matched no port but
// is close to one the service publishes: same port and protocol with
// another target, same port with another protocol, or r's port is a
// target port (docker's meaning of a bare number).
func nearMiss(ports []types.PortConfig, flag, s string, r types.PortConfig) error {
	find := func(match func(types.PortConfig) bool) (types.PortConfig, bool) {
		i := slices.IndexFunc(ports, match)
		if i < 0 {
			return types.PortConfig{}, false
		}
		return ports[i], true
	}
	if p, ok := find(func(p types.PortConfig) bool { return p.PublishedPort == r.PublishedPort && p.Protocol == r.Protocol }); ok {
		return flagErr(flag, s, "port %d/%s is published to %d, not %d: use --%s %s", p.PublishedPort, p.Protocol, p.TargetPort, r.TargetPort, flag, portRef(p))
	}
	if p, ok := find(func(p types.PortConfig) bool { return p.PublishedPort == r.PublishedPort }); ok {
		return flagErr(flag, s, "port %d is published for %s, not %s: use --%s %s", p.PublishedPort, p.Protocol, r.Protocol, flag, portRef(p))
	}
	if p, ok := find(func(p types.PortConfig) bool { return p.TargetPort == r.PublishedPort && p.Protocol == r.Protocol }); ok && r.TargetPort == 0 {
		return flagErr(flag, s, "no port is published on %d/%s (%s targets it): ports are removed by their published port, use --%s %s",
			r.PublishedPort, r.Protocol, formatPort(p), flag, portRef(p))
	}
	return nil
}

// portRef is how --publish-rm names p: PUBLISHED, or PUBLISHED/udp.
func portRef(p types.PortConfig) string {
	if p.Protocol == "tcp" {
		return strconv.Itoa(int(p.PublishedPort))
	}
	return fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)
}

// setLabels adds KEY=VALUE (or KEY, with an empty value) labels.
func setLabels(labels map[string]string, flag string, add []string) (map[string]string, error) {
	out := make(map[string]string, len(labels)+len(add))
	for k, v := range labels {
		out[k] = v
	}
	for _, s := range add {
		k, v, _ := strings.Cut(s, "=")
		if strings.TrimSpace(k) == "" {
			return nil, flagErr(flag, s, "expected KEY=VALUE")
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// checkNetworks rejects empty network names.
func checkNetworks(flag string, names []string) error {
	for _, n := range names {
		if strings.TrimSpace(n) == "" {
			return flagErr(flag, n, "give a network name")
		}
	}
	return nil
}

// formatPort renders a port as docker's PORTS column does.
func formatPort(p types.PortConfig) string {
	return fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, p.Protocol)
}

// octalMode reads an octal file mode of at most max.
func octalMode(v string, max uint64) (uint32, bool) {
	m, err := strconv.ParseUint(v, 8, 32)
	if err != nil || m > max {
		return 0, false
	}
	return uint32(m), true
}
