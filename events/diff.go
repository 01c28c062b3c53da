package events

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/store"
)

// snapshot is what events are derived from: the objects of one view by
// ID, reduced to the fields events report.
type snapshot map[key]object

type key struct{ typ, id string }

type object struct {
	version uint64
	name    string
	attrs   map[string]string // the fields compared: image, replicas, state...
}

// take reduces a view to a snapshot.
func take(v *store.View) snapshot {
	s := snapshot{}
	for _, svc := range v.Services() {
		replicas := "global"
		if !svc.Spec.Mode.Global {
			replicas = strconv.FormatUint(svc.Spec.Mode.Replicas, 10)
		}
		updateState := ""
		if svc.UpdateStatus != nil {
			updateState = string(svc.UpdateStatus.State)
		}
		s[key{TypeService, svc.ID}] = object{version: svc.Version, name: svc.Spec.Name,
			attrs: map[string]string{"image": svc.Spec.Task.Image, "replicas": replicas, "updatestate": updateState}}
	}
	for _, n := range v.Nodes() {
		s[key{TypeNode, n.ID}] = object{version: n.Version, name: n.Hostname,
			attrs: map[string]string{"availability": string(n.Availability), "state": string(n.Status), "role": nodeRole(n)}}
	}
	for _, n := range v.Networks() {
		s[key{TypeNetwork, n.ID}] = object{version: n.Version, name: n.Name}
	}
	return s
}

// nodeRole is docker's role of a node: voters are its managers.
func nodeRole(n *types.Node) string {
	if n.Role == types.RoleVoter {
		return "manager"
	}
	return "worker"
}

// diff lists the events from prev to next, in a stable order (by type,
// then name, then ID), stamped at.
func diff(prev, next snapshot, at time.Time) []api.Event {
	var out []api.Event
	ev := func(k key, o object, action string, attrs map[string]string) {
		a := map[string]string{"name": o.name}
		maps.Copy(a, attrs)
		out = append(out, api.Event{Time: at, Type: k.typ, Action: action, ID: k.id, Name: o.name, Attributes: a})
	}
	for k, o := range next {
		old, ok := prev[k]
		switch {
		case !ok:
			ev(k, o, ActionCreate, nil)
		case old.version != o.version:
			changed := map[string]string{}
			for f, v := range o.attrs {
				if old.attrs[f] != v {
					changed[f+".old"], changed[f+".new"] = old.attrs[f], v
				}
			}
			ev(k, o, ActionUpdate, changed)
		}
	}
	for k, o := range prev {
		if _, ok := next[k]; !ok {
			ev(k, o, ActionRemove, nil)
		}
	}
	slices.SortFunc(out, func(a, b api.Event) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}
