package testimages

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// needAppBuild skips unless BuildApps can run here: root, mmdebstrap, and
// the Debian mirror reachable.
func needAppBuild(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: building the Debian-based images takes a minute")
	}
	if os.Geteuid() != 0 {
		t.Skip("building images with mmdebstrap needs root (run the test as root)")
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("mmdebstrap is not installed (apt-get install mmdebstrap, or scripts/deps.sh)")
	}
	if reason := MirrorUnreachable(); reason != "" {
		t.Skip(reason)
	}
}

// layerContents is every entry of an image's single layer, with the data
// of the regular files no bigger than 64 KiB.
func layerContents(t *testing.T, l layout, m ocispec.Manifest, cfg imageConfig) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(l.blob(t, m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	raw := digest.Canonical.Digester()
	tr := tar.NewReader(io.TeeReader(zr, raw.Hash()))
	hdrs, data := map[string]*tar.Header{}, map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs[hdr.Name] = hdr
		if hdr.Typeflag == tar.TypeReg && hdr.Size <= 64<<10 {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			data[hdr.Name] = string(b)
		}
	}
	io.Copy(io.Discard, zr)
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != raw.Digest() {
		t.Errorf("diff_ids %v do not match the uncompressed layer %s", cfg.RootFS.DiffIDs, raw.Digest())
	}
	return hdrs, data
}

// TestBuildApps builds redis and nginx (or finds them cached) in the shared
// cache (so that repeated runs reuse it; $SHOAL_APP_IMAGE_CACHE moves it),
// checks their
// configs and filesystems, and that a second build reuses the archives.
func TestBuildApps(t *testing.T) {
	needAppBuild(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	imgs, err := BuildApps(ctx, "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BuildApps took %v", time.Since(start).Round(time.Millisecond))
	if len(imgs) != 2 || imgs[0].Name != "redis" || imgs[1].Name != "nginx" {
		t.Fatalf("images = %+v, want redis then nginx", imgs)
	}
	for _, img := range imgs {
		t.Run(img.Name, func(t *testing.T) { checkAppArchive(t, img) })
	}
	mtimes := map[string]time.Time{}
	for _, img := range imgs {
		fi, err := os.Stat(img.Path)
		if err != nil {
			t.Fatal(err)
		}
		mtimes[img.Path] = fi.ModTime()
	}
	var logs []string
	again, err := BuildApps(ctx, "", func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) })
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range again {
		fi, err := os.Stat(img.Path)
		if img != imgs[i] || err != nil || !fi.ModTime().Equal(mtimes[img.Path]) {
			t.Errorf("second build of %s did not reuse %s: %+v, %v", img.Ref(), imgs[i].Path, img, err)
		}
		if i >= len(logs) || !strings.Contains(logs[i], img.Ref()+": cached") {
			t.Errorf("second build logged %q, want %s cached", logs, img.Ref())
		}
	}
}

func checkAppArchive(t *testing.T, img Image) {
	l := readLayout(t, img.Path)
	md := l.index.Manifests[0]
	if md.Annotations[AnnotationImageName] != FullName(img.Name, img.Tag) {
		t.Errorf("image.name = %q", md.Annotations[AnnotationImageName])
	}
	var m ocispec.Manifest
	mustJSON(t, l.blob(t, md), &m)
	var cfg imageConfig
	mustJSON(t, l.blob(t, m.Config), &cfg)
	c := cfg.Config
	if !contains(c.Env, debianPath) || c.Labels["org.opencontainers.image.version"] == "" {
		t.Errorf("Env %q, Labels %v", c.Env, c.Labels)
	}
	t.Logf("%s: layer %.1f MB compressed, version %s", img.Ref(), float64(m.Layers[0].Size)/1e6, c.Labels["org.opencontainers.image.version"])
	hdrs, data := layerContents(t, l, m, cfg)
	for name := range hdrs {
		if strings.HasSuffix(name, "/") || name == "var/lib/apt/lists/lock" { // kept empty, as in Debian's own images
			continue
		}
		if strings.HasPrefix(name, "usr/share/man/") || strings.HasPrefix(name, "var/lib/apt/lists/") ||
			strings.HasSuffix(name, "changelog.Debian.gz") || strings.HasPrefix(name, "./") {
			t.Errorf("layer holds %s, which the trim should have left out", name)
		}
		if h := hdrs[name]; h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
			t.Errorf("layer holds device node %s", name)
		}
	}
	switch img.Name {
	case "redis":
		checkRedis(t, c, hdrs, data)
	case "nginx":
		checkNginx(t, img, c, hdrs, data)
	}
}

