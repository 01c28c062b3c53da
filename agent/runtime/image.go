package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"

	"github.com/shoal-org/shoal/api/types"
)

// ImageInfo describes a local image and the defaults its config sets.
type ImageInfo struct {
	// Ref is the normalised name, e.g. docker.io/library/web:v1.
	Ref string
	// Digest is the manifest (or index) digest the name points at.
	Digest string
	// Healthcheck is the image's HEALTHCHECK, nil if it has none (or NONE).
	Healthcheck *types.HealthConfig
	Env         []string
	Entrypoint  []string
	Cmd         []string
	WorkingDir  string
	User        string
	// StopSignal is the image's STOPSIGNAL, "" if unset.
	StopSignal string
}

// ImageError is a user-facing pull error. It unwraps to its Kind
// (ErrImageNotFound, ErrRegistryUnreachable or ErrUnauthorized) and to the
// underlying error.
type ImageError struct {
	Ref      string // as the user wrote it
	Registry string // host[:port]
	Kind     error
	Err      error

	withCreds bool // the pull had credentials (ErrUnauthorized's two messages)
}

func (e *ImageError) Error() string {
	switch {
	case errors.Is(e.Kind, ErrImageNotFound):
		return fmt.Sprintf("image %q: not found in registry %s", e.Ref, e.Registry)
	case errors.Is(e.Kind, ErrUnauthorized) && !e.withCreds:
		return fmt.Sprintf("image %q: registry %s asks for an account: log in to it (docker login %s) and create or update the service with --with-registry-auth",
			e.Ref, e.Registry, e.Registry)
	case errors.Is(e.Kind, ErrUnauthorized):
		return fmt.Sprintf("image %q: registry %s refused the service's credentials: log in again (docker login %s) and update the service with --with-registry-auth",
			e.Ref, e.Registry, e.Registry)
	case e.Err != nil && strings.Contains(e.Err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("registry %s unreachable: it speaks plain HTTP; list it among the insecure registries", e.Registry)
	default:
		return fmt.Sprintf("registry %s unreachable: %v", e.Registry, e.Err)
	}
}

// Unwrap returns the kind and the cause.
func (e *ImageError) Unwrap() []error { return []error{e.Kind, e.Err} }

// NormalizeRef turns a user's image reference into containerd's full name
// (web:v1 → docker.io/library/web:v1, a missing tag → :latest).
func NormalizeRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return named.String(), nil
}

// EnsureImage makes image ref available and unpacked for the snapshotter:
// an image already in containerd is reused (never re-pulled: tags are taken
// as immutable), otherwise it is pulled once, whatever the number of
// concurrent callers (a shared pull runs under the first caller's ctx).
// Registries in Config.InsecureRegistries are reached over plain HTTP,
// others over HTTPS with the system's roots. Errors a user can act on are
// *ImageError, matching ErrImageNotFound, ErrRegistryUnreachable or
// ErrUnauthorized. creds, when set, is the account a pull presents to the
// image's registry (a service's --with-registry-auth); otherwise the
// agent's own (Config.Auth) is.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, creds *Credential) (ImageInfo, error) {
	img, err := r.ensureImage(ctx, ref, creds)
	if err != nil {
		return ImageInfo{}, err
	}
	return r.imageInfo(r.nsCtx(ctx), img)
}

func (r *Runtime) ensureImage(ctx context.Context, ref string, creds *Credential) (containerd.Image, error) {
	name, err := NormalizeRef(ref)
	if err != nil {
		return nil, err
	}
	ctx = r.nsCtx(ctx)
	v, err, _ := r.pulls.Do(name, func() (any, error) {
		img, err := r.client.GetImage(ctx, name)
		switch {
		case err == nil:
			return img, r.unpack(ctx, img)
		case !errdefs.IsNotFound(err):
			return nil, fmt.Errorf("look up image %s: %w", name, err)
		}
		return r.pull(ctx, ref, name, creds)
	})
	if err != nil {
		return nil, err
	}
	return v.(containerd.Image), nil
}

