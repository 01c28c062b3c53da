package convert

import (
	"reflect"
	"strconv"

	"github.com/shoal-org/shoal/internal/fault"
)

// refuseSet returns an error naming the first field of the struct v (a
// struct or a pointer to one) that is set although shoal does not serve
// it, i.e. every field but those in served. A pointer to a zero value, an
// empty slice or map count as unset. path prefixes the field's name in the
// message (e.g. "TaskTemplate.ContainerSpec").
func refuseSet(path string, v any, served ...string) error {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if !rv.IsValid() {
		return nil
	}
	skip := make(map[string]bool, len(served))
	for _, s := range served {
		skip[s] = true
	}
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if skip[f.Name] || !f.IsExported() || unset(rv.Field(i)) {
			continue
		}
		return fault.Invalidf("%s.%s is not served by shoal: remove it from the spec (shoal serves the swarm subset its own `agentctl service create` offers)", path, f.Name)
	}
	return nil
}

// unset reports whether v holds nothing: the zero value, a nil or
// zero-valued pointer, or an empty slice or map.
func unset(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || unset(v.Elem())
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.Struct:
		for i := range v.NumField() {
			if !unset(v.Field(i)) {
				return false
			}
		}
		return true
	}
	return v.IsZero()
}

func itoa(i int) string { return strconv.Itoa(i) }
