package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
	"github.com/shoal-org/shoal/spec"
)

// MaxRequestBody is the largest JSON request body the API reads: 8 MiB
// (spec.MaxRequestBytes, in the table of limits).
// A service spec with every limit at its maximum is well under 1 MiB; the
// bound keeps one request from making the agent (and, forwarded, the
// leader) buffer an arbitrary amount. Image archives are streamed and are
// not bound by it.
const MaxRequestBody = spec.MaxRequestBytes

// readJSON decodes r's body into v with decodeJSON's rules. A body over
// MaxRequestBody is answered 413 naming the limit; an empty body leaves v
// as it is (several endpoints take an optional body).
func readJSON(r *http.Request, v any) error { return readBody(r, v, true) }

// ReadJSONLenient is readJSON for the Engine API: the same size limit and
// error answers (413 naming the limit, 400 naming the field and offset),
// but unknown fields are ignored, as Docker ignores them.
func ReadJSONLenient(r *http.Request, v any) error { return readBody(r, v, false) }

func readBody(r *http.Request, v any, strict bool) error {
	if r.ContentLength > MaxRequestBody {
		return bodyTooLarge(r.ContentLength)
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxRequestBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return bodyTooLarge(-1)
	}
	if err != nil {
		return fault.Invalidf("request body: %v", err)
	}
	return decodeJSON(data, v, strict)
}

func bodyTooLarge(n int64) error {
	size := "more than 8 MiB"
	if n > 0 {
		size = fmt.Sprintf("%d bytes", n)
	}
	return &fault.Error{Kind: fault.TooLarge, Msg: fmt.Sprintf(
		"request body is %s, over the limit of %d bytes (8 MiB) for one request: send less (large files belong in images, not in specs)",
		size, MaxRequestBody)}
}

// decodeJSON decodes one JSON value from data into v and refuses anything
// after it. Its errors are 400s that name the field, what was expected and
// what was found, in the user's terms rather than Go's types.
//
// Unknown fields are refused: this is our own API, and agentctl never
// sends a field the agent does not know unless the two are of different
// releases, where silently dropping (say) a misspelt "Replica" would apply
// a spec other than the one the user wrote. The error names the field.
func decodeJSON(data []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fault.Invalidf("request body: unexpected data after the JSON value at offset %d (%s): send exactly one JSON object",
			dec.InputOffset(), snippet(data, int(dec.InputOffset())))
	}
	return nil
}

func decodeError(data []byte, err error) error {
	var typeErr *json.UnmarshalTypeError
	var synErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return fault.Invalidf("request body: expected %s, got %s", describeType(typeErr.Type), describeValue(data, typeErr))
		}
		return fault.Invalidf("field %q: expected %s, got %s", field, describeType(typeErr.Type), describeValue(data, typeErr))
	case errors.As(err, &synErr):
		return fault.Invalidf("request body is not valid JSON at offset %d (%s): %v", synErr.Offset, snippet(data, int(synErr.Offset)), err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fault.Invalidf("request body: the JSON ends early (after %d bytes): send a complete JSON object", len(data))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		key, _ := strconv.Unquote(name)
		if path, off, ok := keyPath(data, key); ok {
			return fault.Invalidf("unknown field %q at offset %d: this agent (version %s) has no such field; check its spelling, or whether agentctl is newer than the agent",
				path, off, api.Version)
		}
		return fault.Invalidf("unknown field %s: this agent (version %s) has no such field; check its spelling, or whether agentctl is newer than the agent",
			name, api.Version)
	}
	// A field's own UnmarshalJSON (a duration, an address) failed: its
	// error already names the value.
	return fault.Invalidf("request body: %v", err)
}

// describeType names a Go type in JSON terms.
func describeType(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	if t == reflect.TypeFor[time.Duration]() {
		return "a duration in nanoseconds (a number)"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("an integer that fits in %d bits", t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a non-negative integer that fits in %d bits", t.Bits())
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return t.Kind().String()
}

// describeValue renders what the decoder found: its JSON kind and, for a
// scalar, the literal itself (shortened).
func describeValue(data []byte, e *json.UnmarshalTypeError) string {
	kind, _, _ := strings.Cut(e.Value, " ")
	end := int(e.Offset)
	if end > len(data) || end <= 0 || kind == "array" || kind == "object" {
		return kind
	}
	lit := lastLiteral(data[:end])
	if lit == "" {
		return kind
	}
	if len(lit) > 40 {
		lit = lit[:37] + "..."
	}
	return kind + " " + lit
}

// lastLiteral returns the scalar JSON literal that data ends with.
func lastLiteral(data []byte) string {
	s := string(bytes.TrimRight(data, " \t\r\n"))
	if strings.HasSuffix(s, `"`) {
		for i := len(s) - 2; i >= 0; i-- {
			if s[i] != '"' {
				continue
			}
			bs := 0
			for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
				bs++
			}
			if bs%2 == 0 {
				return s[i:]
			}
		}
		return ""
	}
	i := len(s)
	for i > 0 && strings.IndexByte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-", s[i-1]) >= 0 {
		i--
	}
	return s[i:]
}

// snippet quotes up to 20 bytes of data around off, for errors that point
// at a place in the body.
func snippet(data []byte, off int) string {
	from, to := max(0, min(off, len(data))-10), min(len(data), max(off, 0)+10)
	return fmt.Sprintf("near %q", data[from:to])
}

// keyPath returns the dotted path ("Spec.Mode.Foo") of the first object
// key named name in data, and the offset just after it; ok is false if
// there is none. encoding/json names an unknown field but not where it is,
// and refuses the first unknown key it meets, so the first key of that name
// is the one refused unless the same name is known at an earlier place.
func keyPath(data []byte, name string) (path string, off int64, ok bool) {
	type frame struct {
		key    string
		inObj  bool
		expect bool // the next string token is a key
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", 0, false
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				stack = append(stack, frame{inObj: t == '{', expect: t == '{'})
				continue
			}
			stack = stack[:top]
		case string:
			if top >= 0 && stack[top].inObj && stack[top].expect {
				stack[top].key, stack[top].expect = t, false
				if t == name {
					var keys []string
					for _, f := range stack {
						if f.key != "" {
							keys = append(keys, f.key)
						}
					}
					return strings.Join(keys, "."), dec.InputOffset(), true
				}
				continue
			}
		}
		if top = len(stack) - 1; top >= 0 && stack[top].inObj {
			stack[top].expect = true
		}
	}
}