func (r *Runtime) unpack(ctx context.Context, img containerd.Image) error {
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil {
		return fmt.Errorf("check unpack of %s: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
		return fmt.Errorf("unpack %s for %s: %w", img.Name(), r.cfg.Snapshotter, err)
	}
	return nil
}

func (r *Runtime) pull(ctx context.Context, ref, name string, creds *Credential) (containerd.Image, error) {
	named, _ := reference.ParseDockerRef(name)
	host := reference.Domain(named)
	start := time.Now()
	img, err := r.client.Pull(ctx, name, containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(r.cfg.Snapshotter), containerd.WithResolver(r.resolverWith(creds)))
	if err != nil {
		err = classifyPullError(ref, host, err)
		if ie, ok := err.(*ImageError); ok {
			ie.withCreds = creds != nil || r.cfg.Auth[host] != (Credential{})
		}
		return nil, err
	}
	r.log.Info("pulled image", "ref", name, "digest", img.Target().Digest, "took", time.Since(start).Round(time.Millisecond))
	return img, nil
}

// classifyPullError maps a pull failure to what a user can act on.
func classifyPullError(ref, host string, err error) error {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
	)
	switch {
	case unauthorized(err):
		return &ImageError{Ref: ref, Registry: host, Kind: ErrUnauthorized, Err: err}
	case errdefs.IsNotFound(err):
		return &ImageError{Ref: ref, Registry: host, Kind: ErrImageNotFound, Err: err}
	case errors.As(err, &opErr), errors.As(err, &dnsErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		// net/http reports an HTTPS request answered in plain HTTP only as
		// text; it is the usual mistake with a lab registry.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return &ImageError{Ref: ref, Registry: host, Kind: ErrRegistryUnreachable, Err: err}
	default:
		return fmt.Errorf("pull image %q: %w", ref, err)
	}
}

// unauthorized says whether a pull failed on the registry's account check
// (containerd's resolver reports it as text only).
func unauthorized(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "401 Unauthorized") || strings.Contains(msg, "no basic auth credentials") ||
		strings.Contains(msg, "pull access denied") || strings.Contains(msg, "authorization failed")
}

// resolver builds a registry resolver from the config: plain HTTP for the
// insecure registries, basic/token auth from Config.Auth.
func (r *Runtime) resolver() remotes.Resolver { return r.resolverWith(nil) }

// resolverWith is resolver with creds, when set, for every registry (a
// pull reaches one registry: its image's).
func (r *Runtime) resolverWith(creds *Credential) remotes.Resolver {
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
	}}
	credsFor := func(host string) (string, string, error) {
		if creds != nil {
			if creds.IdentityToken != "" {
				return "", creds.IdentityToken, nil // containerd's authorizer: empty user, token as secret
			}
			return creds.User, creds.Password, nil
		}
		c := r.cfg.Auth[host]
		return c.User, c.Password, nil
	}
	hosts := docker.ConfigureDefaultRegistries(
		docker.WithClient(client),
		docker.WithPlainHTTP(func(host string) (bool, error) {
			return slices.Contains(r.cfg.InsecureRegistries, host), nil
		}),
		docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthClient(client), docker.WithAuthCreds(credsFor))),
	)
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
}

// imageConfigFile is the part of a docker/OCI image config read here;
// Healthcheck is docker's extension, absent from the OCI schema.
type imageConfigFile struct {
	Config struct {
		User        string
		Env         []string
		Entrypoint  []string
		Cmd         []string
		WorkingDir  string
		StopSignal  string
		Healthcheck *types.HealthConfig
	} `json:"config"`
}

func (r *Runtime) imageInfo(ctx context.Context, img containerd.Image) (ImageInfo, error) {
	desc, err := img.Config(ctx)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %s config: %w", img.Name(), err)
	}
	p, err := content.ReadBlob(ctx, img.ContentStore(), desc)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("read image %s config: %w", img.Name(), err)
	}
	return parseImageConfig(img.Name(), img.Target().Digest.String(), p)
}

// parseImageConfig reads an image config blob into ImageInfo.
func parseImageConfig(name, digest string, p []byte) (ImageInfo, error) {
	var f imageConfigFile
	if err := json.Unmarshal(p, &f); err != nil {
		return ImageInfo{}, fmt.Errorf("decode image %s config: %w", name, err)
	}
	c := f.Config
	hc := c.Healthcheck
	if hc != nil && (len(hc.Test) == 0 || hc.Test[0] == "NONE") {
		hc = nil
	}
	return ImageInfo{
		Ref: name, Digest: digest, Healthcheck: hc,
		Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
		WorkingDir: c.WorkingDir, User: c.User, StopSignal: c.StopSignal,
	}, nil
}

// ImportArchive loads an OCI archive (a tar of an OCI image layout, as
// written by `skopeo copy … oci-archive:` or testimages) and unpacks every
// image in it for the snapshotter. Images are named by the index's
// io.containerd.image.name annotation, else by its
// org.opencontainers.image.ref.name; unnamed ones are loaded but not
// returned. It returns the names of the loaded images.
func (r *Runtime) ImportArchive(ctx context.Context, rd io.Reader) ([]string, error) {
	ctx = r.nsCtx(ctx)
	imgs, err := r.client.Import(ctx, rd)
	if err != nil {
		return nil, fmt.Errorf("import image archive: %w", err)
	}
	names := make([]string, 0, len(imgs))
	for _, i := range imgs {
		img := containerd.NewImage(r.client, i)
		if err := r.unpack(ctx, img); err != nil {
			return names, fmt.Errorf("import image archive: %w", err)
		}
		names = append(names, i.Name)
	}
	return names, nil
}
