package stack

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shoal-org/shoal/api/types"
)

// Update is a service of the stack whose spec changed.
type Update struct {
	ID string
	// Version is the service's Meta.Version the plan was made from: the
	// update is refused if the service changed since.
	Version uint64
	Spec    types.ServiceSpec
}

// Plan is what a deploy changes, in the order it must be applied:
// networks first, then services.
type Plan struct {
	CreateNetworks []Network
	Create         []types.ServiceSpec
	Update         []Update
	Unchanged      []string        // names of services left as they are
	Remove         []types.Service // with --prune: services no longer in the files
}

// PlanDeploy compares the stack with the cluster's services and networks
// (all of them: PlanDeploy picks the stack's own by name and label) and
// says what to create, update and, with prune, remove. A service whose
// spec is the same, once the server's defaults are filled in, is left
// alone. It refuses, before anything is changed, a missing external
// network and a name the stack would take from an object outside it.
func PlanDeploy(st Stack, services []types.Service, networks []types.Network, prune bool) (Plan, error) {
	var p Plan
	netByName := map[string]types.Network{}
	for _, n := range networks {
		netByName[n.Name] = n
	}
	for _, n := range st.Networks {
		have, ok := netByName[n.Name]
		switch {
		case n.External && !ok:
			return Plan{}, fmt.Errorf("%w: network %q is declared as external, but could not be found: create it with `agentctl network create %s` before deploying the stack",
				ErrInvalid, n.Name, n.Name)
		case n.External:
		case !ok:
			p.CreateNetworks = append(p.CreateNetworks, n)
		case have.Labels[LabelNamespace] != st.Name:
			return Plan{}, fmt.Errorf("%w: network %q already exists and is not part of stack %q: remove it or rename the network in the compose file",
				ErrInvalid, n.Name, st.Name)
		}
	}
	svcByName := map[string]types.Service{}
	for _, s := range services {
		svcByName[s.Spec.Name] = s
	}
	wanted := map[string]bool{}
	for _, spec := range st.Services {
		wanted[spec.Name] = true
		have, ok := svcByName[spec.Name]
		switch {
		case !ok:
			p.Create = append(p.Create, spec)
			continue
		case have.Spec.Labels[LabelNamespace] != st.Name:
			return Plan{}, fmt.Errorf("%w: service %q already exists and is not part of stack %q: remove it or rename the service in the compose file",
				ErrInvalid, spec.Name, st.Name)
		}
		// A stack has no --force: keep the count of forced updates so that
		// a redeploy does not restart every task (as docker does).
		spec.Task.ForceUpdate = have.Spec.Task.ForceUpdate
		if SameSpec(spec, have.Spec) {
			p.Unchanged = append(p.Unchanged, spec.Name)
		} else {
			p.Update = append(p.Update, Update{ID: have.ID, Version: have.Version, Spec: spec})
		}
	}
	if prune {
		for _, s := range Services(st.Name, services) {
			if !wanted[s.Spec.Name] {
				p.Remove = append(p.Remove, s)
			}
		}
	}
	return p, nil
}

// SameSpec reports whether two specs ask for the same thing once the
// server's defaults are filled into both (the leader stores specs filled).
func SameSpec(a, b types.ServiceSpec) bool {
	a, b = a.Copy(), b.Copy()
	types.FillDefaults(&a)
	types.FillDefaults(&b)
	// Both go through JSON, as a stored spec has, so that an empty list
	// and a missing one compare equal.
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// Services returns the services of stack ns, sorted by name.
func Services(ns string, services []types.Service) []types.Service {
	var out []types.Service
	for _, s := range services {
		if s.Spec.Labels[LabelNamespace] == ns {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b types.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	return out
}

// Networks returns the networks stack ns created, sorted by name.
func Networks(ns string, networks []types.Network) []types.Network {
	var out []types.Network
	for _, n := range networks {
		if n.Labels[LabelNamespace] == ns {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b types.Network) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Summary is one stack of `stack ls`.
type Summary struct {
	Name     string
	Services int
}

// List counts the services of every stack, sorted by stack name.
func List(services []types.Service) []Summary {
	count := map[string]int{}
	for _, s := range services {
		if ns, ok := s.Spec.Labels[LabelNamespace]; ok {
			count[ns]++
		}
	}
	out := make([]Summary, 0, len(count))
	for _, ns := range slices.Sorted(maps.Keys(count)) {
		out = append(out, Summary{Name: ns, Services: count[ns]})
	}
	return out
}
