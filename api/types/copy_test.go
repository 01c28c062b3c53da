package types

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api/types/typestest"
)

// mutate changes, in place, every value reachable from v through slices,
// maps and pointers (and the scalars along the way).
func mutate(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Pointer:
		if !v.IsNil() {
			mutate(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			mutate(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			mutate(e)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Hour)))
			return
		}
		for i := range v.NumField() {
			mutate(v.Field(i))
		}
	}
}

func TestCopyIsDeep(t *testing.T) {
	cases := []struct {
		name string
		orig func() any // a fully filled object, the same each call
		copy func(any) any
	}{
		{"Cluster", func() any { return typestest.Filled[Cluster](1) }, func(o any) any { return o.(*Cluster).Copy() }},
		{"Node", func() any { return typestest.Filled[Node](1) }, func(o any) any { return o.(*Node).Copy() }},
		{"Service", func() any { return typestest.Filled[Service](1) }, func(o any) any { return o.(*Service).Copy() }},
		{"Task", func() any { return typestest.Filled[Task](1) }, func(o any) any { return o.(*Task).Copy() }},
		{"Network", func() any { return typestest.Filled[Network](1) }, func(o any) any { return o.(*Network).Copy() }},
		{"Secret", func() any { return typestest.Filled[Secret](1) }, func(o any) any { return o.(*Secret).Copy() }},
		{"Config", func() any { return typestest.Filled[Config](1) }, func(o any) any { return o.(*Config).Copy() }},
		{"WrappedKey", func() any { return typestest.Filled[WrappedKey](1) }, func(o any) any { return o.(*WrappedKey).Copy() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.orig()
			cp := tc.copy(orig)
			if !reflect.DeepEqual(orig, cp) {
				t.Fatalf("copy differs from original:\n%+v\n%+v", orig, cp)
			}
			mutate(reflect.ValueOf(cp))
			if reflect.DeepEqual(orig, cp) {
				t.Fatal("mutate changed nothing: the test is broken")
			}
			if !reflect.DeepEqual(orig, tc.orig()) {
				t.Fatalf("changing the copy changed the original: something is shared\n%+v", orig)
			}
		})
	}
}

func TestCopyKeepsNil(t *testing.T) {
	if (*Cluster)(nil).Copy() != nil || (*Node)(nil).Copy() != nil || (*Service)(nil).Copy() != nil ||
		(*Task)(nil).Copy() != nil || (*Network)(nil).Copy() != nil {
		t.Fatal("Copy of nil is not nil")
	}
	for _, o := range []any{&Cluster{}, &Node{}, &Service{}, &Task{}, &Network{}} {
		cp := reflect.ValueOf(o).MethodByName("Copy").Call(nil)[0].Interface()
		if !reflect.DeepEqual(o, cp) {
			t.Errorf("Copy of empty %T = %+v (nil fields must stay nil)", o, cp)
		}
	}
}

// TestJSONRoundTrip guards commands and snapshots, which travel as JSON:
// every field of every type must survive (a field whose JSON name collides
// with an embedded Meta field would silently hide it).
func TestJSONRoundTrip(t *testing.T) {
	for _, orig := range []any{typestest.Filled[Cluster](1), typestest.Filled[Node](1), typestest.Filled[Service](1), typestest.Filled[Task](1), typestest.Filled[Network](1),
		typestest.Filled[Secret](1), typestest.Filled[Config](1), typestest.Filled[WrappedKey](1)} {
		b, err := json.Marshal(orig)
		if err != nil {
			t.Fatalf("marshal %T: %v", orig, err)
		}
		back := reflect.New(reflect.TypeOf(orig).Elem()).Interface()
		if err := json.Unmarshal(b, back); err != nil {
			t.Fatalf("unmarshal %T: %v", orig, err)
		}
		if !reflect.DeepEqual(orig, back) {
			t.Errorf("%T does not survive JSON:\n got %+v\nwant %+v", orig, back, orig)
		}
	}
}
