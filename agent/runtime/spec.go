package runtime

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-org/shoal/api/types"
)

// Spec is one container to create. Fields left empty take the image's
// defaults (docker semantics: Command replaces the Entrypoint and drops the
// image's Cmd, Args replace the Cmd, Env adds to and overrides the image's
// Env by name).
type Spec struct {
	// ID is the container ID, the task ID.
	ID       string
	Image    string
	Command  []string
	Args     []string
	Env      []string
	Dir      string
	User     string
	Hostname string // default: the first 12 characters of ID
	// Mounts are binds (Source an absolute host path that must exist) and
	// named volumes (Source a name; kept under StateDir/volumes/NAME).
	Mounts []types.Mount
	Limits types.Resources
	// NetNSPath is "" for the host network, else a netns file to join.
	NetNSPath string
	// ResolvConf is an optional host file bind-mounted read-only on
	// /etc/resolv.conf (default: the host's with the host network, the
	// image's own in a netns).
	ResolvConf string
	// Hosts is an optional host file bind-mounted read-only on /etc/hosts
	// (default: the host's with the host network, a generated one naming
	// localhost and the hostname in a netns).
	Hosts  string
	Labels map[string]string
	// StopSignal and StopGrace are Stop's defaults for this container.
	StopSignal string
	StopGrace  time.Duration
}

// Labels this package keeps on containers for itself; List and Status hide
// them.
const (
	labelPrefix     = "io.shoal.runtime/"
	labelImage      = labelPrefix + "image"
	labelStopSignal = labelPrefix + "stop-signal"
	labelStopGrace  = labelPrefix + "stop-grace"
)

// DefaultStopGrace is the grace period of a container created without one.
const DefaultStopGrace = 10 * time.Second

// cfsPeriod is the CFS period used for CPU limits, in microseconds
// (docker's default).
const cfsPeriod = 100_000

// processArgs returns the process's argv under docker's rules, or an error
// if neither the image nor the spec names a program.
func processArgs(entrypoint, cmd, command, args []string) ([]string, error) {
	var argv []string // cloned, so that appends never write into the image's arrays
	switch {
	case len(command) > 0:
		argv = append(slices.Clone(command), args...)
	case len(args) > 0:
		argv = append(slices.Clone(entrypoint), args...)
	default:
		argv = append(slices.Clone(entrypoint), cmd...)
	}
	if len(argv) == 0 {
		return nil, errors.New("no command: the image sets no Entrypoint or Cmd and the task names none")
	}
	return argv, nil
}

// cpuQuota converts NanoCPUs into a CFS quota for cfsPeriod; 0 means none.
func cpuQuota(nanoCPUs int64) int64 {
	if nanoCPUs <= 0 {
		return 0
	}
	q := nanoCPUs * cfsPeriod / 1e9
	return max(q, 1000) // the kernel refuses quotas under 1ms
}

// ociMounts turns container id's mounts into OCI mounts; volume resolves a
// volume name to its host directory. A volume without a name is the
// container's own (anonymousVolume), removed with it.
func ociMounts(id string, ms []types.Mount, volume func(string) string) ([]specs.Mount, error) {
	out := make([]specs.Mount, 0, len(ms))
	for i, m := range ms {
		if !filepath.IsAbs(m.Target) {
			return nil, fmt.Errorf("mount target %q: must be an absolute path", m.Target)
		}
		src := m.Source
		switch m.Type {
		case "bind", "":
			if !filepath.IsAbs(src) {
				return nil, fmt.Errorf("bind mount source %q: must be an absolute host path", src)
			}
		case "volume":
			if src == "" {
				src = anonymousVolume(id, i)
			}
			if err := validVolumeName(src); err != nil {
				return nil, err
			}
			src = volume(src)
		case "tmpfs":
			out = append(out, tmpfsMount(m))
			continue
		default:
			return nil, fmt.Errorf("mount %s: unknown type %q (want bind, volume or tmpfs)", m.Target, m.Type)
		}
		opts := []string{"rbind", "rprivate", "rw"}
		if m.ReadOnly {
			opts[2] = "ro"
		}
		out = append(out, specs.Mount{Type: "bind", Source: src, Destination: m.Target, Options: opts})
	}
	return out, nil
}

// tmpfsMount is m as docker mounts a tmpfs: nosuid, nodev and noexec, mode
// 1777 unless m says otherwise, of at most m.TmpfsSize bytes if set.
func tmpfsMount(m types.Mount) specs.Mount {
	mode := m.TmpfsMode
	if mode == 0 {
		mode = 0o1777
	}
	opts := []string{"nosuid", "nodev", "noexec", "mode=" + strconv.FormatUint(uint64(mode), 8)}
	if m.TmpfsSize > 0 {
		opts = append(opts, "size="+strconv.FormatInt(m.TmpfsSize, 10))
	}
	if m.ReadOnly {
		opts = append(opts, "ro")
	}
	return specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, Options: opts}
}

func validVolumeName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("volume name %q: want a plain name without slashes", name)
	}
	return nil
}

// containerLabels merges the user's labels with this package's own.
func containerLabels(s Spec) map[string]string {
	l := make(map[string]string, len(s.Labels)+3)
	maps.Copy(l, s.Labels)
	l[labelImage] = s.Image
	if s.StopSignal != "" {
		l[labelStopSignal] = s.StopSignal
	}
	if s.StopGrace > 0 {
		l[labelStopGrace] = s.StopGrace.String()
	}
	return l
}

// userLabels drops this package's own labels.
func userLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		if !strings.HasPrefix(k, labelPrefix) {
			out[k] = v
		}
	}
	return out
}

// stopDefaults returns the signal and grace Stop uses when it is given
// none: the container's own, else SIGTERM and DefaultStopGrace.
func stopDefaults(l map[string]string, signal string, grace time.Duration) (string, time.Duration) {
	if signal == "" {
		signal = l[labelStopSignal]
	}
	if signal == "" {
		signal = "SIGTERM"
	}
	if grace <= 0 {
		grace = DefaultStopGrace
		if d, err := time.ParseDuration(l[labelStopGrace]); err == nil && d > 0 {
			grace = d
		}
	}
	return signal, grace
}

// hostsFile is the /etc/hosts of a container in its own netns.
func hostsFile(hostname string) []byte {
	return []byte("127.0.0.1\tlocalhost " + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

// defaultHostname is docker's: the ID's first 12 characters.
func defaultHostname(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
