package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// ServiceUpdateCmd is `agentctl service update`.
type ServiceUpdateCmd struct {
	Image            optValue `placeholder:"IMAGE" help:"New image, e.g. web:v2."`
	Args             optValue `placeholder:"ARGS" help:"The command's arguments, as one command line (\"\" clears them)."`
	EnvAdd           []string `sep:"none" placeholder:"K=V" help:"Add or change an environment variable; repeatable."`
	EnvRm            []string `sep:"none" placeholder:"KEY" help:"Remove an environment variable; repeatable."`
	ConstraintAdd    []string `sep:"none" placeholder:"EXPR" help:"Add a placement constraint; repeatable."`
	ConstraintRm     []string `sep:"none" placeholder:"EXPR" help:"Remove a placement constraint; repeatable."`
	PlacementPrefAdd []string `sep:"none" placeholder:"PREF" help:"Add a placement preference (spread=node.labels.K); repeatable."`
	PlacementPrefRm  []string `sep:"none" placeholder:"PREF" help:"Remove a placement preference; repeatable."`
	LabelAdd         []string `sep:"none" placeholder:"K=V" help:"Add or change a service label; repeatable."`
	LabelRm          []string `sep:"none" placeholder:"KEY" help:"Remove a service label; repeatable."`
	MountAdd         []string `sep:"none" placeholder:"MOUNT" help:"Add or replace (by target) a mount; repeatable."`
	MountRm          []string `sep:"none" placeholder:"TARGET" help:"Remove the mount at a target path; repeatable."`
	PublishAdd       []string `sep:"none" placeholder:"PORT" help:"Publish a port on every node: PUBLISHED:TARGET[/udp] or published=P,target=T[,protocol=udp]; repeatable."`
	PublishRm        []string `sep:"none" placeholder:"PORT" help:"Unpublish a port by its published port: PUBLISHED[/udp] or PUBLISHED:TARGET[/udp] (unlike docker, not by target port); repeatable."`
	NetworkAdd       []string `sep:"none" placeholder:"NAME" help:"Join a network; repeatable."`
	NetworkRm        []string `sep:"none" placeholder:"NAME" help:"Leave a network; repeatable."`
	fileUpdateFlags
	nameUpdateFlags
	Force    bool `help:"Replace every task even if nothing changed."`
	Rollback bool `help:"Go back to the previous spec (same as 'service rollback')."`
	specFlags
	Service string `arg:"" help:"Service name, ID or ID prefix."`
}

// Run changes the service's spec (only what the flags name), sends it with
// the version it was read at, and follows the rollout unless --detach. With
// no flags it re-sends the spec unchanged, which resumes a paused update.
func (u *ServiceUpdateCmd) Run(g *Globals, kctx *kong.Context) error {
	if u.Rollback {
		if u.hasChanges() {
			return errors.New("--rollback cannot be combined with other changes: roll back first, then update")
		}
		return rollbackService(g, u.Service, 0, u.Detach, u.Quiet)
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	svc, err := getService(cl, u.Service)
	if err != nil {
		return err
	}
	spec, err := u.apply(svc.Spec)
	if err != nil {
		return err
	}
	auth, err := u.registryAuth(spec.Task.Image)
	if err != nil {
		return err
	}
	req := api.ServiceUpdateRequest{Spec: spec, Version: svc.Version, Cause: updateCause(kctx.Args, u.Service), RegistryAuth: auth}
	resp, err := cl.ServiceUpdate(context.Background(), svc.ID, req)
	if err != nil {
		return fmt.Errorf("update service %q: %w", svc.Spec.Name, err)
	}
	fmt.Fprintln(g.Out, svc.Spec.Name)
	warn(resp.Warnings)
	if u.Detach {
		return nil
	}
	return followService(g, cl, svc.ID, watchSpec{Op: opUpdate, Baseline: svc.UpdateStatus}, u.Quiet)
}

// hasChanges reports whether any flag other than --rollback, --detach and
// --quiet was given.
func (u *ServiceUpdateCmd) hasChanges() bool {
	c := *u
	c.Rollback, c.Service, c.Detach, c.Quiet = false, "", false, false
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		if !isEmpty(v.Field(i)) {
			return true
		}
	}
	return false
}

// isEmpty treats nil and empty slices alike, and looks into structs.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice:
		return v.Len() == 0
	case reflect.Struct:
		for i := range v.NumField() {
			if !isEmpty(v.Field(i)) {
				return false
			}
		}
		return true
	default:
		return v.IsZero()
	}
}

