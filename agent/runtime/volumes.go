package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/errdefs"
)

// Volumes. A named volume is a directory under StateDir/volumes, created by
// the first container that mounts it (docker's local driver) and kept when
// the container goes: data outlives the task that wrote it. A volume
// without a name (type=volume with no source) belongs to one container,
// named after it (anonymousVolume), and goes with it. Whether a volume is
// in use is read from the containers' own OCI specs, so containers created
// by an older agent count too.

// Volume is a volume on this node.
type Volume struct {
	Name       string
	Mountpoint string
	CreatedAt  time.Time
	// Containers are the IDs of the containers that mount it, running or
	// not, sorted.
	Containers []string
}

// ErrVolumeNotFound is returned by RemoveVolume for a volume this node does
// not have.
var ErrVolumeNotFound = errors.New("no such volume")

// VolumeInUseError is RemoveVolume's refusal: containers mount the volume.
type VolumeInUseError struct {
	Name       string
	Containers []string
}

func (e *VolumeInUseError) Error() string {
	return fmt.Sprintf("volume %s is in use by container(s) %s", e.Name, strings.Join(e.Containers, ", "))
}

// anonymousVolume names the volume of container id's i-th mount when the
// mount names none.
func anonymousVolume(id string, i int) string { return id + "-" + strconv.Itoa(i) }

// isAnonymousOf says whether volume name is one of container id's own.
func isAnonymousOf(name, id string) bool {
	rest, ok := strings.CutPrefix(name, id+"-")
	if !ok || rest == "" {
		return false
	}
	_, err := strconv.ParseUint(rest, 10, 16)
	return err == nil
}

func (r *Runtime) volumesDir() string { return filepath.Join(r.cfg.StateDir, "volumes") }

// Volumes lists this node's volumes with the containers that mount them.
func (r *Runtime) Volumes(ctx context.Context) ([]Volume, error) {
	users, err := r.volumeUsers(ctx)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(r.volumesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := make([]Volume, 0, len(ents))
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		v := Volume{Name: e.Name(), Mountpoint: r.VolumePath(e.Name()), Containers: users[e.Name()]}
		if fi, err := e.Info(); err == nil {
			v.CreatedAt = fi.ModTime().UTC()
		}
		out = append(out, v)
	}
	return out, nil
}

// RemoveVolume deletes volume name and its data, unless a container (running
// or not) mounts it: then it returns a *VolumeInUseError and changes
// nothing. A create that is making the volume waits for it, or it for the
// create.
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	if err := validVolumeName(name); err != nil {
		return err
	}
	r.volumes.Lock()
	defer r.volumes.Unlock()
	path := r.VolumePath(name)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("volume %s: %w", name, ErrVolumeNotFound)
	}
	users, err := r.volumeUsers(ctx)
	if err != nil {
		return err
	}
	if cs := users[name]; len(cs) > 0 {
		return &VolumeInUseError{Name: name, Containers: cs}
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	r.log.Info("removed volume", "name", name)
	return nil
}

// removeAnonymousVolumes deletes container id's own volumes.
func (r *Runtime) removeAnonymousVolumes(id string) error {
	ents, err := os.ReadDir(r.volumesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove the volumes of %s: %w", id, err)
	}
	for _, e := range ents {
		if isAnonymousOf(e.Name(), id) {
			if err := os.RemoveAll(filepath.Join(r.volumesDir(), e.Name())); err != nil {
				return fmt.Errorf("remove volume %s of %s: %w", e.Name(), id, err)
			}
		}
	}
	return nil
}

// volumeUsers maps each volume that a container mounts to those
// containers' IDs, sorted, from the containers' OCI specs.
func (r *Runtime) volumeUsers(ctx context.Context) (map[string][]string, error) {
	ctx = r.nsCtx(ctx)
	cs, err := r.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	dir := r.volumesDir() + string(filepath.Separator)
	users := map[string][]string{}
	for _, c := range cs {
		spec, err := c.Spec(ctx)
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("spec of container %s: %w", c.ID(), err)
		}
		for _, m := range spec.Mounts {
			if name, ok := strings.CutPrefix(m.Source, dir); ok && !strings.Contains(name, "/") {
				users[name] = append(users[name], c.ID())
			}
		}
	}
	for name := range users {
		slices.Sort(users[name])
		users[name] = slices.Compact(users[name])
	}
	return users, nil
}
