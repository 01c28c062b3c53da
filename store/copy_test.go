package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// fill sets every field reachable from v (which must be settable) to a
// non-zero value derived from *n; slices and maps get two entries, pointers
// a new filled value. A field added to types.go is filled automatically.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, n)
			fill(e, n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Unix(int64(*n)*1000, 0).UTC()))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	default:
		panic(fmt.Sprintf("fill: unhandled kind %s", v.Kind()))
	}
}

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
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Hour)))
			return
		}
		for i := range v.NumField() {
			mutate(v.Field(i))
		}
	}
}

// filled returns a *T with every field set; the same seed gives the same
// value.
func filled[T any](seed int) *T {
	p := new(T)
	fill(reflect.ValueOf(p).Elem(), &seed)
	return p
}

func TestCopyIsDeep(t *testing.T) {
	cases := []struct {
		name string
		orig func() any // a fully filled object, the same each call
		copy func(any) any
	}{
		{"Cluster", func() any { return filled[Cluster](1) }, func(o any) any { return o.(*Cluster).Copy() }},
		{"Node", func() any { return filled[Node](1) }, func(o any) any { return o.(*Node).Copy() }},
		{"Service", func() any { return filled[Service](1) }, func(o any) any { return o.(*Service).Copy() }},
		{"Task", func() any { return filled[Task](1) }, func(o any) any { return o.(*Task).Copy() }},
		{"Network", func() any { return filled[Network](1) }, func(o any) any { return o.(*Network).Copy() }},
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
	for _, orig := range []any{filled[Cluster](1), filled[Node](1), filled[Service](1), filled[Task](1), filled[Network](1)} {
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