// apply returns cur changed by the flags; cur itself is not modified.
func (u *ServiceUpdateCmd) apply(cur types.ServiceSpec) (types.ServiceSpec, error) {
	s := cur.Copy()
	if u.Image.Set {
		if strings.TrimSpace(u.Image.Value) == "" {
			return s, flagErr("image", u.Image.Value, "give an image, such as web:v2")
		}
		s.Task.Image = u.Image.Value
	}
	if u.Args.Set {
		words, err := splitWords("args", u.Args.Value)
		if err != nil {
			return s, err
		}
		s.Task.Args = words
	}
	if err := u.applyLists(&s); err != nil {
		return s, err
	}
	if err := u.nameUpdateFlags.apply(&s.Task); err != nil {
		return s, err
	}
	if err := u.fileUpdateFlags.apply(s.Name, &s.Task); err != nil {
		return s, err
	}
	if err := u.specFlags.apply(&s); err != nil {
		return s, err
	}
	if u.Force {
		s.Task.ForceUpdate++
	}
	return s, checkSpec(&s)
}

// applyLists applies the -add/-rm pairs; removals come first, so a flag
// pair can replace an entry.
func (u *ServiceUpdateCmd) applyLists(s *types.ServiceSpec) error {
	t := &s.Task
	var err error
	t.Env = removeWhere(t.Env, u.EnvRm, func(e, k string) bool { return envKey(e) == k })
	if t.Env, err = setEnv(t.Env, "env-add", u.EnvAdd); err != nil {
		return err
	}
	pl := &t.Placement
	if err := checkRemovals(s.Name, "constraint-rm", u.ConstraintRm, pl.Constraints, sameConstraint); err != nil {
		return err
	}
	if err := checkRemovals(s.Name, "label-rm", u.LabelRm, slices.Sorted(maps.Keys(s.Labels)), func(a, b string) bool { return a == b }); err != nil {
		return err
	}
	pl.Constraints = removeWhere(pl.Constraints, u.ConstraintRm, sameConstraint)
	if pl.Constraints, err = addConstraints(pl.Constraints, "constraint-add", u.ConstraintAdd); err != nil {
		return err
	}
	rmPrefs, err := normPrefs("placement-pref-rm", u.PlacementPrefRm)
	if err != nil {
		return err
	}
	pl.Preferences = removeWhere(pl.Preferences, rmPrefs, func(a, b string) bool { return a == b })
	addPrefs, err := normPrefs("placement-pref-add", u.PlacementPrefAdd)
	if err != nil {
		return err
	}
	pl.Preferences = addUnique(pl.Preferences, addPrefs)
	for _, k := range u.LabelRm {
		delete(s.Labels, k)
	}
	if s.Labels, err = setLabels(s.Labels, "label-add", u.LabelAdd); err != nil {
		return err
	}
	t.Mounts = removeWhere(t.Mounts, u.MountRm, func(m types.Mount, target string) bool { return m.Target == target })
	if t.Mounts, err = addMounts(t.Mounts, "mount-add", u.MountAdd); err != nil {
		return err
	}
	var unmatched []string
	if s.Endpoint.Ports, unmatched, err = removePorts(s.Endpoint.Ports, "publish-rm", u.PublishRm); err != nil {
		return err
	}
	for _, p := range unmatched {
		fmt.Fprintf(stderr, "Warning: --publish-rm %s: service %q publishes no such port\n", p, s.Name)
	}
	if s.Endpoint.Ports, err = addPorts(s.Endpoint.Ports, "publish-add", u.PublishAdd); err != nil {
		return err
	}
	if err := checkNetworks("network-add", u.NetworkAdd); err != nil {
		return err
	}
	for _, n := range u.NetworkRm {
		if !slices.Contains(t.Networks, n) {
			fmt.Fprintf(stderr, "Warning: --network-rm %s: service %q does not name network %q\n", n, s.Name, n)
		}
	}
	t.Networks = addUnique(removeWhere(t.Networks, u.NetworkRm, func(a, b string) bool { return a == b }), u.NetworkAdd)
	return nil
}

// checkRemovals refuses a removal (flag) of something the service does not
// have: a typo must not pass silently, and a refused update sends nothing.
func checkRemovals(svc, flag string, rm, have []string, same func(a, b string) bool) error {
	for _, k := range rm {
		if !slices.ContainsFunc(have, func(h string) bool { return same(h, k) }) {
			return fmt.Errorf("--%s %q: service %q has no such entry (it has %q): check the spelling with `agentctl service inspect %s`",
				flag, k, svc, have, svc)
		}
	}
	return nil
}

// updateCause is the command line from "update" on, without the service
// reference, kept in the revision history ("update --image web:v2").
func updateCause(args []string, ref string) string {
	i := slices.Index(args, "update")
	if i < 0 {
		return "update"
	}
	rest := slices.Clone(args[i:])
	for j := len(rest) - 1; j > 0; j-- {
		if rest[j] == ref {
			rest = slices.Delete(rest, j, j+1)
			break
		}
	}
	words := make([]string, len(rest))
	for k, a := range rest {
		words[k] = showValue(a)
	}
	return strings.Join(words, " ")
}

