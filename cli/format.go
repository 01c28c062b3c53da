package cli

import (
	"encoding/json"
	"fmt"
	"io"
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
		return err
	}
	for _, r := range rows {
		if err := tmpl.Execute(out, r); err != nil {
			return fmt.Errorf("format %q: %w", format, err)
		}
		fmt.Fprintln(out)
	}
	return nil
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
		return nil, fmt.Errorf("format %q is not a valid Go template: %w (example: '{{.ID}} {{.Hostname}}')", format, err)
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