func checkRedis(t *testing.T, c runConfig, hdrs map[string]*tar.Header, data map[string]string) {
	if strings.Join(c.Cmd, " ") != "redis-server /etc/redis/redis.conf" || c.WorkingDir != "/data" {
		t.Errorf("Cmd %q WorkingDir %q", c.Cmd, c.WorkingDir)
	}
	if _, ok := c.ExposedPorts["6379/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v", c.ExposedPorts)
	}
	if hc := c.Healthcheck; hc == nil || strings.Join(hc.Test, " ") != "CMD redis-cli ping" {
		t.Errorf("Healthcheck = %+v", hc)
	}
	conf := data["etc/redis/redis.conf"]
	for _, line := range []string{"bind 0.0.0.0", "protected-mode no", "daemonize no", "dir /data", `logfile ""`} {
		if !strings.Contains(conf, "\n"+line+"\n") {
			t.Errorf("redis.conf lacks %q:\n%s", line, conf)
		}
	}
	for _, name := range []string{"usr/bin/redis-server", "usr/bin/redis-cli", "data/", "bin"} {
		if hdrs[name] == nil {
			t.Errorf("layer lacks %s", name)
		}
	}
}

func checkNginx(t *testing.T, img Image, c runConfig, hdrs map[string]*tar.Header, data map[string]string) {
	if strings.Join(c.Cmd, " ") != "nginx -g daemon off;" || c.StopSignal != "SIGQUIT" || c.Healthcheck != nil {
		t.Errorf("Cmd %q StopSignal %q Healthcheck %+v", c.Cmd, c.StopSignal, c.Healthcheck)
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v", c.ExposedPorts)
	}
	if page := data["var/www/html/index.html"]; !strings.Contains(page, "nginx:"+img.Tag) {
		t.Errorf("index.html does not name the image: %q", page)
	}
	if !strings.Contains(data["etc/nginx/sites-available/default"], "listen 80 default_server;") {
		t.Errorf("default site: %q", data["etc/nginx/sites-available/default"])
	}
	for name, target := range map[string]string{"var/log/nginx/access.log": "/dev/stdout", "var/log/nginx/error.log": "/dev/stderr"} {
		if h := hdrs[name]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != target {
			t.Errorf("%s is not a link to %s: %+v", name, target, h)
		}
	}
	if hdrs["usr/sbin/nginx"] == nil {
		t.Errorf("layer lacks usr/sbin/nginx")
	}
}

func TestUpstreamMajor(t *testing.T) {
	for in, want := range map[string]string{"5:7.0.15-1~deb12u10": "7", "1.22.1-9+deb12u12": "1", "12": "12", "2:1.0+dfsg-1": "1"} {
		if got := upstreamMajor(in); got != want {
			t.Errorf("upstreamMajor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAptShow(t *testing.T) {
	out := "Package: a\nVersion: 1.0\nDescription: x\n y\nSHA256: aa\n\nPackage: b\nVersion: 2:3-1\nSHA256: bb\n"
	got := parseAptShow([]byte(out))
	want := []pkgVersion{{"a", "1.0", "aa"}, {"b", "2:3-1", "bb"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parseAptShow = %v, want %v", got, want)
	}
}

// TestRootfsLayer: names lose "./", device nodes go, links and data stay,
// and the digests describe what was written.
func TestRootfsLayer(t *testing.T) {
	var src bytes.Buffer
	tw := tar.NewWriter(&src)
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./dev/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
		{Name: "./etc/motd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2},
		{Name: "./etc/motd2", Typeflag: tar.TypeLink, Linkname: "./etc/motd"},
		{Name: "./bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hi"))
		}
	}
	tw.Close()
	dst := t.TempDir() + "/layer.gz"
	lay, err := rootfsLayer(&src, dst)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if lay.blob.desc.Digest != digest.FromBytes(gz) || lay.blob.desc.Size != int64(len(gz)) || lay.blob.path != dst {
		t.Fatalf("blob %+v does not describe %s", lay.blob.desc, dst)
	}
	zr, _ := gzip.NewReader(bytes.NewReader(gz))
	raw, _ := io.ReadAll(zr)
	if lay.diffID != digest.FromBytes(raw) {
		t.Errorf("diffID %s, want %s", lay.diffID, digest.FromBytes(raw))
	}
	var got []string
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got = append(got, h.Name+">"+h.Linkname)
	}
	want := "dev/> etc/motd> etc/motd2>etc/motd bin>usr/bin"
	if strings.Join(got, " ") != want {
		t.Errorf("entries %q, want %q", strings.Join(got, " "), want)
	}
}

// TestRemoveLeftovers: work dirs and half-written archives go, archives stay.
func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{".build-redis-1/rootfs/etc", ".tmp-nginx_1.oci.tar-2"} {
		if err := os.MkdirAll(dir+"/"+p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(dir+"/redis_7-abc.oci.tar", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	removeLeftovers(dir, t.Logf)
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "redis_7-abc.oci.tar" {
		t.Fatalf("left %v, want only the archive", ents)
	}
}
