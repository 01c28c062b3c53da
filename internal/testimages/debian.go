package testimages

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// debFormatVersion changes whenever the way Debian-based images are built
// changes, so that cached archives of an older recipe are rebuilt.
const debFormatVersion = "1"

// DefaultAppCacheDir is where BuildApps keeps its archives unless told
// otherwise; it outlives labs, so that every lab reuses one build.
const DefaultAppCacheDir = "/var/cache/shoal-lab/images"

// debImage is an image built from Debian packages with mmdebstrap.
type debImage struct {
	name       string   // repository name, e.g. "redis"
	packages   []string // installed with their dependencies, no recommends
	tagPackage string   // the package whose upstream major version is the tag
	// files are written into the root filesystem (path → content) after the
	// packages are installed; they may name the image's tag and version.
	files func(tag, version string) map[string]string
	// script is shell run after the files are in, the root filesystem in $1.
	script string
	config func(tag string) runConfig
}

// pkgVersion is one package apt would install.
type pkgVersion struct{ name, version, sha256 string }

// debBuild is what one image build needs and is keyed by.
type debBuild struct {
	img      debImage
	suite    string
	sources  string // what mmdebstrap is given as its mirror argument
	pkgs     []pkgVersion
	tag      string
	version  string // the tag package's Debian version
	files    map[string]string
	cacheKey string
}

// planDebImage resolves img's packages with the host's apt-cache (no
// network) and computes the cache key: the candidate version and .deb hash
// of every package in the dependency closure, the sources, the suite, the
// files, the script and the image config.
func planDebImage(ctx context.Context, img debImage, suite, sources string) (debBuild, error) {
	pkgs, err := aptClosure(ctx, img.packages)
	if err != nil {
		return debBuild{}, fmt.Errorf("image %s: %w", img.name, err)
	}
	b := debBuild{img: img, suite: suite, sources: sources, pkgs: pkgs}
	for _, p := range pkgs {
		if p.name == img.tagPackage {
			b.version = p.version
		}
	}
	if b.version == "" {
		return debBuild{}, fmt.Errorf("image %s: apt-cache has no candidate for %s (run apt-get update)", img.name, img.tagPackage)
	}
	b.tag = upstreamMajor(b.version)
	b.files = img.files(b.tag, b.version)
	h := sha256.New()
	fmt.Fprintf(h, "format %s\narch %s\nsuite %s\nsources %q\nscript %q\n", debFormatVersion, runtime.GOARCH, suite, sources, img.script)
	for _, p := range pkgs {
		fmt.Fprintf(h, "pkg %s %s %s\n", p.name, p.version, p.sha256)
	}
	for _, p := range slices.Sorted(maps.Keys(b.files)) {
		fmt.Fprintf(h, "file %s %q\n", p, b.files[p])
	}
	cfg, err := json.Marshal(img.config(b.tag))
	if err != nil {
		return debBuild{}, err
	}
	h.Write(cfg)
	b.cacheKey = hex.EncodeToString(h.Sum(nil))[:16]
	return b, nil
}

// upstreamMajor is the first number of a Debian version's upstream part:
// "5:7.0.15-1~deb12u10" → "7".
func upstreamMajor(v string) string {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.IndexAny(v, ".-+~"); i > 0 {
		v = v[:i]
	}
	return v
}

// aptClosure lists the candidate of every package in the dependency closure
// of pkgs (depends and pre-depends, every alternative), sorted by name.
func aptClosure(ctx context.Context, pkgs []string) ([]pkgVersion, error) {
	args := append([]string{"depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
		"--no-breaks", "--no-replaces", "--no-enhances"}, pkgs...)
	out, err := exec.CommandContext(ctx, "apt-cache", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache depends %s: %w (is apt installed and apt-get update run?)", strings.Join(pkgs, " "), err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "<") {
			names = append(names, l)
		}
	}
	out, err = exec.CommandContext(ctx, "apt-cache", append([]string{"show", "--no-all-versions"}, names...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache show: %w", err)
	}
	vs := parseAptShow(out)
	sort.Slice(vs, func(i, j int) bool { return vs[i].name < vs[j].name })
	return vs, nil
}

// parseAptShow reads Package, Version and SHA256 of each stanza.
func parseAptShow(out []byte) []pkgVersion {
	var vs []pkgVersion
	var cur pkgVersion
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	flush := func() {
		if cur.name != "" {
			vs = append(vs, cur)
		}
		cur = pkgVersion{}
	}
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "":
			flush()
		case strings.HasPrefix(l, "Package: "):
			cur.name = strings.TrimPrefix(l, "Package: ")
		case strings.HasPrefix(l, "Version: "):
			cur.version = strings.TrimPrefix(l, "Version: ")
		case strings.HasPrefix(l, "SHA256: "):
			cur.sha256 = strings.TrimPrefix(l, "SHA256: ")
		}
	}
	flush()
	return vs
}

