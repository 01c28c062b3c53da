package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api"
)

// TestRegistryAuthFor: the login `docker login` stored for an image's
// registry (Docker Hub's under its own key), and an error that says how
// to log in, or why agentctl cannot read it.
func TestRegistryAuthFor(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := registryAuthFor("reg:5001/web:v1")
	if err == nil || !strings.Contains(err.Error(), "does not exist (run docker login reg:5001)") {
		t.Errorf("no config: %v", err)
	}
	write(`{"auths": {"reg:5001": {"auth": "ZGVwbG95OnMzY3JldA=="}, "https://index.docker.io/v1/": {"identitytoken": "tok"}},
		"credHelpers": {"gcr.io": "gcloud"}}`)
	for image, want := range map[string]api.RegistryAuth{
		"reg:5001/web:v1": {Username: "deploy", Password: "s3cret", ServerAddress: "reg:5001"},
		"redis:7":         {IdentityToken: "tok", ServerAddress: "https://index.docker.io/v1/"},
	} {
		enc, err := registryAuthFor(image)
		if err != nil {
			t.Fatalf("%s: %v", image, err)
		}
		if got, err := api.DecodeRegistryAuth(enc); err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", image, got, err, want)
		}
	}
	for image, want := range map[string]string{
		"reg:6000/web:v1":    "no login for reg:6000 in " + filepath.Join(dir, "config.json") + ": run docker login reg:6000",
		"gcr.io/team/web:v1": `kept by credential helper "gcloud", which agentctl does not run`,
		"REG/Web":            `image "REG/Web"`,
	} {
		if _, err := registryAuthFor(image); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", image, err, want)
		}
	}
	write(`{"auths": {}, "credsStore": "desktop"}`)
	if _, err := registryAuthFor("reg:5001/web:v1"); err == nil || !strings.Contains(err.Error(), `credential store "desktop"`) {
		t.Errorf("creds store: %v", err)
	}
}
