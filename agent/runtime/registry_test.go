package runtime

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-org/shoal/internal/testenv"
)

// archiveManifestDigest reads the manifest digest an oci-archive's index
// names.
func archiveManifestDigest(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("index.json not found in %s: %v", path, err)
		}
		if hdr.Name != "index.json" {
			continue
		}
		var idx ocispec.Index
		b, _ := io.ReadAll(tr)
		if err := json.Unmarshal(b, &idx); err != nil || len(idx.Manifests) != 1 {
			t.Fatalf("index.json: %v", err)
		}
		return idx.Manifests[0].Digest.String()
	}
}

// closedPort returns a loopback host:port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestEnsureImageFromRegistry pulls from a real registry over plain HTTP
// and checks the errors a user sees.
func TestEnsureImageFromRegistry(t *testing.T) {
	d := testenv.Containerd(t)
	reg := testenv.Registry(t)
	ctx := context.Background()
	img := testenv.Image(t, "web:v1")
	ref := reg.Push(t, "web:v1")
	closed := closedPort(t)
	r := newRuntime(t, d, t.TempDir(), reg.Host, closed)

	info, err := r.EnsureImage(ctx, ref, nil)
	mustNoErr(t, "EnsureImage "+ref, err)
	if want := archiveManifestDigest(t, img.Path); info.Digest != want || info.Ref != ref {
		t.Fatalf("pulled %s %s, want %s %s", info.Ref, info.Digest, ref, want)
	}
	if info.Healthcheck == nil || len(info.Healthcheck.Test) != 4 {
		t.Fatalf("healthcheck lost on the way through the registry: %+v", info.Healthcheck)
	}
	// The pulled image is unpacked: a container can be made from it.
	mustNoErr(t, "Create from pulled image", r.Create(ctx, Spec{ID: "pulled-1", Image: ref, NetNSPath: testenv.NetNS(t)}))
	mustNoErr(t, "Remove", r.Remove(ctx, "pulled-1"))
	// Reused, not pulled again: works with the registry gone.
	reg.Stop()
	if again, err := r.EnsureImage(ctx, ref, nil); err != nil || again.Digest != info.Digest {
		t.Fatalf("EnsureImage of a present image with the registry down = %+v, %v", again, err)
	}

	missing := closed + "/web:v1"
	_, err = r.EnsureImage(ctx, missing, nil)
	var ie *ImageError
	if !errors.Is(err, ErrRegistryUnreachable) || !errors.As(err, &ie) ||
		!strings.HasPrefix(err.Error(), "registry "+closed+" unreachable: ") {
		t.Fatalf("EnsureImage from a closed port = %v, want ErrRegistryUnreachable", err)
	}
}

func TestEnsureImageErrorsFromLiveRegistry(t *testing.T) {
	d := testenv.Containerd(t)
	reg := testenv.Registry(t)
	ctx := context.Background()
	reg.Push(t, "web:v1")

	r := newRuntime(t, d, t.TempDir(), reg.Host)
	ref := reg.Host + "/web:v9"
	_, err := r.EnsureImage(ctx, ref, nil)
	want := `image "` + ref + `": not found in registry ` + reg.Host
	if !errors.Is(err, ErrImageNotFound) || err.Error() != want {
		t.Fatalf("EnsureImage of an unknown tag = %v, want %q matching ErrImageNotFound", err, want)
	}

	// The same registry, not declared insecure: HTTPS meets plain HTTP.
	strict := newRuntime(t, d, t.TempDir())
	_, err = strict.EnsureImage(ctx, reg.Host+"/web:v1", nil)
	if !errors.Is(err, ErrRegistryUnreachable) || !strings.Contains(err.Error(), "insecure registries") {
		t.Fatalf("EnsureImage over HTTPS from a plain-HTTP registry = %v", err)
	}
}

