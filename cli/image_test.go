package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// archiveBytes stands for an archive: arbitrary binary content, NULs and
// all, which must reach the agent byte for byte (not JSON-encoded).
func archiveBytes() []byte {
	b := make([]byte, 300<<10)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return append(b, []byte("\x00end of archive\n")...)
}

func TestImageLoadSendsTheRawArchive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.tar")
	if err := os.WriteFile(path, archiveBytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		args  []string
		stdin bool
	}{
		{"file argument", []string{path}, false},
		{"-i FILE", []string{"-i", path}, false},
		{"--input FILE and the same FILE", []string{"--input", path, path}, false},
		{"- reads stdin", []string{"-"}, true},
		{"no argument reads stdin", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, g, out := newFakeAgent(t)
			f.loadNode = "worker2"
			warnings := captureStderr(t)
			if tt.stdin {
				old := stdin
				stdin = bytes.NewReader(archiveBytes())
				t.Cleanup(func() { stdin = old })
			}
			if err := runCtl(t, g, append([]string{"image", "load"}, tt.args...)...); err != nil {
				t.Fatal(err)
			}
			w := f.writes()
			if len(w) != 1 || w[0].String() != "POST /v1/images/load" {
				t.Fatalf("writes = %v, want one POST /v1/images/load", w)
			}
			if !bytes.Equal(w[0].Body, archiveBytes()) {
				t.Errorf("agent got %d bytes, not the %d-byte archive as it is", len(w[0].Body), len(archiveBytes()))
			}
			if want := "Loaded image: registry:5000/web:v2\nLoaded image: registry:5000/api:1.4\n"; out.String() != want {
				t.Errorf("printed %q, want %q", out, want)
			}
			if !strings.HasPrefix(warnings.String(), "Loaded on node worker2 only: images are per node") {
				t.Errorf("stderr %q does not say which node loaded the images", warnings)
			}
		})
	}
}

func TestImageLoadErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.tar")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.tar")
	for _, tt := range []struct {
		args   []string
		want   string
		writes int
	}{
		{[]string{"-i", "a.tar", "b.tar"}, "image load: both -i a.tar and b.tar given: name the archive once", 0},
		{[]string{missing}, "image load: open " + missing + ": no such file or directory", 0},
		// The agent's refusal is shown as it is.
		{[]string{empty}, "load image archive: import image archive: EOF (expected an OCI archive, as `skopeo copy ... oci-archive:FILE` writes)", 1},
	} {
		f, g, out := newFakeAgent(t)
		err := runCtl(t, g, append([]string{"image", "load"}, tt.args...)...)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: err = %v, want %s", tt.args, err, tt.want)
		}
		if len(f.writes()) != tt.writes || out.Len() != 0 {
			t.Errorf("%q: %d writes (want %d), printed %q", tt.args, len(f.writes()), tt.writes, out)
		}
	}
}

func TestImageLoadQuiet(t *testing.T) {
	f, g, out := newFakeAgent(t)
	warnings := captureStderr(t)
	old := stdin
	stdin = strings.NewReader("archive")
	t.Cleanup(func() { stdin = old })
	if err := runCtl(t, g, "image", "load", "-q"); err != nil {
		t.Fatal(err)
	}
	if len(f.writes()) != 1 || out.Len() != 0 || warnings.Len() != 0 {
		t.Errorf("-q: %d writes, printed %q and %q", len(f.writes()), out, warnings)
	}
}
