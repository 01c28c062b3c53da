package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// stderr receives warnings and hints that must not mix with the output
// scripts read; a variable for tests.
var stderr io.Writer = os.Stderr

// randomSuffix returns the 4 random characters of a generated service name.
var randomSuffix = func() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// ServiceCreateCmd is `agentctl service create`.
type ServiceCreateCmd struct {
	Name          string   `placeholder:"NAME" help:"Service name (default: the image's name and 4 random characters)."`
	Mode          optValue `placeholder:"MODE" help:"replicated (default) or global (one task on every eligible node)."`
	Constraint    []string `sep:"none" placeholder:"EXPR" help:"Placement constraint such as node.labels.env==prod; repeatable."`
	PlacementPref []string `sep:"none" placeholder:"PREF" help:"Spread tasks over a node label: spread=node.labels.zone; repeatable."`
	Env           []string `short:"e" sep:"none" placeholder:"K=V" help:"Environment variable; repeatable."`
	Mount         []string `sep:"none" placeholder:"MOUNT" help:"type=bind|volume|tmpfs,source=SRC,target=/PATH[,readonly][,tmpfs-size=64M][,tmpfs-mode=1777]; repeatable."`
	Label         []string `short:"l" sep:"none" placeholder:"K=V" help:"Service label; repeatable."`
	Publish       []string `short:"p" sep:"none" placeholder:"PORT" help:"Publish a port on every node: PUBLISHED:TARGET[/udp] or published=P,target=T[,protocol=udp]; repeatable."`
	Network       []string `sep:"none" placeholder:"NAME" help:"Overlay network to join (see 'agentctl network ls'; default: the cluster's default network); repeatable."`
	fileFlags
	nameFlags
	specFlags
	Args []string `arg:"" name:"image" passthrough:"partial" help:"IMAGE [COMMAND [ARG...]]: the image, then the command's arguments (flags after IMAGE belong to the command)."`
}

// Run creates the service, prints its ID, and follows it until it
// converges unless --detach.
func (c *ServiceCreateCmd) Run(g *Globals) error {
	spec, err := c.spec()
	if err != nil {
		return err
	}
	auth, err := c.registryAuth(spec.Task.Image)
	if err != nil {
		return err
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	resp, err := cl.ServiceCreate(context.Background(), api.ServiceCreateRequest{Spec: spec, RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("create service %q: %w", spec.Name, err)
	}
	fmt.Fprintln(g.Out, resp.ID)
	warn(resp.Warnings)
	if c.Detach {
		return nil
	}
	return followService(g, cl, resp.ID, watchSpec{Op: opCreate}, c.Quiet)
}

// spec builds the service spec from the flags (the agent fills defaults); it
// sends nothing, so a bad flag leaves the cluster untouched.
func (c *ServiceCreateCmd) spec() (types.ServiceSpec, error) {
	s := newSpec()
	args := c.Args
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 || strings.TrimSpace(args[0]) == "" {
		return s, fmt.Errorf("an image is required: agentctl service create [OPTIONS] IMAGE [COMMAND [ARG...]]")
	}
	s.Task.Image = args[0]
	if len(args) > 1 {
		s.Task.Args = args[1:]
	}
	s.Name = c.Name
	if s.Name == "" {
		s.Name = defaultName(s.Task.Image, randomSuffix())
	}
	if c.Mode.Set {
		mode, err := parseChoice("mode", c.Mode.Value, "replicated", "global")
		if err != nil {
			return s, err
		}
		if mode == "global" {
			if c.Replicas.Set {
				return s, fmt.Errorf("--mode global cannot be combined with --replicas: a global service runs one task on every eligible node")
			}
			s.Mode = types.ServiceMode{Global: true}
		}
	}
	if err := c.applyLists(&s); err != nil {
		return s, err
	}
	if err := c.specFlags.apply(&s); err != nil {
		return s, err
	}
	return s, checkSpec(&s)
}

// applyLists applies the repeatable flags.
func (c *ServiceCreateCmd) applyLists(s *types.ServiceSpec) error {
	var err error
	t := &s.Task
	if t.Placement.Constraints, err = addConstraints(nil, "constraint", c.Constraint); err != nil {
		return err
	}
	if t.Placement.Preferences, err = normPrefs("placement-pref", c.PlacementPref); err != nil {
		return err
	}
	if t.Env, err = setEnv(nil, "env", c.Env); err != nil {
		return err
	}
	if t.Mounts, err = addMounts(nil, "mount", c.Mount); err != nil {
		return err
	}
	if s.Labels, err = setLabels(nil, "label", c.Label); err != nil {
		return err
	}
	if s.Endpoint.Ports, err = addPorts(nil, "publish", c.Publish); err != nil {
		return err
	}
	if err := checkNetworks("network", c.Network); err != nil {
		return err
	}
	t.Networks = addUnique(nil, c.Network)
	if err := c.nameFlags.apply(t); err != nil {
		return err
	}
	return c.fileFlags.apply(t)
}

// defaultName makes "<image name>-<suffix>" from an image reference such
// as registry:5000/team/web:v2@sha256:…, keeping to the service name rules.
func defaultName(image, suffix string) string {
	ref, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	ref, _, _ = strings.Cut(ref, ":")
	base := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '-'
	}, ref)
	base = strings.TrimLeft(base, "_-")
	if base == "" {
		base = "service"
	}
	if len(base) > 58 {
		base = base[:58]
	}
	return base + "-" + suffix
}

// warn prints the agent's warnings on stderr.
func warn(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(stderr, "Warning:", w)
	}
}