// hostSources returns the suite and the mirror argument for mmdebstrap:
// $SHOAL_DEBIAN_SOURCES (a sources file or a "deb URI SUITE COMPONENTS"
// line) if set, else the host's Debian sources, else deb.debian.org; the
// suite is the host's release code name (bookworm if unknown).
func hostSources() (suite, sources string) {
	suite = "bookworm"
	if osr, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(osr), "\n") {
			if v, ok := strings.CutPrefix(l, "VERSION_CODENAME="); ok && strings.Trim(v, `"`) != "" {
				suite = strings.Trim(v, `"`)
			}
		}
	}
	if s := os.Getenv("SHOAL_DEBIAN_SOURCES"); s != "" {
		return suite, s
	}
	for _, f := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		if st, err := os.Stat(f); err == nil && st.Size() > 0 {
			return suite, f
		}
	}
	return suite, "http://deb.debian.org/debian"
}

// lockDir takes an exclusive lock on dir/.lock, blocking until other
// builders let go; the returned func releases it.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// removeLeftovers deletes what an interrupted build left in dir (work
// directories, half-written archives); the caller holds dir's lock. A work
// directory with anything mounted under it is kept: removing it could
// reach into the mounted file system.
func removeLeftovers(dir string, logf logfFunc) {
	left, _ := filepath.Glob(filepath.Join(dir, ".build-*"))
	tmp, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, p := range append(left, tmp...) {
		if bytes.Contains(mounts, []byte(" "+p+"/")) {
			logf("app images: %s has mounts under it (a killed mmdebstrap?); unmount them and remove it", p)
			continue
		}
		os.RemoveAll(p)
	}
}

// archivePath is where build b's archive lives in dir.
func (b debBuild) archivePath(dir string) string {
	return filepath.Join(dir, b.img.name+"_"+b.tag+"-"+b.cacheKey+".oci.tar")
}

// removeStale deletes archives of b's image other than keep.
func (b debBuild) removeStale(dir, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, b.img.name+"_*.oci.tar"))
	for _, p := range old {
		if p != keep {
			os.Remove(p)
		}
	}
}

// logfFunc is a printf-like progress logger.
type logfFunc func(format string, args ...any)

// buildDebImage makes b's archive in dir unless it is there already.
func buildDebImage(ctx context.Context, b debBuild, dir string, logf logfFunc) (Image, error) {
	img := Image{Name: b.img.name, Tag: b.tag, Path: b.archivePath(dir)}
	if _, err := os.Stat(img.Path); err == nil {
		logf("image %s: cached (%s)", img.Ref(), img.Path)
		return img, nil
	}
	start := time.Now()
	logf("image %s: building from Debian %s packages %s with mmdebstrap", img.Ref(), b.suite, strings.Join(b.img.packages, " "))
	work, err := os.MkdirTemp(dir, ".build-"+b.img.name+"-")
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", img.Ref(), err)
	}
	defer os.RemoveAll(work)
	installed, err := mmdebstrap(ctx, b, work)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", img.Ref(), err)
	}
	rootfs, err := os.Open(filepath.Join(work, "rootfs.tar"))
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", img.Ref(), err)
	}
	defer rootfs.Close()
	lay, err := rootfsLayer(rootfs, filepath.Join(work, "layer.tar.gz"))
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", img.Ref(), err)
	}
	cfg := b.img.config(b.tag)
	cfg.Labels = map[string]string{
		"org.opencontainers.image.version": installed[b.img.tagPackage],
		"org.opencontainers.image.title":   b.img.name,
		"org.opencontainers.image.source":  "Debian " + b.suite + " packages " + strings.Join(b.img.packages, " "),
	}
	def := imageDef{name: b.img.name, tag: b.tag, arch: runtime.GOARCH, config: cfg, layer: lay,
		comment: "Debian " + b.suite + ": " + strings.Join(b.img.packages, " ")}
	if err := writeFileAtomic(img.Path, func(f *os.File) error { return writeArchive(f, def) }); err != nil {
		return Image{}, fmt.Errorf("image %s: %w", img.Ref(), err)
	}
	b.removeStale(dir, img.Path)
	logf("image %s: built in %v (layer %.1f MB compressed)", img.Ref(), time.Since(start).Round(time.Second), float64(lay.blob.desc.Size)/1e6)
	return img, nil
}

// errNoMmdebstrap is returned when mmdebstrap is not installed.
var errNoMmdebstrap = errors.New("mmdebstrap is not installed (apt-get install mmdebstrap, or run scripts/deps.sh)")
