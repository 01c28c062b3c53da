package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/plugin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Create creates container s.ID from s without starting it, pulling the
// image if needed (see EnsureImage). The image's STOPSIGNAL becomes the
// container's stop signal unless s names one. It is idempotent: if a container with
// that ID already exists with the same image, Create returns nil and changes
// nothing; with another image it returns an error matching ErrConflict.
func (r *Runtime) Create(ctx context.Context, s Spec) error {
	if err := identifiers.Validate(s.ID); err != nil {
		return fmt.Errorf("create container %q: %w", s.ID, err)
	}
	name, err := NormalizeRef(s.Image)
	if err != nil {
		return fmt.Errorf("create container %s: %w", s.ID, err)
	}
	ctx = r.nsCtx(ctx)
	if c, err := r.client.LoadContainer(ctx, s.ID); err == nil {
		info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
		if err != nil {
			return fmt.Errorf("create container %s: %w", s.ID, err)
		}
		if info.Image != name {
			return fmt.Errorf("create container %s with image %s: it exists with image %s: %w", s.ID, name, info.Image, ErrConflict)
		}
		return nil
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("create container %s: %w", s.ID, err)
	}
	img, err := r.ensureImage(ctx, s.Image, nil)
	if err != nil {
		return fmt.Errorf("create container %s: %w", s.ID, err)
	}
	info, err := r.imageInfo(ctx, img)
	if err != nil {
		return fmt.Errorf("create container %s: %w", s.ID, err)
	}
	// From the volumes' directories to the container that names them,
	// RemoveVolume waits: it must see either no directory or the container.
	r.volumes.RLock()
	defer r.volumes.RUnlock()
	opts, err := r.specOpts(s, img, info)
	if err != nil {
		return fmt.Errorf("create container %s: %w", s.ID, err)
	}
	if s.StopSignal == "" {
		s.StopSignal = info.StopSignal
	}
	// A snapshot left by a create that died half-way would block this one.
	r.removeSnapshot(ctx, s.ID)
	_, err = r.client.NewContainer(ctx, s.ID,
		containerd.WithImage(img),
		containerd.WithSnapshotter(r.cfg.Snapshotter),
		containerd.WithNewSnapshot(s.ID, img),
		containerd.WithRuntime(plugin.RuntimeRuncV2, nil),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(containerLabels(s)),
	)
	if err != nil {
		// Cleanup must run even when ctx is what ended the create.
		r.removeSnapshot(context.WithoutCancel(ctx), s.ID)
		return fmt.Errorf("create container %s: %w", s.ID, err)
	}
	r.log.Debug("created container", "id", s.ID, "image", name)
	return nil
}

func (r *Runtime) removeSnapshot(ctx context.Context, key string) {
	err := r.client.SnapshotService(r.cfg.Snapshotter).Remove(ctx, key)
	if err != nil && !errdefs.IsNotFound(err) {
		r.log.Warn("remove snapshot", "key", key, "err", err)
	}
}

// specOpts turns s into OCI spec options on top of the image's config.
func (r *Runtime) specOpts(s Spec, img containerd.Image, info ImageInfo) ([]oci.SpecOpts, error) {
	argv, err := processArgs(info.Entrypoint, info.Cmd, s.Command, s.Args)
	if err != nil {
		return nil, err
	}
	hostname := s.Hostname
	if hostname == "" {
		hostname = defaultHostname(s.ID)
	}
	opts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs(argv...), oci.WithHostname(hostname)}
	if len(s.Env) > 0 {
		opts = append(opts, oci.WithEnv(s.Env))
	}
	if s.Dir != "" {
		opts = append(opts, oci.WithProcessCwd(s.Dir))
	}
	if s.User != "" {
		opts = append(opts, oci.WithUser(s.User), oci.WithAdditionalGIDs(s.User))
	}
	mounts, err := ociMounts(s.ID, s.Mounts, r.VolumePath)
	if err != nil {
		return nil, err
	}
	if err := r.prepareMountSources(s, mounts); err != nil {
		return nil, err
	}
	netOpts, netMounts, err := r.networkOpts(s, hostname)
	if err != nil {
		return nil, err
	}
	opts = append(opts, netOpts...)
	if mounts = append(mounts, netMounts...); len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	if q := cpuQuota(s.Limits.NanoCPUs); q > 0 {
		opts = append(opts, oci.WithCPUCFS(q, cfsPeriod))
	}
	if s.Limits.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(s.Limits.MemoryBytes)))
	}
	return opts, nil
}

