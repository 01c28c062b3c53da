package stack

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	ctypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"

	"github.com/shoal-org/shoal/api/placement"
	"github.com/shoal-org/shoal/api/types"
)

// Docker's labels and names for the objects of a stack.
const (
	// LabelNamespace marks every object of a stack with the stack's name.
	LabelNamespace = "com.docker.stack.namespace"
	// LabelImage records the image a stack's service was deployed with.
	LabelImage = "com.docker.stack.image"
	// defaultNetwork is the network services join when they name none.
	defaultNetwork = "default"
)

// Network is an overlay network of a stack.
type Network struct {
	// Name is the cluster-wide name: STACK_KEY, or the name of an
	// external network.
	Name string
	// External networks must exist already; the stack neither creates
	// nor removes them.
	External bool
	Subnet   string
	Labels   map[string]string
}

// Stack is a compose project converted to shoal's objects.
type Stack struct {
	Name     string
	Networks []Network           // sorted by name
	Secrets  []File              // sorted by name
	Configs  []File              // sorted by name
	Services []types.ServiceSpec // sorted by name
}

// Scope is docker's name for object name of stack namespace.
func Scope(namespace, name string) string { return namespace + "_" + name }

// Convert turns a loaded project into the stack's networks and service
// specs, named and labelled as docker names them. Warnings list what was
// skipped, one line each; an error (wrapping ErrInvalid) names the
// service and key that cannot be deployed, and nothing is converted.
func Convert(p *ctypes.Project, namespace string) (Stack, []string, error) {
	st := Stack{Name: namespace}
	if err := CheckName(namespace); err != nil {
		return st, nil, err
	}
	c := &converter{ns: namespace, project: p}
	if err := c.refuseTopLevel(); err != nil {
		return st, nil, err
	}
	nets, err := c.networks()
	if err != nil {
		return st, nil, err
	}
	st.Networks = nets
	if err := c.fileObjects(&st); err != nil {
		return Stack{Name: namespace}, nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		spec, err := c.service(p.Services[name])
		if err != nil {
			return Stack{Name: namespace}, nil, err
		}
		st.Services = append(st.Services, spec)
	}
	return st, c.warnings, nil
}

// converter carries the warnings of one conversion.
type converter struct {
	ns       string
	project  *ctypes.Project
	warnings []string
	// secretNames and configNames map the file's keys to cluster-wide
	// names.
	secretNames, configNames map[string]string
}