// TestDistribution asks a real registry what a reference names, without
// pulling: the manifest digest the archive pushed, its platform from the
// image config, and the errors of an unknown tag.
func TestDistribution(t *testing.T) {
	d := testenv.Containerd(t)
	reg := testenv.Registry(t)
	ctx := context.Background()
	img := testenv.Image(t, "web:v1")
	ref := reg.Push(t, "web:v1")
	r := newRuntime(t, d, t.TempDir(), reg.Host)

	desc, plats, err := r.Distribution(ctx, ref)
	mustNoErr(t, "Distribution "+ref, err)
	if want := archiveManifestDigest(t, img.Path); desc.Digest.String() != want || desc.Size == 0 {
		t.Fatalf("descriptor %+v, want digest %s", desc, want)
	}
	if len(plats) != 1 || plats[0].OS != "linux" || plats[0].Architecture == "" {
		t.Fatalf("platforms %+v", plats)
	}
	if _, err := r.client.GetImage(ctx, ref); err == nil {
		t.Fatalf("Distribution pulled %s", ref)
	}
	if _, _, err := r.Distribution(ctx, reg.Host+"/web:v9"); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("Distribution of an unknown tag = %v, want ErrImageNotFound", err)
	}
}

// TestEnsureImageWithCredentials pulls from a registry that asks for an
// account: refused without one and with a wrong password (each with the
// fix in the message), pulled with the right one.
func TestEnsureImageWithCredentials(t *testing.T) {
	d := testenv.Containerd(t)
	reg := testenv.RegistryWithUser(t, &testenv.RegistryUser{Name: "deploy", Password: "s3cret"})
	ctx := context.Background()
	ref := reg.Push(t, "web:v1")
	r := newRuntime(t, d, t.TempDir(), reg.Host)

	_, err := r.EnsureImage(ctx, ref, nil)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "asks for an account: log in to it (docker login "+reg.Host+") and create or update the service with --with-registry-auth") {
		t.Fatalf("EnsureImage without credentials = %v, want ErrUnauthorized saying how to log in", err)
	}
	_, err = r.EnsureImage(ctx, ref, &Credential{User: "deploy", Password: "wrong"})
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "refused the service's credentials") {
		t.Fatalf("EnsureImage with a wrong password = %v, want ErrUnauthorized", err)
	}
	info, err := r.EnsureImage(ctx, ref, &Credential{User: "deploy", Password: "s3cret"})
	if err != nil || info.Ref != ref {
		t.Fatalf("EnsureImage with the account = %+v, %v", info, err)
	}

	// docker login's check, against the same registry and one that asks
	// for no account.
	if err := r.CheckLogin(ctx, reg.Host, Credential{User: "deploy", Password: "s3cret"}); err != nil {
		t.Errorf("CheckLogin with the account: %v", err)
	}
	if err := r.CheckLogin(ctx, reg.Host, Credential{User: "deploy", Password: "wrong"}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("CheckLogin with a wrong password: %v, want ErrUnauthorized", err)
	}
	open := testenv.Registry(t)
	r2 := newRuntime(t, d, t.TempDir(), open.Host)
	if err := r2.CheckLogin(ctx, open.Host, Credential{User: "any", Password: "thing"}); err != nil {
		t.Errorf("CheckLogin to a registry that asks for no account: %v", err)
	}
	if err := r2.CheckLogin(ctx, closedPort(t), Credential{User: "any", Password: "thing"}); !errors.Is(err, ErrRegistryUnreachable) {
		t.Errorf("CheckLogin to a closed port: %v, want ErrRegistryUnreachable", err)
	}
}

func TestParseChallenge(t *testing.T) {
	scheme, p := parseChallenge(`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"`)
	if scheme != "Bearer" || p["realm"] != "https://auth.example/token" || p["service"] != "registry.example" || p["scope"] != "repository:a/b:pull,push" {
		t.Errorf("parseChallenge = %q %v", scheme, p)
	}
}