// prepareMountSources creates named volumes and checks that bind sources
// exist, so that the error names the path rather than failing in runc.
func (r *Runtime) prepareMountSources(s Spec, mounts []specs.Mount) error {
	for i, m := range s.Mounts {
		src := mounts[i].Source
		switch m.Type {
		case "volume":
			if err := os.MkdirAll(src, 0o755); err != nil {
				return fmt.Errorf("volume %s: %w", filepath.Base(src), err)
			}
			continue
		case "tmpfs":
			continue
		}
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("bind mount source %s: %w (create it on the node or fix the mount)", src, err)
		}
	}
	return nil
}

// networkOpts joins s.NetNSPath, or the host network when it is empty, and
// returns the /etc/hosts and /etc/resolv.conf mounts that go with it.
func (r *Runtime) networkOpts(s Spec, hostname string) ([]oci.SpecOpts, []specs.Mount, error) {
	var (
		opts   []oci.SpecOpts
		mounts []specs.Mount
	)
	ro := []string{"rbind", "rprivate", "ro"}
	if s.NetNSPath == "" {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
		if s.Hosts == "" {
			opts = append(opts, oci.WithHostHostsFile)
		}
		if s.ResolvConf == "" {
			opts = append(opts, oci.WithHostResolvconf)
		}
	} else {
		if _, err := os.Stat(s.NetNSPath); err != nil {
			return nil, nil, fmt.Errorf("network namespace %s: %w", s.NetNSPath, err)
		}
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNSPath}))
		if s.Hosts == "" {
			hosts := r.hostsPath(s.ID)
			if err := os.WriteFile(hosts, hostsFile(hostname), 0o644); err != nil {
				return nil, nil, fmt.Errorf("write hosts file: %w", err)
			}
			mounts = append(mounts, specs.Mount{Type: "bind", Source: hosts, Destination: "/etc/hosts", Options: ro})
		}
	}
	for _, f := range []struct{ src, dst string }{{s.Hosts, "/etc/hosts"}, {s.ResolvConf, "/etc/resolv.conf"}} {
		if f.src == "" {
			continue
		}
		if _, err := os.Stat(f.src); err != nil {
			return nil, nil, fmt.Errorf("%s for container %s: %w", f.dst, s.ID, err)
		}
		mounts = append(mounts, specs.Mount{Type: "bind", Source: f.src, Destination: f.dst, Options: ro})
	}
	return opts, mounts, nil
}

// Remove deletes container id: it kills the task if it still runs, then
// deletes the task, the container and its snapshot. The log file stays (the
// agent deletes it when it forgets the task). Removing a container that
// does not exist is not an error.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	ctx = r.nsCtx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		if err := r.removeAnonymousVolumes(id); err != nil {
			return err
		}
		return r.removeHosts(id)
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	defer r.locks.lock(id)()
	task, err := c.Task(ctx, nil)
	switch {
	case err == nil:
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: delete task: %w", id, err)
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("remove container %s: load task: %w", id, err)
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	r.log.Debug("removed container", "id", id)
	if err := r.removeAnonymousVolumes(id); err != nil {
		return err
	}
	return r.removeHosts(id)
}

func (r *Runtime) removeHosts(id string) error {
	if err := os.Remove(r.hostsPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove hosts file of %s: %w", id, err)
	}
	return nil
}
