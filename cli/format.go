package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"text/template"
)

// ListFlags are the output options of every ls/ps-style command.
type ListFlags struct {
	Format string `help:"Output: table (default), json (one object per line), or a Go template such as '{{.Hostname}}'." placeholder:"FORMAT"`
	Quiet  bool   `short:"q" help:"Only print IDs."`
}

// table describes how rows of one kind are shown.
type table[T any] struct {
	header []string
	cells  func(T) []string
	id     func(T) string
}

// print writes rows as the flags ask: an aligned table (padding 3, as
// docker's), JSON lines, a Go template per row, or IDs only.
func (t table[T]) print(out io.Writer, f ListFlags, rows []T) error {
	switch {
	case f.Quiet:
		for _, r := range rows {
			fmt.Fprintln(out, t.id(r))
		}
		return nil
	case f.Format == "json":
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false) // PORTS reads *:8080->80/tcp, as docker prints it
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	case f.Format == "" || f.Format == "table":
		tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(t.cells(r), "\t"))
		}
		return tw.Flush()
	default:
		return printTemplate(out, f.Format, rows)
	}
}

func printTemplate[T any](out io.Writer, format string, rows []T) error {
	tmpl, err := parseTemplate(format)
	if err != nil {
		return fmt.Errorf("%w; fields: %s", err, templateFields[T]())
	}
	for _, r := range rows {
		var b strings.Builder
		if err := tmpl.Execute(&b, r); err != nil {
			return templateError(format, err, templateFields[T]())
		}
		fmt.Fprintln(out, b.String())
	}
	return nil
}

// templateError rewrites a template's execution error, which names Go's
// internal type ("can't evaluate field Foo in type cli.nodeRow"), into
// the field the user wrote and the fields there are.
func templateError(format string, err error, fields string) error {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "can't evaluate field "); ok {
		name, _, _ := strings.Cut(after, " ")
		return fmt.Errorf("format %q: there is no field .%s; fields: %s", format, name, fields)
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return fmt.Errorf("format %q: %s; fields: %s", format, msg, fields)
}

// templateFields lists the fields a template may name for rows of type T.
func templateFields[T any]() string {
	t := reflect.TypeFor[T]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return "(none: use {{.}})"
	}
	var names []string
	for f := range t.Fields() {
		if f.IsExported() {
			names = append(names, "."+f.Name)
		}
	}
	return strings.Join(names, " ")
}

func parseTemplate(format string) (*template.Template, error) {
	tmpl, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
	}).Parse(format)
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:] // drop "template: format:1:" — our name, not the user's
		}
		return nil, fmt.Errorf("format %q is not a valid Go template: %s (example: '{{.ID}}'; functions: json, upper, lower)", format, msg)
	}
	return tmpl, nil
}

// printObjects writes full objects for inspect: a JSON array, as docker
// does, or a Go template per object.
func printObjects[T any](out io.Writer, format string, objs []T) error {
	if format != "" {
		return printTemplate(out, format, objs)
	}
	b, err := json.MarshalIndent(objs, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

// capitalize turns "ready" into "Ready" for tables.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