// ServiceScaleCmd is `agentctl service scale`.
type ServiceScaleCmd struct {
	Detach bool     `short:"d" help:"Return at once instead of showing progress."`
	Pairs  []string `arg:"" name:"service=replicas" help:"Services and their new replica counts, e.g. web=5 api=3."`
}

// scalePair is one SERVICE=REPLICAS argument.
type scalePair struct {
	Ref      string
	Replicas uint64
}

// parseScalePairs validates every argument before anything is changed.
func parseScalePairs(args []string) ([]scalePair, error) {
	var out []scalePair
	for _, a := range args {
		ref, n, ok := strings.Cut(a, "=")
		if !ok || ref == "" {
			return nil, fmt.Errorf("scale %s: expected SERVICE=REPLICAS, e.g. web=3", showValue(a))
		}
		if i, err := strconv.ParseInt(n, 10, 64); err == nil && i < 0 {
			return nil, fmt.Errorf("scale %s: replicas must be 0 or more", a)
		}
		r, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("scale %s: replicas must be a whole number, 0 or more", showValue(a))
		}
		if slices.ContainsFunc(out, func(p scalePair) bool { return p.Ref == ref }) {
			return nil, fmt.Errorf("scale %s: service %q is named twice", a, ref)
		}
		out = append(out, scalePair{Ref: ref, Replicas: r})
	}
	return out, nil
}

// checkScalable refuses to scale a global service.
func checkScalable(svc api.Service, p scalePair) error {
	if svc.Spec.Mode.Global {
		return fmt.Errorf("scale %s=%d: service %q is global (one task on every eligible node) and cannot be scaled; only replicated services can",
			p.Ref, p.Replicas, svc.Spec.Name)
	}
	return nil
}

// Run checks every pair and service, then scales each, then follows each.
func (s *ServiceScaleCmd) Run(g *Globals) error {
	pairs, err := parseScalePairs(s.Pairs)
	if err != nil {
		return err
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	svcs := make([]api.Service, len(pairs))
	for i, p := range pairs {
		if svcs[i], err = getService(cl, p.Ref); err != nil {
			return err
		}
		if err := checkScalable(svcs[i], p); err != nil {
			return err
		}
	}
	var errs []error
	var scaled []api.Service
	for i, p := range pairs {
		spec := svcs[i].Spec.Copy()
		spec.Mode.Replicas = p.Replicas
		req := api.ServiceUpdateRequest{Spec: spec, Version: svcs[i].Version, Cause: fmt.Sprintf("scale %s=%d", p.Ref, p.Replicas)}
		if _, err := cl.ServiceUpdate(context.Background(), svcs[i].ID, req); err != nil {
			errs = append(errs, fmt.Errorf("scale %s: %w", svcs[i].Spec.Name, err))
			continue
		}
		fmt.Fprintf(g.Out, "%s scaled to %d\n", svcs[i].Spec.Name, p.Replicas)
		scaled = append(scaled, svcs[i])
	}
	if !s.Detach {
		for _, svc := range scaled {
			if err := followService(g, cl, svc.ID, watchSpec{Op: opScale, Baseline: svc.UpdateStatus}, false); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", svc.Spec.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ServiceRollbackCmd is `agentctl service rollback`.
type ServiceRollbackCmd struct {
	ToRevision optValue `placeholder:"N" help:"Go back to this revision (see 'service history') instead of the previous spec."`
	Detach     bool     `short:"d" help:"Return at once instead of showing progress."`
	Quiet      bool     `short:"q" help:"Do not show progress."`
	Service    string   `arg:"" help:"Service name, ID or ID prefix."`
}

// Run rolls the service back and follows the rollback unless --detach.
func (r *ServiceRollbackCmd) Run(g *Globals) error {
	var rev uint64
	if r.ToRevision.Set {
		n, err := parseCount("to-revision", r.ToRevision.Value)
		if err != nil {
			return err
		}
		if n == 0 {
			return flagErr("to-revision", r.ToRevision.Value, "revisions start at 1; see 'agentctl service history %s'", r.Service)
		}
		rev = n
	}
	return rollbackService(g, r.Service, rev, r.Detach, r.Quiet)
}

func rollbackService(g *Globals, ref string, rev uint64, detach, quiet bool) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	svc, err := getService(cl, ref)
	if err != nil {
		return err
	}
	resp, err := cl.ServiceRollback(context.Background(), svc.ID, api.ServiceRollbackRequest{ToRevision: rev})
	if err != nil {
		return fmt.Errorf("roll back service %q: %w", svc.Spec.Name, err)
	}
	fmt.Fprintln(g.Out, svc.Spec.Name)
	warn(resp.Warnings)
	if detach {
		return nil
	}
	return followService(g, cl, svc.ID, watchSpec{Op: opRollback, Baseline: svc.UpdateStatus}, quiet)
}
