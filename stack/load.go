package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	ctypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// ErrInvalid marks a compose file or stack name that cannot be deployed.
var ErrInvalid = errors.New("invalid stack")

// stackName is what docker accepts as a stack name; it prefixes every
// object of the stack, so it must fit in service and network names.
var stackName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// LoadOptions says which compose files make a stack and where variables
// come from.
type LoadOptions struct {
	// Files are merged in order, later ones overriding earlier ones, as
	// with docker's repeated -c. "-" is not accepted: a file gives the
	// directory that relative paths and .env are read from.
	Files []string
	// Name is the stack's name (the namespace of its objects).
	Name string
	// Env is the environment interpolated into the files (os.Environ()
	// form); a .env file beside the first compose file adds to it, the
	// environment winning.
	Env []string
}

// Load reads, interpolates, merges and validates the compose files, and
// returns the warnings compose-go gave on the way (a variable that is not
// set, …). An error wraps ErrInvalid and carries compose-go's message,
// which names the file and the field. compose-go logs its warnings with
// logrus's standard logger, which Load takes over while it runs: do not
// call it concurrently with other users of that logger.
func Load(ctx context.Context, o LoadOptions) (*ctypes.Project, []string, error) {
	var warnings []string
	restore := captureLogrus(func(msg string) {
		// docker stack deploy reads version "3" files as their own format;
		// telling their authors to drop the line would be wrong here.
		if !strings.Contains(msg, "the attribute `version` is obsolete") {
			warnings = append(warnings, msg)
		}
	})
	p, err := load(ctx, o)
	restore()
	return p, warnings, err
}

func load(ctx context.Context, o LoadOptions) (*ctypes.Project, error) {
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	if len(o.Files) == 0 {
		return nil, fmt.Errorf("%w: no compose file: give one with -c FILE", ErrInvalid)
	}
	for _, f := range o.Files {
		if f == "-" {
			return nil, fmt.Errorf("%w: -c -: reading a compose file from stdin is not served: write it to a file (its directory is where .env and relative paths are read)", ErrInvalid)
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%w: compose file %s: %w", ErrInvalid, f, err)
		}
	}
	wd, err := filepath.Abs(filepath.Dir(o.Files[0]))
	if err != nil {
		return nil, fmt.Errorf("compose file %s: %w", o.Files[0], err)
	}
	opts, err := cli.NewProjectOptions(o.Files,
		cli.WithName(projectName(o.Name)),
		cli.WithWorkingDirectory(wd),
		cli.WithEnv(o.Env),
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithResolvedPaths(true),
		cli.WithLoadOptions(func(lo *loader.Options) {
			// A stack deploys every service, whatever its profiles.
			lo.Profiles = []string{"*"}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		if where := locateShortPort(o.Files); where != "" && isPortError(err) {
			return nil, fmt.Errorf("%w: %s (use ports between 1 and 65535)", ErrInvalid, where)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return p, nil
}

// CheckName refuses a stack name docker would refuse.
func CheckName(name string) error {
	if !stackName.MatchString(name) {
		return fmt.Errorf("%w: stack name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// projectName is the stack's name as compose-go accepts it (lower case);
// the objects' names use the stack name as given, not this.
func projectName(name string) string {
	return loader.NormalizeProjectName(name)
}

// logHook hands each warning compose-go logs to a function.
type logHook func(string)

func (h logHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h logHook) Fire(e *logrus.Entry) error {
	h(e.Message)
	return nil
}

// captureLogrus sends the standard logger's warnings to f instead of
// stderr until the returned function is called.
func captureLogrus(f func(string)) (restore func()) {
	l := logrus.StandardLogger()
	out := l.Out
	l.SetOutput(io.Discard)
	old := l.ReplaceHooks(logrus.LevelHooks{})
	l.AddHook(logHook(f))
	return func() {
		l.ReplaceHooks(old)
		l.SetOutput(out)
	}
}

// Build loads the compose files and converts them into stack o.Name: the
// warnings of both steps, then the stack, or the first error.
func Build(ctx context.Context, o LoadOptions) (Stack, []string, error) {
	p, warnings, err := Load(ctx, o)
	if err != nil {
		return Stack{Name: o.Name}, warnings, err
	}
	st, more, err := Convert(p, o.Name)
	return st, append(warnings, more...), err
}

// isPortError tells the errors of docker's port parser, which name the
// value but not the service.
func isPortError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"Invalid hostPort", "Invalid containerPort", "Invalid proto", "Invalid ranges", "Invalid ip address"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
