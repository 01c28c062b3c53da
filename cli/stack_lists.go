package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/stack"
)

// stackRow is one line of `stack ls`; its field names are docker's JSON
// keys.
type stackRow struct {
	Name     string
	Services string
}

var stackTable = table[stackRow]{
	header: []string{"NAME", "SERVICES"},
	cells:  func(r stackRow) []string { return []string{r.Name, r.Services} },
	id:     func(r stackRow) string { return r.Name },
}

// StackLsCmd is `agentctl stack ls`.
type StackLsCmd struct {
	ListFlags
}

// Run lists the stacks: the namespaces of the services labelled
// com.docker.stack.namespace, whoever deployed them.
func (l *StackLsCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	svcs, err := cl.Services(context.Background())
	if err != nil {
		return err
	}
	var rows []stackRow
	for _, s := range stack.List(plainServices(svcs)) {
		rows = append(rows, stackRow{Name: s.Name, Services: strconv.Itoa(s.Services)})
	}
	return stackTable.print(g.Out, l.ListFlags, rows)
}

// errNothingInStack is docker's answer for a stack with no services.
func errNothingInStack(name string) error { return fmt.Errorf("nothing found in stack: %s", name) }

// stackServices reads the services of stack name, with their task counts.
func stackServices(cl *api.Client, name string) ([]api.Service, error) {
	if err := stack.CheckName(name); err != nil {
		return nil, err
	}
	svcs, err := cl.Services(context.Background())
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(svcs, func(s api.Service) bool { return s.Spec.Labels[stack.LabelNamespace] != name }), nil
}

// StackServicesCmd is `agentctl stack services`.
type StackServicesCmd struct {
	ListFlags
	Filter []string `short:"f" sep:"none" placeholder:"KEY=VALUE" help:"name=PREFIX, id=PREFIX, label=KEY[=VALUE] or mode=replicated|global; repeatable."`
	Name   string   `arg:"" help:"Stack name."`
}

// Run lists the stack's services with `service ls`'s columns.
func (s *StackServicesCmd) Run(g *Globals) error {
	filter, err := parseServiceFilter(s.Filter)
	if err != nil {
		return err
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	svcs, err := stackServices(cl, s.Name)
	if err != nil {
		return err
	}
	if len(svcs) == 0 && len(s.Filter) == 0 {
		// docker says so on stderr and succeeds.
		fmt.Fprintln(stderr, "Nothing found in stack:", s.Name)
		return nil
	}
	svcs = slices.DeleteFunc(svcs, func(sv api.Service) bool { return !filter.match(sv) })
	warnServices(svcs)
	return serviceTable.print(g.Out, s.ListFlags, serviceRows(svcs))
}

// StackPsCmd is `agentctl stack ps`.
type StackPsCmd struct {
	ListFlags
	NoTrunc bool     `help:"Show full IDs, images and errors."`
	Filter  []string `short:"f" sep:"none" placeholder:"KEY=VALUE" help:"desired-state=running|shutdown|accepted, name=, node= or id=; repeatable."`
	Name    string   `arg:"" help:"Stack name."`
}

// Run lists the tasks of every service of the stack, with `service ps`'s
// columns.
func (p *StackPsCmd) Run(g *Globals) error {
	filter, err := parseTaskFilter(p.Filter)
	if err != nil {
		return err
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	svcs, err := stackServices(cl, p.Name)
	if err != nil {
		return err
	}
	if len(svcs) == 0 {
		return errNothingInStack(p.Name)
	}
	slices.SortFunc(svcs, func(a, b api.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	var rows []taskRow
	for _, svc := range svcs {
		tasks, err := cl.Tasks(context.Background(), svc.ID)
		if err != nil {
			return fmt.Errorf("tasks of service %q: %w", svc.Spec.Name, err)
		}
		rows = append(rows, taskRows(svc.Spec.Name, tasks, filter, nowFunc(), p.NoTrunc)...)
	}
	return taskTable.print(g.Out, p.ListFlags, rows)
}

// StackRmCmd is `agentctl stack rm`.
type StackRmCmd struct {
	Names []string `arg:"" name:"stack" help:"Stack names."`
}

// Run removes each stack's services, then the networks it created
// (external networks are not the stack's and stay). It goes on with the
// other objects and stacks after a failure and reports every failure.
func (r *StackRmCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range r.Names {
		errs = append(errs, removeStack(g, cl, name))
	}
	return errors.Join(errs...)
}

func removeStack(g *Globals, cl *api.Client, name string) error {
	ctx := context.Background()
	svcs, err := stackServices(cl, name)
	if err != nil {
		return err
	}
	nets, err := cl.Networks(ctx)
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	stackNets := stack.Networks(name, nets)
	secrets, configs, err := existingFiles(ctx, cl)
	if err != nil {
		return err
	}
	stackSecrets, stackConfigs := stack.StackFiles(name, secrets), stack.StackFiles(name, configs)
	if len(svcs) == 0 && len(stackNets) == 0 && len(stackSecrets) == 0 && len(stackConfigs) == 0 {
		fmt.Fprintln(stderr, "Nothing found in stack:", name)
		return nil
	}
	var errs []error
	for _, s := range stack.Services(name, plainServices(svcs)) {
		fmt.Fprintf(g.Out, "Removing service %s\n", s.Spec.Name)
		if err := cl.ServiceRemove(ctx, s.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove service %s: %w", s.Spec.Name, err))
		}
	}
	for _, s := range stackSecrets {
		fmt.Fprintf(g.Out, "Removing secret %s\n", s)
		if err := cl.SecretRemove(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("remove secret %s: %w", s, err))
		}
	}
	for _, c := range stackConfigs {
		fmt.Fprintf(g.Out, "Removing config %s\n", c)
		if err := cl.ConfigRemove(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("remove config %s: %w", c, err))
		}
	}
	for _, n := range stackNets {
		fmt.Fprintf(g.Out, "Removing network %s\n", n.Name)
		if err := cl.NetworkRemove(ctx, n.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}
