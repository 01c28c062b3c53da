package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// nowFunc is the clock of the "… ago" columns; a variable for tests.
var nowFunc = time.Now

// ServiceCmd is `agentctl service`.
type ServiceCmd struct {
	Create   ServiceCreateCmd   `cmd:"" help:"Create a service."`
	Ls       ServiceLsCmd       `cmd:"" aliases:"list" help:"List services."`
	Ps       ServicePsCmd       `cmd:"" help:"List the tasks of services."`
	Inspect  ServiceInspectCmd  `cmd:"" help:"Show services in detail."`
	Update   ServiceUpdateCmd   `cmd:"" help:"Change a service; its tasks are replaced in batches."`
	Scale    ServiceScaleCmd    `cmd:"" help:"Change the replica counts of services."`
	Rollback ServiceRollbackCmd `cmd:"" help:"Go back to a service's previous spec, or to a revision."`
	History  ServiceHistoryCmd  `cmd:"" help:"List a service's revisions."`
	Rm       ServiceRmCmd       `cmd:"" aliases:"remove" help:"Remove services."`
	Logs     ServiceLogsCmd     `cmd:"" help:"Show the logs of a service or a task."`
}

// getService reads one service by name, ID or ID prefix.
func getService(cl *api.Client, ref string) (api.Service, error) {
	svc, err := cl.Service(context.Background(), ref)
	return svc, err
}

// serviceRow is one line of `service ls`; its field names are docker's
// JSON keys.
type serviceRow struct {
	ID       string
	Name     string
	Mode     string
	Replicas string
	Image    string
	Ports    string
}

var serviceTable = table[serviceRow]{
	header: []string{"ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"},
	cells:  func(r serviceRow) []string { return []string{r.ID, r.Name, r.Mode, r.Replicas, r.Image, r.Ports} },
	id:     func(r serviceRow) string { return r.ID },
}

