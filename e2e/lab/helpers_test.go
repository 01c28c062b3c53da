package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shoal-org/shoal/internal/testenv"
)

// needRoot skips tests that build real labs unless they can.
func needRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "creates network namespaces and runs containerd")
	if testing.Short() {
		t.Skip("builds a real lab; skipped with -short")
	}
	for _, tool := range []string{"ip", "nft", "nsenter", "setsid", "containerd", "ctr", "docker-registry", "skopeo", "curl", "busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install it (Debian: iproute2 nftables util-linux containerd docker-registry skopeo curl busybox-static)", tool)
		}
	}
}

// newTestLab builds a lab in temp dirs with its own namespace prefix and
// always tears it down at the end of the test.
func newTestLab(t *testing.T, prefix string, o Options) *Lab {
	t.Helper()
	d := t.TempDir()
	o.Config = Config{RunDir: filepath.Join(d, "run"), DataDir: filepath.Join(d, "lib"), Prefix: prefix}
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	t.Cleanup(func() {
		if err := Teardown(o.Config); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	l, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	return l
}

// ping reports whether node ns reaches addr, entering the namespace with
// iproute2 rather than the lab's own code.
func ping(t *testing.T, netns, addr string) bool {
	t.Helper()
	return exec.Command("ip", "netns", "exec", netns, "busybox", "ping", "-c1", "-W1", addr).Run() == nil
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := waitFor(context.Background(), timeout, func() (bool, error) { return cond(), nil }, func() string { return what })
	if err != nil {
		t.Fatal(err)
	}
}

// nodeStatus returns the Status row of one node.
func nodeStatus(t *testing.T, l *Lab, name string) NodeStatus {
	t.Helper()
	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("status has no %s: %+v", name, st)
	return NodeStatus{}
}

// mountsOf returns the mount points under the lab's directories.
func mountsOf(t *testing.T, c Config) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return append(mountsUnder(string(b), c.RunDir), mountsUnder(string(b), c.DataDir)...)
}

// busyboxArchive writes an OCI archive of a one-layer image holding the
// static busybox, entrypoint busybox, and returns its path.
func busyboxArchive(t *testing.T) string {
	t.Helper()
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	must(t, lw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}))
	must(t, lw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))}))
	_, err = lw.Write(bb)
	must(t, err)
	must(t, lw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"}))
	must(t, lw.Close())

	blobs := map[string][]byte{}
	desc := func(mediaType string, b []byte) map[string]any {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[d] = b
		return map[string]any{"mediaType": mediaType, "digest": d, "size": len(b)}
	}
	layerDesc := desc("application/vnd.oci.image.layer.v1.tar", layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{"Entrypoint": []string{"/bin/busybox"}, "Cmd": []string{"sleep", "1000"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []any{layerDesc["digest"]}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc("application/vnd.oci.image.config.v1+json", config),
		"layers": []any{layerDesc},
	})
	mdesc := desc("application/vnd.oci.image.manifest.v1+json", manifest)
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{mdesc}})

	path := filepath.Join(t.TempDir(), "busybox.oci.tar")
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	w := tar.NewWriter(f)
	put := func(name string, b []byte) {
		must(t, w.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))}))
		_, err := w.Write(b)
		must(t, err)
	}
	put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	put("index.json", index)
	for d, b := range blobs {
		put("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b)
	}
	must(t, w.Close())
	return path
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
