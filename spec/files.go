package spec

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/shoal-org/shoal/api/types"
)

// Secrets and configs (docker's rules).
const (
	// MaxFileNameLen is the longest secret or config name.
	MaxFileNameLen = 64
	// MaxFileSize is the largest secret or config payload: 500 KiB, as
	// docker.
	MaxFileSize = 500 << 10
	// SecretsDir is where a secret's file goes when its target is a bare
	// name (docker's /run/secrets).
	SecretsDir = types.SecretsDir
	// DefaultFileMode is a secret's or config's file mode when none is
	// given.
	DefaultFileMode = types.DefaultFileMode
)

var fileName = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?$`)

// ValidateFileName checks the name of a secret or config (kind says
// which): 1-64 letters, digits, '_', '.' or '-', starting and ending with
// a letter or digit.
func ValidateFileName(kind, name string) error {
	if len(name) > MaxFileNameLen || !fileName.MatchString(name) {
		return invalid(kind+" name", name, "is not a valid "+kind+" name",
			fmt.Sprintf("use 1-%d letters, digits, '_', '.' or '-', starting and ending with a letter or digit", MaxFileNameLen))
	}
	return nil
}

// ValidateFileData checks a secret's or config's payload size.
func ValidateFileData(kind, name string, data []byte) error {
	switch {
	case len(data) == 0:
		return invalid(kind+" data", name, "is empty", "give the "+kind+" some content")
	case len(data) > MaxFileSize:
		return invalid(kind+" data", name, fmt.Sprintf("is %d bytes", len(data)),
			fmt.Sprintf("keep it at most %d bytes (500 KiB), as docker does", MaxFileSize))
	}
	return nil
}

// checkFiles checks a spec's secret and config references on their own:
// valid names, clean absolute targets that no two files share, numeric
// owners, permission bits only. Whether the objects exist is the
// cluster's check (the agent's, and the store's).
func checkFiles(s *types.ServiceSpec) error {
	targets := map[string]string{}
	for _, k := range []struct {
		kind string
		refs []types.FileRef
	}{{"secret", s.Task.Secrets}, {"config", s.Task.Configs}} {
		for _, r := range k.refs {
			if err := ValidateFileName(k.kind, r.Name); err != nil {
				return err
			}
			if err := cleanAbs(k.kind+" target", r.Target); err != nil {
				return err
			}
			if other, ok := targets[r.Target]; ok {
				return invalid(k.kind+" target", r.Target, "is also the target of "+other,
					"give each secret and config a target of its own (target=PATH)")
			}
			targets[r.Target] = fmt.Sprintf("%s %q", k.kind, r.Name)
			for _, id := range []struct{ field, v string }{{"uid", r.UID}, {"gid", r.GID}} {
				if _, err := strconv.ParseUint(id.v, 10, 32); err != nil {
					return invalid(k.kind+" "+id.field, id.v, "is not a number", "use a numeric ID such as 0 or 1000")
				}
			}
			if r.Mode&^0o777 != 0 {
				return invalid(k.kind+" mode", fmt.Sprintf("%#o", r.Mode), "has bits beyond the permissions", "use an octal mode such as 0400 or 0444")
			}
		}
	}
	return nil
}
