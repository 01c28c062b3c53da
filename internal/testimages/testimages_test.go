package testimages

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	buildOnce sync.Once
	buildDir  string
	built     []Image
	buildErr  error
)

// images builds the archives once for the whole package.
func images(t *testing.T) []Image {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "testimages-")
		if buildErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			built, buildErr = Build(ctx, buildDir)
		}
	})
	if buildErr != nil {
		t.Fatalf("Build: %v", buildErr)
	}
	return built
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// layout is an oci-archive read back into memory.
type layout struct {
	files map[string][]byte
	index ocispec.Index
}

func readLayout(t *testing.T, path string) layout {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := layout{files: map[string][]byte{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		l.files[hdr.Name] = data
	}
	mustJSON(t, l.files["index.json"], &l.index)
	return l
}

// blob returns the blob for desc after checking its digest and size.
func (l layout) blob(t *testing.T, desc ocispec.Descriptor) []byte {
	t.Helper()
	data, ok := l.files["blobs/sha256/"+desc.Digest.Encoded()]
	if !ok {
		t.Fatalf("blob %s missing", desc.Digest)
	}
	if digest.FromBytes(data) != desc.Digest || int64(len(data)) != desc.Size {
		t.Fatalf("blob %s: digest or size mismatch", desc.Digest)
	}
	return data
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

// layerFiles unpacks the single layer of the image into name → header+data.
func layerFiles(t *testing.T, l layout, m ocispec.Manifest) map[string]*tar.Header {
	t.Helper()
	if len(m.Layers) != 1 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("want one gzip layer, got %+v", m.Layers)
	}
	zr, err := gzip.NewReader(bytes.NewReader(l.blob(t, m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tar.Header{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = hdr
	}
}

func TestBuildWritesOCIArchives(t *testing.T) {
	imgs := images(t)
	want := []string{"web:v1", "web:v2", "web:v3", "crash:latest", "unhealthy:latest"}
	if len(imgs) != len(want) {
		t.Fatalf("got %d images, want %d", len(imgs), len(want))
	}
	for i, img := range imgs {
		if img.Ref() != want[i] {
			t.Fatalf("image %d = %s, want %s", i, img.Ref(), want[i])
		}
		l := readLayout(t, img.Path)
		if string(l.files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
			t.Errorf("%s: oci-layout = %q", img.Ref(), l.files["oci-layout"])
		}
		if len(l.index.Manifests) != 1 {
			t.Fatalf("%s: %d manifests in index", img.Ref(), len(l.index.Manifests))
		}
		md := l.index.Manifests[0]
		if got := md.Annotations[ocispec.AnnotationRefName]; got != img.Tag {
			t.Errorf("%s: ref.name = %q, want %q", img.Ref(), got, img.Tag)
		}
		if got := md.Annotations[AnnotationImageName]; got != FullName(img.Name, img.Tag) {
			t.Errorf("%s: image.name = %q", img.Ref(), got)
		}
		var m ocispec.Manifest
		mustJSON(t, l.blob(t, md), &m)
		var cfg imageConfig
		mustJSON(t, l.blob(t, m.Config), &cfg)
		checkConfig(t, img, cfg)
		files := layerFiles(t, l, m)
		if h := files["web"]; h == nil || h.Mode != 0o755 || h.Size < 1<<20 {
			t.Errorf("%s: /web missing or wrong: %+v", img.Ref(), h)
		}
		for _, name := range []string{"etc/passwd", "etc/hosts", "etc/group", "tmp/"} {
			if files[name] == nil {
				t.Errorf("%s: %s missing from layer", img.Ref(), name)
			}
		}
		var raw []byte
		zr, _ := gzip.NewReader(bytes.NewReader(l.blob(t, m.Layers[0])))
		raw, _ = io.ReadAll(zr)
		if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != digest.FromBytes(raw) {
			t.Errorf("%s: diff_id does not match the uncompressed layer", img.Ref())
		}
	}
}

func checkConfig(t *testing.T, img Image, cfg imageConfig) {
	t.Helper()
	c := cfg.Config
	if strings.Join(c.Entrypoint, " ") != "/web" {
		t.Errorf("%s: Entrypoint = %q", img.Ref(), c.Entrypoint)
	}
	mode := map[string]string{"web": "serve", "crash": "crash", "unhealthy": "unhealthy"}[img.Name]
	if !contains(c.Env, "WEB_MODE="+mode) {
		t.Errorf("%s: Env = %q, want WEB_MODE=%s", img.Ref(), c.Env, mode)
	}
	if img.Name == "crash" {
		if c.Healthcheck != nil {
			t.Errorf("crash image has a healthcheck")
		}
		return
	}
	hc := c.Healthcheck
	if hc == nil || strings.Join(hc.Test, " ") != "CMD /web -check "+HealthcheckURL || hc.Interval <= 0 || hc.Retries <= 0 {
		t.Errorf("%s: Healthcheck = %+v", img.Ref(), hc)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestBuildIsCachedAndReproducible: a second Build reuses the archives, and a
// forced rebuild yields byte-identical archives.
func TestBuildIsCachedAndReproducible(t *testing.T) {
	imgs := images(t)
	before := map[string][]byte{}
	stat := map[string]time.Time{}
	for _, img := range imgs {
		data, err := os.ReadFile(img.Path)
		if err != nil {
			t.Fatal(err)
		}
		before[img.Path] = data
		fi, _ := os.Stat(img.Path)
		stat[img.Path] = fi.ModTime()
	}
	ctx := context.Background()
	if _, err := Build(ctx, buildDir); err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		fi, err := os.Stat(img.Path)
		if err != nil || !fi.ModTime().Equal(stat[img.Path]) {
			t.Errorf("%s was rewritten by a cached Build", img.Ref())
		}
	}
	if err := os.Remove(filepath.Join(buildDir, stampName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(ctx, buildDir); err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		data, err := os.ReadFile(img.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, before[img.Path]) {
			t.Errorf("%s: rebuild is not byte-identical", img.Ref())
		}
	}
}

// TestSkopeoReadsArchive proves the archives are in the format skopeo reads.
func TestSkopeoReadsArchive(t *testing.T) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo not installed")
	}
	img := images(t)[1]
	out, err := exec.Command("skopeo", "--insecure-policy", "inspect", "--raw", "oci-archive:"+img.Path).Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v", err)
	}
	l := readLayout(t, img.Path)
	if digest.FromBytes(out) != l.index.Manifests[0].Digest {
		t.Fatalf("skopeo read manifest %s, index names %s", digest.FromBytes(out), l.index.Manifests[0].Digest)
	}
}