func (c *converter) warnf(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// refuseTopLevel refuses the top-level objects shoal does not serve yet.
func (c *converter) refuseTopLevel() error {
	switch {
	case len(c.project.Jobs) > 0:
		return invalidf("jobs: %s: jobs are not served by shoal: run them as services", strings.Join(slices.Sorted(maps.Keys(c.project.Jobs)), ", "))
	}
	if len(c.project.Models) > 0 {
		c.warnf("models: ignored (not supported by a swarm)")
	}
	return nil
}

// networks converts the networks the services use; compose-go has
// already refused a service naming a network the file does not declare.
func (c *converter) networks() ([]Network, error) {
	used := map[string]bool{}
	for _, s := range c.project.Services {
		for k := range s.Networks {
			used[k] = true
		}
		if len(s.Networks) == 0 && s.NetworkMode == "" {
			used[defaultNetwork] = true
		}
	}
	var out []Network
	for _, key := range slices.Sorted(maps.Keys(used)) {
		n, err := c.network(key, c.project.Networks[key])
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Network) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (c *converter) network(key string, cfg ctypes.NetworkConfig) (Network, error) {
	field := "networks." + key
	if cfg.External {
		name := cfg.Name
		if name == "" {
			name = key
		}
		return Network{Name: name, External: true}, nil
	}
	if cfg.Driver != "" && cfg.Driver != "overlay" {
		return Network{}, invalidf("%s.driver: %q is not served by shoal: a stack's networks are overlays (use driver: overlay, or leave it out)", field, cfg.Driver)
	}
	n := Network{Name: Scope(c.ns, key), Labels: addNamespace(c.ns, cfg.Labels)}
	if err := checkNetworkName(field, n.Name); err != nil {
		return Network{}, err
	}
	switch len(cfg.Ipam.Config) {
	case 0:
	case 1:
		n.Subnet = cfg.Ipam.Config[0].Subnet
		if p := cfg.Ipam.Config[0]; p.Gateway != "" || p.IPRange != "" || len(p.AuxiliaryAddresses) > 0 {
			c.warnf("%s.ipam.config: only subnet is used (shoal chooses gateways and ranges)", field)
		}
	default:
		return Network{}, invalidf("%s.ipam.config: shoal gives a network one subnet: keep one entry", field)
	}
	if cfg.Ipam.Driver != "" && cfg.Ipam.Driver != "default" {
		c.warnf("%s.ipam.driver: %q ignored (shoal allocates addresses itself)", field, cfg.Ipam.Driver)
	}
	for _, k := range []struct {
		set  bool
		name string
	}{{len(cfg.DriverOpts) > 0, "driver_opts"}, {cfg.Internal, "internal"}, {cfg.Attachable, "attachable"},
		{cfg.EnableIPv6 != nil && *cfg.EnableIPv6, "enable_ipv6"}} {
		if k.set {
			c.warnf("%s.%s: not supported by shoal, ignored", field, k.name)
		}
	}
	return n, nil
}

// addNamespace returns labels plus the stack's namespace label.
func addNamespace(ns string, labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	out[LabelNamespace] = ns
	return out
}

// service converts one compose service into a service spec.
func (c *converter) service(s ctypes.ServiceConfig) (types.ServiceSpec, error) {
	field := "services." + s.Name
	c.warnKeys(s)
	if s.Image == "" {
		return types.ServiceSpec{}, invalidf("%s.image: missing: a swarm runs images and does not build them; push the image to a registry and name it here", field)
	}
	if _, err := reference.ParseNormalizedNamed(s.Image); err != nil {
		// As the leader (spec.ValidateImage) and the nodes will read it.
		return types.ServiceSpec{}, invalidf("%s.image: %q is not a valid image reference (%v): use [REGISTRY/]NAME[:TAG][@sha256:DIGEST] in lower case",
			field, s.Image, err)
	}
	name := Scope(c.ns, s.Name)
	if err := checkServiceName(field, name); err != nil {
		return types.ServiceSpec{}, err
	}
	spec := types.ServiceSpec{
		Name: name,
		Task: types.TaskTemplate{
			Image:      s.Image,
			Command:    nilIfEmpty(s.Entrypoint),
			Args:       nilIfEmpty(s.Command),
			Env:        environment(s.Environment),
			Dir:        s.WorkingDir,
			User:       s.User,
			StopSignal: s.StopSignal,
			Labels:     addNamespace(c.ns, s.Labels),
		},
		Mode: types.ServiceMode{Replicas: types.DefaultReplicas},
	}
	if s.StopGracePeriod != nil {
		spec.Task.StopGracePeriod = time.Duration(*s.StopGracePeriod)
	}
	var labels map[string]string
	if s.Deploy != nil {
		labels = s.Deploy.Labels
	}
	spec.Labels = addNamespace(c.ns, labels)
	spec.Labels[LabelImage] = s.Image
	spec.Task.Healthcheck = healthcheck(s.HealthCheck)
	steps := []func(*types.ServiceSpec, ctypes.ServiceConfig, string) error{
		c.deploy, c.restart, c.ports, c.serviceNetworks, c.mounts, c.serviceFiles, c.names, c.refuseServiceKeys,
	}
	for _, step := range steps {
		if err := step(&spec, s, field); err != nil {
			return types.ServiceSpec{}, err
		}
	}
	return spec, nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// environment renders variables as sorted KEY=VALUE; a variable with no
// value that the environment does not set either is left out.
func environment(env ctypes.MappingWithEquals) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if v := env[k]; v != nil {
			out = append(out, k+"="+*v)
		}
	}
	return out
}

func healthcheck(h *ctypes.HealthCheckConfig) *types.HealthConfig {
	if h == nil {
		return nil
	}
	if h.Disable {
		return &types.HealthConfig{Test: []string{"NONE"}}
	}
	out := &types.HealthConfig{Test: nilIfEmpty(h.Test)}
	dur := func(d *ctypes.Duration) time.Duration {
		if d == nil {
			return 0
		}
		return time.Duration(*d)
	}
	out.Interval, out.Timeout, out.StartPeriod = dur(h.Interval), dur(h.Timeout), dur(h.StartPeriod)
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out
}

// serviceNetworks attaches the service to its networks by their stack
// names; with none named it joins STACK_default.
func (c *converter) serviceNetworks(spec *types.ServiceSpec, s ctypes.ServiceConfig, field string) error {
	if s.NetworkMode != "" {
		return invalidf("%s.network_mode: %q is not served by shoal: tasks join overlay networks (use networks:)", field, s.NetworkMode)
	}
	keys := s.NetworksByPriority()
	if len(keys) == 0 {
		keys = []string{defaultNetwork}
	}
	for _, k := range keys {
		cfg := c.project.Networks[k]
		name := Scope(c.ns, k)
		if cfg.External {
			name = cmpOr(cfg.Name, k)
		}
		spec.Task.Networks = append(spec.Task.Networks, name)
		// As docker does, the service answers by its short name on every
		// network of its own, besides the aliases the file gives.
		aliases := []string{s.Name}
		if sn := s.Networks[k]; sn != nil {
			for _, a := range sn.Aliases {
				if !slices.Contains(aliases, a) {
					aliases = append(aliases, a)
				}
			}
		}
		if spec.Task.Aliases == nil {
			spec.Task.Aliases = map[string][]string{}
		}
		spec.Task.Aliases[name] = aliases
		if sn := s.Networks[k]; sn != nil {
			if sn.Ipv4Address != "" || sn.Ipv6Address != "" {
				c.warnf("%s.networks.%s: fixed addresses ignored (shoal's nodes assign task addresses)", field, k)
			}
		}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// mounts maps volumes: named volumes of the stack (STACK_KEY, created on
// the node that runs the task), external ones by name, and bind mounts.
func (c *converter) mounts(spec *types.ServiceSpec, s ctypes.ServiceConfig, field string) error {
	for i, v := range s.Volumes {
		f := fmt.Sprintf("%s.volumes[%d]", field, i)
		m := types.Mount{Type: v.Type, Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case ctypes.VolumeTypeBind:
			m.Source = v.Source
		case ctypes.VolumeTypeVolume:
			if v.Source == "" { // anonymous: the task's own, gone with it
				break
			}
			vc, ok := c.project.Volumes[v.Source]
			if !ok {
				return invalidf("%s: volume %q is not declared under the top-level volumes key", f, v.Source)
			}
			if vc.Driver != "" && vc.Driver != "local" {
				return invalidf("volumes.%s.driver: %q is not served by shoal: named volumes are local directories on the node that runs the task", v.Source, vc.Driver)
			}
			if len(vc.DriverOpts) > 0 {
				return invalidf("volumes.%s.driver_opts: not served by shoal: named volumes are plain local directories", v.Source)
			}
			m.Source = Scope(c.ns, v.Source)
			if vc.External {
				m.Source = cmpOr(vc.Name, v.Source)
			}
		case ctypes.VolumeTypeTmpfs:
			if v.Source != "" {
				return invalidf("%s: a tmpfs has no source (%q): drop it", f, v.Source)
			}
			if t := v.Tmpfs; t != nil {
				if t.Size < 0 {
					return invalidf("%s.tmpfs.size: %d is negative: use a size such as 64m", f, t.Size)
				}
				if t.Mode > 0o7777 {
					return invalidf("%s.tmpfs.mode: %o is not a file mode: use one such as 1777", f, t.Mode)
				}
				m.TmpfsSize, m.TmpfsMode = int64(t.Size), t.Mode
			}
		default:
			return invalidf("%s: volume type %q is not served by shoal: use a named volume, a bind mount or a tmpfs", f, v.Type)
		}
		spec.Task.Mounts = append(spec.Task.Mounts, m)
	}
	// The short tmpfs key: paths, each an empty tmpfs of the kernel's
	// default size.
	for i, target := range s.Tmpfs {
		if !strings.HasPrefix(target, "/") {
			return invalidf("%s.tmpfs[%d]: %q is not an absolute path", field, i, target)
		}
		spec.Task.Mounts = append(spec.Task.Mounts, types.Mount{Type: "tmpfs", Target: target})
	}
	return nil
}

// names maps hostname, extra_hosts and dns, dns_search and dns_opt (the
// leader checks their values, naming the spec field).
func (c *converter) names(spec *types.ServiceSpec, s ctypes.ServiceConfig, field string) error {
	spec.Task.Hostname = s.Hostname
	for _, host := range slices.Sorted(maps.Keys(s.ExtraHosts)) {
		for _, ip := range s.ExtraHosts[host] {
			if _, err := netip.ParseAddr(ip); err != nil {
				return invalidf("%s.extra_hosts: %s:%s: %q is not an IP address", field, host, ip, ip)
			}
			spec.Task.Hosts = append(spec.Task.Hosts, ip+" "+host)
		}
	}
	if len(s.DNS)+len(s.DNSSearch)+len(s.DNSOpts) > 0 {
		for i, ns := range s.DNS {
			if _, err := netip.ParseAddr(ns); err != nil {
				return invalidf("%s.dns[%d]: %q is not an IP address", field, i, ns)
			}
		}
		spec.Task.DNS = &types.DNSConfig{Nameservers: nilIfEmpty(s.DNS), Search: nilIfEmpty(s.DNSSearch), Options: nilIfEmpty(s.DNSOpts)}
	}
	return nil
}

// refuseServiceKeys refuses what cannot be skipped without changing what
// the service does.
func (c *converter) refuseServiceKeys(_ *types.ServiceSpec, s ctypes.ServiceConfig, field string) error {
	switch {
	case s.Tty:
		return invalidf("%s.tty: not served by shoal: tasks have no terminal", field)
	}
	return nil
}

// checkPlacement validates placement as the scheduler will read it.
func checkPlacement(field string, constraints []string, prefs []string) error {
	if _, err := placement.ParseConstraints(constraints); err != nil {
		return invalidf("%s.deploy.placement.constraints: %s", field, reason(err))
	}
	if _, err := placement.ParsePreferences(prefs); err != nil {
		return invalidf("%s.deploy.placement.preferences: %s", field, reason(err))
	}
	return nil
}

func reason(err error) string {
	var se *placement.SpecError
	if errors.As(err, &se) {
		return fmt.Sprintf("%q: %s", se.Expr, se.Reason)
	}
	return err.Error()
}