// serviceRows renders services sorted by name.
func serviceRows(svcs []api.Service) []serviceRow {
	svcs = slices.Clone(svcs)
	slices.SortFunc(svcs, func(a, b api.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	rows := make([]serviceRow, 0, len(svcs))
	for _, s := range svcs {
		mode, replicas := "replicated", fmt.Sprintf("%d/%d", s.RunningTasks, s.DesiredTasks)
		if s.Spec.Mode.Global {
			mode = "global"
		} else if m := s.Spec.Task.Placement.MaxReplicas; m > 0 {
			replicas += fmt.Sprintf(" (max %d per node)", m)
		}
		ports := make([]string, 0, len(s.Spec.Endpoint.Ports))
		for _, p := range s.Spec.Endpoint.Ports {
			ports = append(ports, formatPort(p))
		}
		rows = append(rows, serviceRow{ID: truncID(s.ID), Name: s.Spec.Name, Mode: mode, Replicas: replicas,
			Image: imageNoDigest(s.Spec.Task.Image), Ports: strings.Join(ports, ", ")})
	}
	return rows
}

// imageNoDigest drops "@sha256:…" from an image reference, as docker's
// tables do.
func imageNoDigest(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	return ref
}

// serviceFilter is the parsed --filter list of `service ls`: keys are
// ANDed, values of one key ORed.
type serviceFilter map[string][]string

func parseServiceFilter(args []string) (serviceFilter, error) {
	f := serviceFilter{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok && k != "label":
			return nil, flagErr("filter", a, "expected KEY=VALUE: name=, id=, label= or mode=")
		case k == "mode" && v != "replicated" && v != "global":
			return nil, flagErr("filter", a, "use mode=replicated or mode=global")
		case k != "name" && k != "id" && k != "label" && k != "mode":
			return nil, flagErr("filter", a, "unknown filter %q: use name=, id=, label= or mode=", k)
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

func (f serviceFilter) match(s api.Service) bool {
	anyOf := func(key string, ok func(string) bool) bool {
		vs, given := f[key]
		return !given || slices.ContainsFunc(vs, ok)
	}
	mode := "replicated"
	if s.Spec.Mode.Global {
		mode = "global"
	}
	return anyOf("name", func(v string) bool { return strings.HasPrefix(s.Spec.Name, v) }) &&
		anyOf("id", func(v string) bool { return strings.HasPrefix(s.ID, v) }) &&
		anyOf("mode", func(v string) bool { return v == mode }) &&
		anyOf("label", func(v string) bool {
			k, want, hasValue := strings.Cut(v, "=")
			got, ok := s.Spec.Labels[k]
			return ok && (!hasValue || got == want)
		})
}

// ServiceLsCmd is `agentctl service ls`.
type ServiceLsCmd struct {
	ListFlags
	Filter []string `short:"f" sep:"none" placeholder:"KEY=VALUE" help:"name=PREFIX, id=PREFIX, label=KEY[=VALUE] or mode=replicated|global; repeatable."`
}

// Run lists services.
func (l *ServiceLsCmd) Run(g *Globals) error {
	filter, err := parseServiceFilter(l.Filter)
	if err != nil {
		return err
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	svcs, err := cl.Services(context.Background())
	if err != nil {
		return err
	}
	svcs = slices.DeleteFunc(svcs, func(s api.Service) bool { return !filter.match(s) })
	warnServices(svcs)
	return serviceTable.print(g.Out, l.ListFlags, serviceRows(svcs))
}

// ServiceInspectCmd is `agentctl service inspect`.
type ServiceInspectCmd struct {
	Pretty   bool     `help:"Human-readable output."`
	Format   string   `short:"f" help:"Go template applied to each service, e.g. '{{.Spec.Name}}'."`
	Services []string `arg:"" help:"Service names, IDs or ID prefixes."`
}

// Run prints services: a JSON array, a template per service, or --pretty.
func (i *ServiceInspectCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	var svcs []api.Service
	for _, ref := range i.Services {
		svc, err := getService(cl, ref)
		if err != nil {
			return err
		}
		svcs = append(svcs, svc)
	}
	if !i.Pretty {
		return printObjects(g.Out, i.Format, svcs)
	}
	for n, svc := range svcs {
		if n > 0 {
			fmt.Fprintln(g.Out)
		}
		printServicePretty(g.Out, svc)
	}
	return nil
}

// ServiceRmCmd is `agentctl service rm`.
type ServiceRmCmd struct {
	Services []string `arg:"" help:"Service names, IDs or ID prefixes."`
}

// Run removes each service, going on past failures, and reports them all.
func (r *ServiceRmCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range r.Services {
		if err := cl.ServiceRemove(context.Background(), ref); err != nil {
			errs = append(errs, fmt.Errorf("remove service %q: %w", ref, err))
			continue
		}
		fmt.Fprintln(g.Out, ref)
	}
	return errors.Join(errs...)
}

// historyRow is one line of `service history`.
type historyRow struct {
	Revision    uint64
	Current     bool
	Image       string
	Created     string
	ChangeCause string
}

var historyTable = table[historyRow]{
	header: []string{"REVISION", "IMAGE", "CREATED", "CHANGE-CAUSE"},
	cells: func(r historyRow) []string {
		rev := fmt.Sprint(r.Revision)
		if r.Current {
			rev += " (current)"
		}
		return []string{rev, r.Image, r.Created, r.ChangeCause}
	},
	id: func(r historyRow) string { return fmt.Sprint(r.Revision) },
}

// historyRows renders revisions oldest first; the current one is the
// newest whose task template and endpoint match the service's spec.
func historyRows(svc types.ServiceSpec, revs []types.Revision, now time.Time) []historyRow {
	revs = slices.Clone(revs)
	slices.SortFunc(revs, func(a, b types.Revision) int { return cmp.Compare(a.Number, b.Number) })
	current := -1
	for i, r := range revs {
		if reflect.DeepEqual(r.Spec.Task, svc.Task) && reflect.DeepEqual(r.Spec.Endpoint, svc.Endpoint) {
			current = i
		}
	}
	rows := make([]historyRow, 0, len(revs))
	for i, r := range revs {
		rows = append(rows, historyRow{Revision: r.Number, Current: i == current, Image: imageNoDigest(r.Spec.Task.Image),
			Created: api.Since(r.CreatedAt, now) + " ago", ChangeCause: r.Cause})
	}
	return rows
}

// ServiceHistoryCmd is `agentctl service history`.
type ServiceHistoryCmd struct {
	ListFlags
	Service string `arg:"" help:"Service name, ID or ID prefix."`
}

// Run lists the service's revisions.
func (h *ServiceHistoryCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	svc, err := getService(cl, h.Service)
	if err != nil {
		return err
	}
	revs, err := cl.ServiceHistory(context.Background(), svc.ID)
	if err != nil {
		return err
	}
	return historyTable.print(g.Out, h.ListFlags, historyRows(svc.Spec, revs, nowFunc()))
}

// ServiceLogsCmd is `agentctl service logs`.
type ServiceLogsCmd struct {
	Follow     bool   `short:"f" help:"Keep streaming new lines."`
	Tail       string `short:"n" default:"all" help:"Lines to show from the end of each task's log, or all."`
	Timestamps bool   `short:"t" help:"Show the time each line was written."`
	Since      string `placeholder:"TIME" help:"Only lines written since TIME: a time such as 2026-12-04T21:00:00Z, or a duration back from now such as 10m."`
	Until      string `placeholder:"TIME" help:"Only lines written before TIME (as --since)."`
	Target     string `arg:"" name:"service|task" help:"Service name/ID, or task ID."`
}

// logTime reads --since and --until as docker does: an RFC 3339 time (a
// date alone, or without a zone, is UTC) or a duration back from now.
func logTime(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, flagErr(flag, v, "use a duration back from now, such as 10m, or a time such as 2026-12-04T21:00:00Z")
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, flagErr(flag, v, "use a time such as 2026-12-04T21:00:00Z, or a duration back from now such as 10m")
}

// open starts the log stream of the service, or else the task, that
// l.Target names.
func (l *ServiceLogsCmd) open(ctx context.Context, cl *api.Client, opts api.LogOptions) (io.ReadCloser, error) {
	svc, err := getService(cl, l.Target)
	if err == nil {
		return cl.ServiceLogs(ctx, svc.ID, opts)
	}
	if !api.IsNotFound(err) {
		return nil, err
	}
	t, err := cl.Task(ctx, l.Target)
	if api.IsNotFound(err) {
		return nil, fmt.Errorf("no service or task %q: see 'agentctl service ls' and 'agentctl service ps SERVICE'", l.Target)
	} else if err != nil {
		return nil, err
	}
	return cl.TaskLogs(ctx, t.ID, opts)
}

// Run streams logs until they end, or until Ctrl-C with --follow.
func (l *ServiceLogsCmd) Run(g *Globals) error {
	opts := api.LogOptions{Tail: -1, Follow: l.Follow, Timestamps: l.Timestamps}
	var err error
	now := time.Now()
	if opts.Since, err = logTime("since", l.Since, now); err != nil {
		return err
	}
	if opts.Until, err = logTime("until", l.Until, now); err != nil {
		return err
	}
	if !opts.Since.IsZero() && !opts.Until.IsZero() && !opts.Since.Before(opts.Until) {
		return fmt.Errorf("--since %s is not before --until %s: no line could be shown", l.Since, l.Until)
	}
	if l.Tail != "all" {
		n, err := parseCount("tail", l.Tail)
		if err != nil || n > math.MaxInt32 {
			return flagErr("tail", l.Tail, "use a number of lines, or all")
		}
		opts.Tail = int(n)
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	body, err := l.open(ctx, cl, opts)
	if err != nil {
		return err
	}
	defer body.Close()
	if _, err := io.Copy(g.Out, body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read logs of %q: %w", l.Target, err)
	}
	return nil
}
