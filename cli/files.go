package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
)

// `agentctl secret` and `agentctl config`: the same four commands over
// two kinds of objects, as docker's.

// SecretCmd is `agentctl secret`.
type SecretCmd struct {
	Create    SecretCreateCmd    `cmd:"" help:"Create a secret from a file or stdin (-). Its data is sealed at rest and never shown again."`
	Ls        SecretLsCmd        `cmd:"" aliases:"list" help:"List secrets."`
	Inspect   SecretInspectCmd   `cmd:"" help:"Show secrets in detail (never their data)."`
	Rm        SecretRmCmd        `cmd:"" aliases:"remove" help:"Remove secrets no service uses."`
	RotateKey SecretRotateKeyCmd `cmd:"" name:"rotate-key" help:"Replace the cluster's data key: every secret is sealed again under a new key, wrapped for the current voters."`
}

// SecretRotateKeyCmd is `agentctl secret rotate-key`.
type SecretRotateKeyCmd struct{}

// Run rotates the data key and says what was done.
func (r *SecretRotateKeyCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	resp, err := c.RotateDataKey(context.Background())
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "data key %s: secrets sealed again: %d; wrapped for voters: %d\n", resp.KeyID, resp.Resealed, resp.Voters)
	return nil
}

// ConfigCmd is `agentctl config`.
type ConfigCmd struct {
	Create  ConfigCreateCmd  `cmd:"" help:"Create a config from a file or stdin (-)."`
	Ls      ConfigLsCmd      `cmd:"" aliases:"list" help:"List configs."`
	Inspect ConfigInspectCmd `cmd:"" help:"Show configs in detail, with their data."`
	Rm      ConfigRmCmd      `cmd:"" aliases:"remove" help:"Remove configs no service uses."`
}

// fileCreate is `create NAME FILE|-`.
type fileCreate struct {
	Label []string `short:"l" sep:"none" placeholder:"K=V" help:"Label; repeatable."`
	Name  string   `arg:"" help:"Name (letters, digits, '_', '.', '-')."`
	File  string   `arg:"" help:"File holding the data, or - for stdin."`
}

