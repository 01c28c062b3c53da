package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-org/shoal/scheduler"
	"github.com/shoal-org/shoal/store"
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
	if _, err := scheduler.ParseConstraints([]string{c}); err != nil {
		var se *scheduler.SpecError
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
		keys, err := scheduler.ParsePreferences([]string{p})
		if err != nil {
			var se *scheduler.SpecError
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
func parseMount(flag, s string) (store.Mount, error) {
	m := store.Mount{Type: "volume"}
	for _, field := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(strings.TrimSpace(field), "=")
		switch strings.ToLower(k) {
		case "type":
			if v != "bind" && v != "volume" {
				return m, flagErr(flag, s, "type %q: use type=bind or type=volume", v)
			}
			m.Type = v
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
			return m, flagErr(flag, s, "unknown option %q: use type, source, target and readonly, e.g. type=bind,source=/data,target=/data", k)
		}
	}
	switch {
	case m.Target == "":
		return m, flagErr(flag, s, "target is missing: add target=/path/in/container")
	case m.Target[0] != '/':
		return m, flagErr(flag, s, "target %q must be an absolute path", m.Target)
	case m.Type == "bind" && (m.Source == "" || m.Source[0] != '/'):
		return m, flagErr(flag, s, "a bind mount needs an absolute source=/path on the node")
	}
	return m, nil
}

// addMounts adds mounts, replacing any with the same target.
func addMounts(list []store.Mount, flag string, add []string) ([]store.Mount, error) {
	out := slices.Clone(list)
	for _, s := range add {
		m, err := parseMount(flag, s)
		if err != nil {
			return nil, err
		}
		out = slices.DeleteFunc(out, func(x store.Mount) bool { return x.Target == m.Target })
		out = append(out, m)
	}
	return out, nil
}

// parsePort reads PUBLISHED:TARGET[/PROTO] or the long form
// published=8080,target=80[,protocol=udp][,mode=ingress]. With pubOptional
// (for --publish-rm) the published port may be left out.
func parsePort(flag, s string, pubOptional bool) (store.PortConfig, error) {
	p := store.PortConfig{Protocol: "tcp"}
	var pub, target, proto string
	if strings.Contains(s, "=") {
		for _, field := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(field), "=")
			switch strings.ToLower(k) {
			case "published":
				pub = v
			case "target":
				target = v
			case "protocol":
				proto = v
			case "mode":
				if v != "ingress" {
					return p, flagErr(flag, s, "mode %q is not supported: shoal publishes every port on every node (mode=ingress)", v)
				}
			default:
				return p, flagErr(flag, s, "unknown option %q: use published, target, protocol and mode", k)
			}
		}
	} else {
		ports, pr, _ := strings.Cut(s, "/")
		proto = pr
		if a, b, ok := strings.Cut(ports, ":"); ok {
			pub, target = a, b
		} else {
			target = ports
		}
	}
	if proto != "" {
		if proto != "tcp" && proto != "udp" {
			return p, flagErr(flag, s, "protocol %q: use tcp or udp", proto)
		}
		p.Protocol = proto
	}
	var err error
	if p.TargetPort, err = portNumber(flag, s, "target", target); err != nil {
		return p, err
	}
	if pub == "" && pubOptional {
		return p, nil
	}
	if pub == "" {
		return p, flagErr(flag, s, "give the published port too, e.g. %s:%s", target, target)
	}
	p.PublishedPort, err = portNumber(flag, s, "published", pub)
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
func addPorts(list []store.PortConfig, flag string, add []string) ([]store.PortConfig, error) {
	out := slices.Clone(list)
	for _, s := range add {
		p, err := parsePort(flag, s, false)
		if err != nil {
			return nil, err
		}
		for _, q := range out {
			if q.PublishedPort == p.PublishedPort && q.Protocol == p.Protocol {
				if q == p {
					continue
				}
				return nil, flagErr(flag, s, "port %d/%s is already published (to %d): remove it first with --publish-rm %d:%d", q.PublishedPort, q.Protocol, q.TargetPort, q.PublishedPort, q.TargetPort)
			}
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// removePorts drops ports matching TARGET[/PROTO] or PUBLISHED:TARGET[/PROTO].
func removePorts(list []store.PortConfig, flag string, rm []string) ([]store.PortConfig, error) {
	out := slices.Clone(list)
	for _, s := range rm {
		r, err := parsePort(flag, s, true)
		if err != nil {
			return nil, err
		}
		out = slices.DeleteFunc(out, func(p store.PortConfig) bool {
			return p.TargetPort == r.TargetPort && p.Protocol == r.Protocol && (r.PublishedPort == 0 || r.PublishedPort == p.PublishedPort)
		})
	}
	return out, nil
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
func formatPort(p store.PortConfig) string {
	return fmt.Sprintf("*:%d->%d/%s", p.PublishedPort, p.TargetPort, p.Protocol)
}
