package store

import (
	"fmt"
	"github.com/shoal-org/shoal/api/types"
	"strings"
)

// maxListed bounds how many IDs an ambiguity error lists.
const maxListed = 5

// FindNode resolves a user's reference to a node: an exact ID, then an
// exact hostname (ErrAmbiguous if several nodes share it), then a unique ID
// prefix. Errors name the reference and wrap ErrNotFound, ErrAmbiguous or
// ErrInvalid (empty reference).
func (v *View) FindNode(ref string) (*types.Node, error) {
	return find(v, TableNodes, ref, v.NodesByHostname)
}

// FindService resolves a reference to a service: exact ID, exact name,
// then unique ID prefix. Errors as for FindNode.
func (v *View) FindService(ref string) (*types.Service, error) {
	return find(v, TableServices, ref, func(name string) []*types.Service {
		return optional(v.ServiceByName(name))
	})
}

// FindTask resolves a reference to a task: exact ID, then unique ID prefix
// (tasks have no names). Errors as for FindNode.
func (v *View) FindTask(ref string) (*types.Task, error) {
	return find[types.Task](v, TableTasks, ref, nil)
}

// FindNetwork resolves a reference to a network: exact ID, exact name, then
// unique ID prefix. Errors as for FindNode.
func (v *View) FindNetwork(ref string) (*types.Network, error) {
	return find(v, TableNetworks, ref, func(name string) []*types.Network {
		return optional(v.NetworkByName(name))
	})
}

func optional[T any](p *T) []*T {
	if p == nil {
		return nil
	}
	return []*T{p}
}

// find implements the Find* resolution order; byName may be nil.
func find[T any](v *View, table Table, ref string, byName func(string) []*T) (*T, error) {
	noun := table.noun()
	if ref == "" {
		return nil, errorf(ErrInvalid, "empty %s reference", noun)
	}
	if o := first[T](v, table, idxID, ref); o != nil {
		return o, nil
	}
	if byName != nil {
		switch m := byName(ref); len(m) {
		case 0:
		case 1:
			return m[0], nil
		default:
			return nil, ambiguous(noun, ref, m)
		}
	}
	switch m := list[T](v, table, idxID+"_prefix", ref); len(m) {
	case 0:
		return nil, errorf(ErrNotFound, "%s %q not found", noun, ref)
	case 1:
		return m[0], nil
	default:
		return nil, ambiguous(noun, ref, m)
	}
}

// ambiguous names up to maxListed of the matching IDs.
func ambiguous[T any](noun, ref string, matches []*T) error {
	ids := make([]string, 0, maxListed)
	for _, m := range matches[:min(len(matches), maxListed)] {
		ids = append(ids, keyOf(m))
	}
	list := strings.Join(ids, ", ")
	if extra := len(matches) - len(ids); extra > 0 {
		list += fmt.Sprintf(" and %d more", extra)
	}
	return errorf(ErrAmbiguous, "%s reference %q is ambiguous: matches %s", noun, ref, list)
}
