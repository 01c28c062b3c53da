package spec

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/shoal-org/shoal/api/placement"
	"github.com/shoal-org/shoal/api/types"
)

// serviceName is swarmkit's rule: letters and digits, '-' and '_' only
// between them. No dots: web.NETWORK and tasks.web are DNS names the
// resolver answers, and a dotted service name could shadow them.
var serviceName = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[a-zA-Z0-9]+)*$`)

// volumeName is docker's rule for named volumes.
var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// reservedNames would shadow names the resolver answers (tasks.NAME).
var reservedNames = map[string]string{"tasks": "tasks.NAME lists a service's tasks in DNS"}

// MinMemoryLimit is Docker's minimum memory limit: below it runc fails
// every task.
const MinMemoryLimit = 6 << 20

// maxNanoCPUs bounds a CPU limit or reservation at 4096 CPUs: more is a typo.
const maxNanoCPUs = 4096 * 1e9

// ValidateService checks every field of s on its own (limits aside: see
// CheckLimits). s should have had Defaults applied. The first problem
// found is returned as an *Error naming the service, the field, the value
// and the fix. It does not modify s.
func ValidateService(s *types.ServiceSpec) error {
	if err := ValidateServiceName(s.Name); err != nil {
		return err
	}
	subject := fmt.Sprintf("service %q", s.Name)
	for _, check := range []func(*types.ServiceSpec) error{
		checkImage, checkMode, checkTask, checkMounts, checkResources,
		checkPlacement, checkUpdates, checkEndpoint, checkFiles,
	} {
		if err := check(s); err != nil {
			return about(err, subject)
		}
	}
	return nil
}

// ValidateServiceName checks a service name: a DNS label of swarm's
// characters that shadows no name the resolver answers.
func ValidateServiceName(name string) error {
	switch {
	case len(name) > MaxNameLen:
		return invalid("name", name, fmt.Sprintf("is %d characters long", len(name)), fmt.Sprintf("use at most %d (one DNS label)", MaxNameLen))
	case !serviceName.MatchString(name):
		return invalid("name", name, "is not a valid service name", "use letters, digits, '-' and '_', starting and ending with a letter or digit (a DNS label)")
	}
	if why, ok := reservedNames[strings.ToLower(name)]; ok {
		return invalid("name", name, "is reserved ("+why+")", "pick another name")
	}
	return nil
}

// ValidateImage parses ref with the distribution reference grammar, as the
// nodes will when they pull it.
func ValidateImage(ref string) error {
	if strings.TrimSpace(ref) == "" {
		return invalid("image", ref, "is empty", "give an image reference such as registry:5000/web:v1")
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return invalid("image", ref, "is not a valid image reference ("+err.Error()+")",
			"use [REGISTRY/]NAME[:TAG][@sha256:DIGEST] in lower case, such as registry:5000/web:v1")
	}
	return nil
}

func checkImage(s *types.ServiceSpec) error { return ValidateImage(s.Task.Image) }

func checkMode(s *types.ServiceSpec) error {
	if s.Mode.Global && s.Mode.Replicas != 0 {
		return invalid("replicas", fmt.Sprint(s.Mode.Replicas), "is set on a global service", "drop --replicas: a global service runs one task per eligible node")
	}
	if s.Task.Placement.MaxReplicas > 0 && s.Mode.Global {
		return invalid("replicas-max-per-node", fmt.Sprint(s.Task.Placement.MaxReplicas), "is set on a global service", "drop it: a global service already runs one task per node")
	}
	return nil
}

func checkTask(s *types.ServiceSpec) error {
	t := s.Task
	switch t.RestartPolicy.Condition {
	case "none", "on-failure", "any":
	default:
		return invalid("restart-condition", t.RestartPolicy.Condition, "is not a restart condition", "use none, on-failure or any")
	}
	durs := []struct {
		field string
		d     time.Duration
	}{{"restart-delay", t.RestartPolicy.Delay}, {"restart-window", t.RestartPolicy.Window}, {"stop-grace-period", t.StopGracePeriod}}
	if h := t.Healthcheck; h != nil {
		durs = append(durs, []struct {
			field string
			d     time.Duration
		}{{"health-interval", h.Interval}, {"health-timeout", h.Timeout}, {"health-start-period", h.StartPeriod}}...)
		if h.Retries < 0 {
			return invalid("health-retries", fmt.Sprint(h.Retries), "is negative", "use 0 or more")
		}
	}
	for _, d := range durs {
		if err := nonNegative(d.field, d.d); err != nil {
			return err
		}
	}
	for net, aliases := range t.Aliases {
		if !slices.Contains(t.Networks, net) {
			return invalid("network alias", net, "names a network the service does not join", "add the network (--network "+net+") or drop its aliases")
		}
		for _, a := range aliases {
			if err := ValidateServiceName(a); err != nil {
				return invalid("network alias", a, "is not a valid name", "use letters, digits, '-' and '_', starting and ending with a letter or digit (a DNS label)")
			}
		}
	}
	if t.Dir != "" && !strings.HasPrefix(t.Dir, "/") {
		return invalid("workdir", t.Dir, "is not an absolute path", "use an absolute path such as /app")
	}
	for _, e := range t.Env {
		if name, _, _ := strings.Cut(e, "="); name == "" || strings.ContainsRune(e, 0) {
			return invalid("env", truncate(e), "is not NAME=VALUE", "give a variable name before '=' (and no NUL byte)")
		}
	}
	return checkNames(s)
}

func nonNegative(field string, d time.Duration) error {
	if d < 0 {
		return invalid(field, d.String(), "is negative", "use a duration of 0 or more, such as 5s")
	}
	return nil
}

func checkMounts(s *types.ServiceSpec) error {
	for _, m := range s.Task.Mounts {
		if err := cleanAbs("mount target", m.Target); err != nil {
			return err
		}
		if m.Type != "tmpfs" && (m.TmpfsSize != 0 || m.TmpfsMode != 0) {
			return invalid("mount "+m.Target, m.Type, "has tmpfs options but is not a tmpfs", "drop tmpfs-size and tmpfs-mode, or use type=tmpfs")
		}
		switch m.Type {
		case "bind":
			if err := cleanAbs("mount source", m.Source); err != nil {
				return err
			}
		case "volume":
			if m.Source != "" && !volumeName.MatchString(m.Source) {
				return invalid("mount source", m.Source, "is not a volume name",
					"use at least 2 of letters, digits, '_', '.', '-', starting with a letter or digit (or type=bind with an absolute path)")
			}
		case "tmpfs":
			if m.Source != "" {
				return invalid("mount source", m.Source, "is set on a tmpfs mount", "drop source=: a tmpfs is the task's own, in memory")
			}
			if m.TmpfsSize < 0 {
				return invalid("tmpfs size", strconv.FormatInt(m.TmpfsSize, 10), "is negative", "use a size such as 64m, or leave it out for the kernel's default")
			}
			if m.TmpfsMode > 0o7777 {
				return invalid("tmpfs mode", strconv.FormatUint(uint64(m.TmpfsMode), 8), "is not a file mode", "use an octal mode of at most 7777, such as 1777")
			}
		default:
			return invalid("mount type", m.Type, "is not a mount type", "use bind, volume or tmpfs")
		}
	}
	return nil
}

// cleanAbs refuses a path that is not absolute or has a ".." component.
func cleanAbs(field, p string) error {
	if !strings.HasPrefix(p, "/") {
		return invalid(field, p, "is not an absolute path", "use an absolute path such as /data")
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return invalid(field, p, "has a '..' component", "name the directory itself, without '..'")
		}
	}
	return nil
}

func checkResources(s *types.ServiceSpec) error {
	l, r := s.Task.Limits, s.Task.Reservations
	for _, c := range []struct {
		field string
		v     int64
	}{{"limit-cpu", l.NanoCPUs}, {"reserve-cpu", r.NanoCPUs}} {
		if c.v < 0 || c.v > maxNanoCPUs {
			return invalid(c.field, fmt.Sprint(float64(c.v)/1e9), "is out of range", "use a number of CPUs above 0 and at most 4096, such as 0.5")
		}
	}
	if l.MemoryBytes < 0 || r.MemoryBytes < 0 {
		return invalid("memory", fmt.Sprint(min(l.MemoryBytes, r.MemoryBytes)), "is negative", "use a size such as 64M")
	}
	if l.MemoryBytes > 0 && l.MemoryBytes < MinMemoryLimit {
		return invalid("limit-memory", fmt.Sprint(l.MemoryBytes), "is below the minimum of 6 MiB", "use at least 6M (Docker's minimum; runc fails below it)")
	}
	if l.NanoCPUs > 0 && r.NanoCPUs > l.NanoCPUs {
		return invalid("reserve-cpu", fmt.Sprint(float64(r.NanoCPUs)/1e9), fmt.Sprintf("is more than limit-cpu %g", float64(l.NanoCPUs)/1e9), "reserve at most the limit")
	}
	if l.MemoryBytes > 0 && r.MemoryBytes > l.MemoryBytes {
		return invalid("reserve-memory", fmt.Sprint(r.MemoryBytes), fmt.Sprintf("is more than limit-memory %d", l.MemoryBytes), "reserve at most the limit")
	}
	return nil
}

func checkPlacement(s *types.ServiceSpec) error {
	p := s.Task.Placement
	if _, err := placement.ParseConstraints(p.Constraints); err != nil {
		return invalid("constraint", strings.Join(p.Constraints, ","), "does not parse ("+err.Error()+")", "use a form like node.labels.env==prod")
	}
	if _, err := placement.ParsePreferences(p.Preferences); err != nil {
		return invalid("placement-pref", strings.Join(p.Preferences, ","), "does not parse ("+err.Error()+")", "use a form like spread=node.labels.zone")
	}
	if p.Strategy != "" && p.Strategy != "spread" && p.Strategy != "binpack" {
		return invalid("placement strategy", p.Strategy, "is not a strategy", "use spread or binpack")
	}
	return nil
}

func checkUpdates(s *types.ServiceSpec) error {
	for _, u := range []struct {
		name    string
		cfg     types.UpdateConfig
		actions []string
	}{{"update", s.Update, []string{"pause", "continue", "rollback"}}, {"rollback", s.Rollback, []string{"pause", "continue"}}} {
		if !contains(u.actions, u.cfg.FailureAction) {
			return invalid(u.name+"-failure-action", u.cfg.FailureAction, "is not a failure action", "use "+strings.Join(u.actions, ", "))
		}
		if u.cfg.Order != "stop-first" && u.cfg.Order != "start-first" {
			return invalid(u.name+"-order", u.cfg.Order, "is not an order", "use stop-first or start-first")
		}
		if r := u.cfg.MaxFailureRatio; math.IsNaN(r) || r < 0 || r > 1 {
			return invalid(u.name+"-max-failure-ratio", fmt.Sprint(r), "is not a ratio", "use a number between 0 and 1")
		}
		if err := nonNegative(u.name+"-delay", u.cfg.Delay); err != nil {
			return err
		}
		if err := nonNegative(u.name+"-monitor", u.cfg.Monitor); err != nil {
			return err
		}
	}
	return nil
}

func checkEndpoint(s *types.ServiceSpec) error {
	if m := s.Endpoint.Mode; m != "vip" && m != "dnsrr" {
		return invalid("endpoint-mode", m, "is not an endpoint mode", "use vip or dnsrr")
	}
	seen := map[string]bool{}
	for _, p := range s.Endpoint.Ports {
		key := fmt.Sprintf("%d:%d/%s", p.PublishedPort, p.TargetPort, p.Protocol)
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return invalid("publish", key, "has an unknown protocol", "use tcp or udp")
		}
		if p.PublishedPort == 0 || p.TargetPort == 0 {
			return invalid("publish", key, "has a port out of range", "use ports between 1 and 65535, such as --publish 8080:80")
		}
		pub := fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)
		if seen[pub] {
			return invalid("publish", pub, "is published twice", "publish each port once")
		}
		seen[pub] = true
	}
	if len(s.Endpoint.Ports) > 0 && s.Endpoint.Mode == "dnsrr" {
		return invalid("endpoint-mode", "dnsrr", "cannot publish ports (there is no VIP to balance them)", "use --endpoint-mode vip, or publish no port")
	}
	return nil
}

// truncate keeps an error message short when the value is huge.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func clampInt(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// VolumeName refuses a name that is not a volume name (docker's rule).
func VolumeName(name string) error {
	if !volumeName.MatchString(name) {
		return invalid("volume name", name, "is not a volume name",
			"use at least 2 of letters, digits, '_', '.', '-', starting with a letter or digit")
	}
	return nil
}