func (f *fileCreate) run(g *Globals, kind api.FileKind) error {
	labels, err := setLabels(nil, "label", f.Label)
	if err != nil {
		return err
	}
	var data []byte
	if f.File == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		data, err = os.ReadFile(f.File)
	}
	if err != nil {
		return fmt.Errorf("%s %q: read %s: %w", kind, f.Name, f.File, err)
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	req := api.FileCreateRequest{Name: f.Name, Labels: labels, Data: data}
	var resp api.FileCreateResponse
	if kind == api.KindSecret {
		resp, err = c.SecretCreate(context.Background(), req)
	} else {
		resp, err = c.ConfigCreate(context.Background(), req)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(g.Out, resp.ID)
	return nil
}

// SecretCreateCmd is `agentctl secret create`.
type SecretCreateCmd struct{ fileCreate }

// Run creates the secret and prints its ID.
func (c *SecretCreateCmd) Run(g *Globals) error { return c.run(g, api.KindSecret) }

// ConfigCreateCmd is `agentctl config create`.
type ConfigCreateCmd struct{ fileCreate }

// Run creates the config and prints its ID.
func (c *ConfigCreateCmd) Run(g *Globals) error { return c.run(g, api.KindConfig) }

// fileRow is one line of `secret ls` / `config ls`; field names are
// docker's template fields.
type fileRow struct {
	ID        string
	Name      string
	Driver    string
	CreatedAt string
	UpdatedAt string
	Labels    map[string]string
}

var secretTable = table[fileRow]{
	header: []string{"ID", "NAME", "DRIVER", "CREATED", "UPDATED"},
	cells:  func(r fileRow) []string { return []string{r.ID, r.Name, r.Driver, r.CreatedAt, r.UpdatedAt} },
	id:     func(r fileRow) string { return r.ID },
}

var configTable = table[fileRow]{
	header: []string{"ID", "NAME", "CREATED", "UPDATED"},
	cells:  func(r fileRow) []string { return []string{r.ID, r.Name, r.CreatedAt, r.UpdatedAt} },
	id:     func(r fileRow) string { return r.ID },
}

func fileRowOf(id, name string, labels map[string]string, m types.Meta, now time.Time) fileRow {
	return fileRow{ID: id, Name: name, Labels: labels,
		CreatedAt: api.Since(m.CreatedAt, now) + " ago", UpdatedAt: api.Since(m.UpdatedAt, now) + " ago"}
}

// SecretLsCmd is `agentctl secret ls`.
type SecretLsCmd struct{ ListFlags }

// Run lists secrets by name.
func (l *SecretLsCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	secrets, err := c.Secrets(context.Background())
	if err != nil {
		return err
	}
	now := nowFunc()
	rows := make([]fileRow, 0, len(secrets))
	for _, s := range secrets {
		rows = append(rows, fileRowOf(s.ID, s.Spec.Name, s.Spec.Labels, s.Meta, now))
	}
	return secretTable.print(g.Out, l.ListFlags, rows)
}

// ConfigLsCmd is `agentctl config ls`.
type ConfigLsCmd struct{ ListFlags }

// Run lists configs by name.
func (l *ConfigLsCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	configs, err := c.Configs(context.Background())
	if err != nil {
		return err
	}
	now := nowFunc()
	rows := make([]fileRow, 0, len(configs))
	for _, s := range configs {
		rows = append(rows, fileRowOf(s.ID, s.Spec.Name, s.Spec.Labels, s.Meta, now))
	}
	return configTable.print(g.Out, l.ListFlags, rows)
}

// fileInspect is `inspect [--pretty] REF...`.
type fileInspect struct {
	Pretty bool     `help:"Human-readable output."`
	Format string   `short:"f" help:"Go template applied to each object, e.g. '{{.Spec.Name}}'."`
	Refs   []string `arg:"" name:"ref" help:"Names, IDs or ID prefixes."`
}

// SecretInspectCmd is `agentctl secret inspect`.
type SecretInspectCmd struct{ fileInspect }

// Run prints the secrets, never their data (the agent does not send it).
func (i *SecretInspectCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	out, err := fetchEach(i.Refs, c.Secret)
	if err != nil {
		return err
	}
	if !i.Pretty {
		return printObjects(g.Out, i.Format, out)
	}
	for k, s := range out {
		if k > 0 {
			fmt.Fprintln(g.Out)
		}
		writeFilePretty(g.Out, s.ID, s.Spec.Name, s.Spec.Labels, s.Meta)
		fmt.Fprintln(g.Out, "Driver:")
	}
	return nil
}

// ConfigInspectCmd is `agentctl config inspect`.
type ConfigInspectCmd struct{ fileInspect }

// Run prints the configs with their data.
func (i *ConfigInspectCmd) Run(g *Globals) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	out, err := fetchEach(i.Refs, c.Config)
	if err != nil {
		return err
	}
	if !i.Pretty {
		return printObjects(g.Out, i.Format, out)
	}
	for k, s := range out {
		if k > 0 {
			fmt.Fprintln(g.Out)
		}
		writeFilePretty(g.Out, s.ID, s.Spec.Name, s.Spec.Labels, s.Meta)
		fmt.Fprintf(g.Out, "Data:\n%s", s.Spec.Data)
		if n := len(s.Spec.Data); n > 0 && s.Spec.Data[n-1] != '\n' {
			fmt.Fprintln(g.Out)
		}
	}
	return nil
}

// fetchEach gets the object each ref names, in order, stopping at the
// first error.
func fetchEach[T any](refs []string, get func(context.Context, string) (T, error)) ([]T, error) {
	out := make([]T, 0, len(refs))
	for _, ref := range refs {
		o, err := get(context.Background(), ref)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// writeFilePretty is the part of `inspect --pretty` secrets and configs
// share (docker's layout).
func writeFilePretty(w io.Writer, id, name string, labels map[string]string, m types.Meta) {
	fmt.Fprintf(w, "ID:              %s\n", id)
	fmt.Fprintf(w, "Name:            %s\n", name)
	if len(labels) > 0 {
		fmt.Fprintln(w, "Labels:")
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			fmt.Fprintf(w, " - %s=%s\n", k, labels[k])
		}
	}
	fmt.Fprintf(w, "Created at:      %s\n", m.CreatedAt.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(w, "Updated at:      %s\n", m.UpdatedAt.UTC().Format(time.RFC3339Nano))
}

// fileRm is `rm REF...`.
type fileRm struct {
	Refs []string `arg:"" name:"ref" help:"Names, IDs or ID prefixes."`
}

func (r *fileRm) run(g *Globals, kind api.FileKind) error {
	c, err := g.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range r.Refs {
		if kind == api.KindSecret {
			err = c.SecretRemove(context.Background(), ref)
		} else {
			err = c.ConfigRemove(context.Background(), ref)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(g.Out, ref)
	}
	return errors.Join(errs...)
}

// SecretRmCmd is `agentctl secret rm`.
type SecretRmCmd struct{ fileRm }

// Run removes each secret, going on past failures.
func (r *SecretRmCmd) Run(g *Globals) error { return r.run(g, api.KindSecret) }

// ConfigRmCmd is `agentctl config rm`.
type ConfigRmCmd struct{ fileRm }

// Run removes each config, going on past failures.
func (r *ConfigRmCmd) Run(g *Globals) error { return r.run(g, api.KindConfig) }
