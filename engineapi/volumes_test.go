package engineapi

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/internal/fault"
)

// volumeBackend is a fake whose node has volumes data (used by web.1.t1)
// and cache (unused).
type volumeBackend struct {
	*fakeBackend
	vols    []api.Volume
	removed []string
}

func (b *volumeBackend) Volumes(_ context.Context, o api.VolumeOptions) (api.VolumeList, error) {
	if !o.Local {
		return api.VolumeList{}, fault.Invalidf("the Engine API lists this node's volumes only")
	}
	return api.VolumeList{Volumes: slices.Clone(b.vols)}, nil
}

func (b *volumeBackend) VolumeRemove(_ context.Context, name string, o api.VolumeOptions) (api.VolumeRemoveResponse, error) {
	i := slices.IndexFunc(b.vols, func(v api.Volume) bool { return v.Name == name })
	switch {
	case !o.Local:
		return api.VolumeRemoveResponse{}, fault.Invalidf("the Engine API removes this node's volumes only")
	case i < 0:
		return api.VolumeRemoveResponse{}, &fault.Error{Kind: fault.NotFound, Msg: "no volume " + name + " on n1"}
	case len(b.vols[i].UsedBy) > 0:
		return api.VolumeRemoveResponse{}, fault.Conflictf("volume %s is in use by %s on n1", name, b.vols[i].UsedBy[0])
	}
	b.vols = slices.Delete(b.vols, i, i+1)
	b.removed = append(b.removed, name)
	return api.VolumeRemoveResponse{Nodes: []string{"n1"}}, nil
}

// TestDockerVolumes: docker volume ls, inspect and rm, with the real docker
// CLI, over this node's volumes.
func TestDockerVolumes(t *testing.T) {
	created := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, bin := range dockerCLIs() {
		t.Run(bin, func(t *testing.T) {
			b := &volumeBackend{fakeBackend: newFake(), vols: []api.Volume{
				{Name: "cache", Driver: "local", Scope: "local", NodeHostname: "n1", Mountpoint: "/var/lib/shoal/volumes/cache", CreatedAt: created},
				{Name: "data", Driver: "local", Scope: "local", NodeHostname: "n1", Mountpoint: "/var/lib/shoal/volumes/data", UsedBy: []string{"web.1.t1"}},
			}}
			docker := dockerEnvFor(t, b, bin)
			out, err := docker("volume", "ls", "--format", "{{.Driver}} {{.Name}}")
			if err != nil || out != "local cache\nlocal data\n" {
				t.Errorf("docker volume ls: %v\n%s", err, out)
			}
			out, err = docker("volume", "ls", "-q", "--filter", "dangling=true")
			if err != nil || out != "cache\n" {
				t.Errorf("docker volume ls dangling: %v\n%s", err, out)
			}
			out, err = docker("volume", "inspect", "--format", "{{.Mountpoint}} {{.Status.Node}} {{.CreatedAt}}", "cache")
			if err != nil || out != "/var/lib/shoal/volumes/cache n1 2026-12-04T10:00:00Z\n" {
				t.Errorf("docker volume inspect: %v\n%s", err, out)
			}
			if out, err := docker("volume", "rm", "data"); err == nil || !strings.Contains(out, "volume data is in use by web.1.t1") {
				t.Errorf("docker volume rm of a volume in use: %v\n%s", err, out)
			}
			if out, err := docker("volume", "rm", "cache"); err != nil || out != "cache\n" {
				t.Errorf("docker volume rm: %v\n%s", err, out)
			}
			if out, err := docker("volume", "rm", "cache"); err == nil || !strings.Contains(out, "no volume cache") {
				t.Errorf("docker volume rm of a removed volume: %v\n%s", err, out)
			}
			if out, err := docker("volume", "rm", "-f", "cache"); err != nil {
				t.Errorf("docker volume rm -f of a missing volume: %v\n%s", err, out)
			}
			if !slices.Equal(b.removed, []string{"cache"}) {
				t.Errorf("removed %v, want cache only", b.removed)
			}
		})
	}
}

// TestDockerLoginAndRegistryAuth: docker login asks the engine, which
// answers from the registry; the login the CLI then stores travels with
// docker service create --with-registry-auth.
func TestDockerLoginAndRegistryAuth(t *testing.T) {
	for _, bin := range dockerCLIs() {
		t.Run(bin, func(t *testing.T) {
			b := newFake()
			docker := dockerEnv(t, b, bin)
			if out, err := docker("login", "-u", "deploy", "-p", "wrong", "reg:5001"); err == nil || !strings.Contains(out, "incorrect username or password") {
				t.Fatalf("docker login with a wrong password: %v\n%s", err, out)
			}
			if out, err := docker("login", "-u", "deploy", "--password-stdin", "reg:5001"); err == nil {
				t.Fatalf("docker login without a password on stdin succeeded:\n%s", out)
			}
			if out, err := docker("login", "-u", "deploy", "-p", "s3cret", "reg:5001"); err != nil || !strings.Contains(out, "Login Succeeded") {
				t.Fatalf("docker login: %v\n%s", err, out)
			}
			if out, err := docker("service", "create", "--detach", "--with-registry-auth", "--name", "private", "--no-resolve-image", "reg:5001/web:v1"); err != nil {
				t.Fatalf("service create --with-registry-auth: %v\n%s", err, out)
			}
			if !slices.Contains(b.calls, "registry auth private deploy@reg:5001 <nil>") {
				t.Errorf("the backend got %q, want the stored login with the create", b.calls)
			}
		})
	}
}
