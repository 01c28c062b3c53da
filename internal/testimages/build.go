// Package testimages builds the lab's container images without Docker or
// network access: a tiny static Go HTTP server (the web/ subdirectory)
// compiled with the local Go toolchain and wrapped into OCI archives
// ("oci-archive" as skopeo names the format: a tar of an OCI image layout).
//
// Images: web:v1, web:v2, web:v3 (answer GET / with their version),
// crash:latest (exits 1 at once) and unhealthy:latest (GET /health is 500).
// web and unhealthy carry a docker-style Healthcheck in their image config
// that runs `/web -check http://127.0.0.1/health`.
//
// Builds are reproducible: fixed file times and owners, -trimpath and an
// empty build ID, so the same Go toolchain yields the same digests.
//
// BuildApps (apps.go) makes the application images redis:7 and nginx:1
// from Debian packages with mmdebstrap (debian.go, mmdebstrap.go), packed
// with the same OCI code around a root filesystem layer (rootfs.go) and
// cached by the packages' versions.
package testimages

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// webSource is the server's source; it is compiled in a throw-away module so
// that Build works wherever a Go toolchain is, not only inside this tree.
//
//go:embed web/main.go
var webSource []byte

// formatVersion changes whenever the archive layout written here changes, so
// that cached archives of an older layout are rebuilt.
const formatVersion = "1"

// stampName is the cache stamp kept beside the archives.
const stampName = "testimages.stamp"

// Image is one built image archive.
type Image struct {
	Name string // repository name, e.g. "web"
	Tag  string // e.g. "v1"
	Path string // the oci-archive file
}

// Ref is the short reference NAME:TAG.
func (i Image) Ref() string { return i.Name + ":" + i.Tag }

// HealthcheckURL is what the web binary's -check mode probes in the images
// that carry a healthcheck.
const HealthcheckURL = "http://127.0.0.1/health"

// variant is one image: which binary version and which mode.
type variant struct {
	name, tag, version, mode string
	healthcheck              bool
}

var variants = []variant{
	{"web", "v1", "v1", "serve", true},
	{"web", "v2", "v2", "serve", true},
	{"web", "v3", "v3", "serve", true},
	{"crash", "latest", "v1", "crash", false},
	{"unhealthy", "latest", "v1", "unhealthy", true},
}

// Build writes one oci-archive per test image into dir (created if needed)
// and returns them in a fixed order: web:v1, web:v2, web:v3, crash:latest,
// unhealthy:latest. If dir already holds all archives, built from the same
// server source by the same Go version and archive format (recorded in a
// stamp file), nothing is compiled. Build is not safe to call concurrently
// on the same dir from several processes; archives are replaced atomically.
func Build(ctx context.Context, dir string) ([]Image, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("test images: %w", err)
	}
	goBin, err := goTool()
	if err != nil {
		return nil, err
	}
	goVersion, err := goEnv(ctx, goBin, "GOVERSION")
	if err != nil {
		return nil, err
	}
	imgs := make([]Image, len(variants))
	for i, v := range variants {
		imgs[i] = Image{Name: v.name, Tag: v.tag, Path: filepath.Join(dir, v.name+"_"+v.tag+".oci.tar")}
	}
	stamp := cacheKey(goVersion)
	if cached(dir, stamp, imgs) {
		return imgs, nil
	}
	// A stale stamp must not vouch for half-rewritten archives.
	if err := os.Remove(filepath.Join(dir, stampName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("test images: %w", err)
	}
	binaries := map[string][]byte{}
	for i, v := range variants {
		bin, ok := binaries[v.version]
		if !ok {
			if bin, err = compileWeb(ctx, goBin, v.version, dir); err != nil {
				return nil, err
			}
			binaries[v.version] = bin
		}
		lay, err := binaryLayer(bin)
		if err != nil {
			return nil, fmt.Errorf("test image %s: %w", imgs[i].Ref(), err)
		}
		if err := writeFileAtomic(imgs[i].Path, func(f *os.File) error {
			return writeArchive(f, imageDef{name: v.name, tag: v.tag, arch: runtime.GOARCH, config: v.runConfig(), layer: lay})
		}); err != nil {
			return nil, fmt.Errorf("test image %s: %w", imgs[i].Ref(), err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, stampName), []byte(stamp+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("test images: %w", err)
	}
	return imgs, nil
}

// runConfig is the image config of variant v.
func (v variant) runConfig() runConfig {
	rc := runConfig{
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		Env:          []string{"PATH=/", "WEB_MODE=" + v.mode},
		Entrypoint:   []string{"/web"},
		Cmd:          []string{"-listen", ":80"},
		WorkingDir:   "/",
		Labels:       map[string]string{"org.opencontainers.image.version": v.version},
		StopSignal:   "SIGTERM",
	}
	if v.healthcheck {
		rc.Healthcheck = &healthConfig{
			Test:     []string{"CMD", "/web", "-check", HealthcheckURL},
			Interval: time.Second, Timeout: 3 * time.Second, Retries: 3,
		}
	}
	return rc
}

// cacheKey names everything the archives depend on.
func cacheKey(goVersion string) string {
	h := sha256.New()
	fmt.Fprintf(h, "format %s\ngo %s\narch %s\n", formatVersion, goVersion, runtime.GOARCH)
	h.Write(webSource)
	return hex.EncodeToString(h.Sum(nil))
}

func cached(dir, stamp string, imgs []Image) bool {
	got, err := os.ReadFile(filepath.Join(dir, stampName))
	if err != nil || strings.TrimSpace(string(got)) != stamp {
		return false
	}
	for _, img := range imgs {
		if _, err := os.Stat(img.Path); err != nil {
			return false
		}
	}
	return true
}

// goTool finds the go command: the one on PATH, else the toolchain this
// program was built with.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("test images: the go command is not on PATH (a Go toolchain is needed to build the web server)")
}

func goEnv(ctx context.Context, goBin, key string) (string, error) {
	cmd := exec.CommandContext(ctx, goBin, "env", key)
	cmd.Env = buildEnv("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w: %s", key, err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// buildEnv is the environment for the go command: a static linux binary for
// this machine's architecture, no toolchain downloads, no workspace.
func buildEnv(cacheDir string) []string {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH,
		"GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
	if os.Getenv("GOCACHE") == "" && os.Getenv("HOME") == "" && os.Getenv("XDG_CACHE_HOME") == "" && cacheDir != "" {
		env = append(env, "GOCACHE="+cacheDir)
	}
	return env
}

// compileWeb builds the server with the given version baked in and returns
// the binary.
func compileWeb(ctx context.Context, goBin, version, dir string) ([]byte, error) {
	src, err := os.MkdirTemp("", "shoal-testweb-")
	if err != nil {
		return nil, fmt.Errorf("build web %s: %w", version, err)
	}
	defer os.RemoveAll(src)
	gomod := "module shoal.test/web\n\ngo 1.22\n"
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, fmt.Errorf("build web %s: %w", version, err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), webSource, 0o644); err != nil {
		return nil, fmt.Errorf("build web %s: %w", version, err)
	}
	out := filepath.Join(src, "web")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", out,
		"-ldflags", "-s -w -buildid= -X main.version="+version, ".")
	cmd.Dir = src
	cmd.Env = buildEnv(filepath.Join(dir, ".gocache"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build web %s: %w: %s", version, err, bytes.TrimSpace(msg))
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("build web %s: %w", version, err)
	}
	return bin, nil
}

// writeFileAtomic writes path through a temporary file in the same
// directory, so that readers never see a partial archive.
func writeFileAtomic(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
