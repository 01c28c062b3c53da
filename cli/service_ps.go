package cli

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// maxErrLength is where `service ps` cuts task errors, as docker does.
const maxErrLength = 30

// taskRow is one line of `service ps`; its field names are docker's JSON
// keys.
type taskRow struct {
	ID           string
	Name         string
	Image        string
	Node         string
	DesiredState string
	CurrentState string
	Error        string
	Ports        string
}

var taskTable = table[taskRow]{
	header: []string{"ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"},
	cells: func(r taskRow) []string {
		return []string{r.ID, r.Name, r.Image, r.Node, r.DesiredState, r.CurrentState, r.Error, r.Ports}
	},
	id: func(r taskRow) string { return r.ID },
}

// taskFilter is the parsed --filter list of `service ps`.
type taskFilter map[string][]string

func parseTaskFilter(args []string) (taskFilter, error) {
	f := taskFilter{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok:
			return nil, flagErr("filter", a, "expected KEY=VALUE: desired-state=, name=, node= or id=")
		case k == "desired-state" && v != "running" && v != "shutdown" && v != "accepted":
			return nil, flagErr("filter", a, "use desired-state=running, shutdown or accepted")
		case k != "desired-state" && k != "name" && k != "node" && k != "id":
			return nil, flagErr("filter", a, "unknown filter %q: use desired-state=, name=, node= or id=", k)
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

func (f taskFilter) match(t api.Task, name string) bool {
	anyOf := func(key string, ok func(string) bool) bool {
		vs, given := f[key]
		return !given || slices.ContainsFunc(vs, ok)
	}
	return anyOf("desired-state", func(v string) bool {
		switch v {
		case "running":
			return t.DesiredState == types.TaskRunning
		case "shutdown":
			return t.DesiredState != types.TaskRunning
		default: // accepted: wanted running, not running yet
			return t.DesiredState == types.TaskRunning && t.Status.State.Rank() < types.TaskRunning.Rank()
		}
	}) &&
		anyOf("name", func(v string) bool { return strings.HasPrefix(name, v) }) &&
		anyOf("node", func(v string) bool { return t.NodeHostname == v || (v != "" && strings.HasPrefix(t.NodeID, v)) }) &&
		anyOf("id", func(v string) bool { return strings.HasPrefix(t.ID, v) })
}

// taskName is docker's name for a task: service.slot, or service.nodeID
// for a global service.
func taskName(service string, t api.Task) string {
	if t.Slot != 0 {
		return service + "." + strconv.Itoa(t.Slot)
	}
	return service + "." + t.NodeID
}

// taskRows renders one service's tasks: slots in order, each slot's tasks
// newest first, older ones indented with ` \_ `.
func taskRows(service string, tasks []api.Task, f taskFilter, now time.Time, noTrunc bool) []taskRow {
	bySlot := map[string][]api.Task{}
	var keys []string
	for _, t := range tasks {
		if !f.match(t, taskName(service, t)) {
			continue
		}
		k := taskName(service, t)
		if _, ok := bySlot[k]; !ok {
			keys = append(keys, k)
		}
		bySlot[k] = append(bySlot[k], t)
	}
	slices.SortFunc(keys, func(a, b string) int {
		sa, sb := bySlot[a][0].Slot, bySlot[b][0].Slot
		return cmp.Or(cmp.Compare(sa, sb), strings.Compare(a, b))
	})
	var rows []taskRow
	for _, k := range keys {
		ts := bySlot[k]
		slices.SortFunc(ts, newerTask)
		for i, t := range ts {
			name := k
			if noTrunc {
				name += "." + t.ID
			}
			if i > 0 {
				name = ` \_ ` + name
			}
			rows = append(rows, makeTaskRow(t, name, now, noTrunc))
		}
	}
	return rows
}

func makeTaskRow(t api.Task, name string, now time.Time, noTrunc bool) taskRow {
	r := taskRow{ID: t.ID, Name: name, Image: t.Spec.Image, Node: t.NodeHostname,
		DesiredState: capitalize(string(t.DesiredState)), Error: t.Status.Err}
	if !noTrunc {
		r.ID, r.Image = truncID(t.ID), imageNoDigest(t.Spec.Image)
		if e := []rune(r.Error); len(e) > maxErrLength {
			r.Error = string(e[:maxErrLength-1]) + "…"
		}
	}
	if r.Error != "" {
		r.Error = `"` + r.Error + `"`
	}
	if r.Node == "" && t.NodeID != "" {
		r.Node = truncID(t.NodeID)
	}
	r.CurrentState = capitalize(string(t.Status.State))
	if !t.Status.Timestamp.IsZero() {
		r.CurrentState += " " + api.Since(t.Status.Timestamp, now) + " ago"
	}
	return r
}

// ServicePsCmd is `agentctl service ps`.
type ServicePsCmd struct {
	ListFlags
	NoTrunc  bool     `help:"Show full IDs, images and errors."`
	Filter   []string `short:"f" sep:"none" placeholder:"KEY=VALUE" help:"desired-state=running|shutdown|accepted, name=, node= or id=; repeatable."`
	Services []string `arg:"" help:"Service names, IDs or ID prefixes."`
}

// Run lists the tasks of each service in the order given.
func (p *ServicePsCmd) Run(g *Globals) error {
	filter, err := parseTaskFilter(p.Filter)
	if err != nil {
		return err
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	var rows []taskRow
	for _, ref := range p.Services {
		svc, err := getService(cl, ref)
		if err != nil {
			return err
		}
		tasks, err := cl.Tasks(context.Background(), svc.ID)
		if err != nil {
			return fmt.Errorf("tasks of service %q: %w", svc.Spec.Name, err)
		}
		rows = append(rows, taskRows(svc.Spec.Name, tasks, filter, nowFunc(), p.NoTrunc)...)
	}
	return taskTable.print(g.Out, p.ListFlags, rows)
}
