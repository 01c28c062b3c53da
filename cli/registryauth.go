package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distribution/reference"

	"github.com/shoal-org/shoal/api"
)

// dockerHubKey is the key `docker login` stores Docker Hub's login under.
const dockerHubKey = "https://index.docker.io/v1/"

// dockerConfigFile is the docker CLI's config: $DOCKER_CONFIG/config.json,
// else ~/.docker/config.json.
func dockerConfigFile() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

// registryAuthFor returns the X-Registry-Auth value of the login `docker
// login` stored for image's registry, as docker's --with-registry-auth
// sends it. The error says how to log in when there is none.
func registryAuthFor(image string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("--with-registry-auth: image %q: %w", image, err)
	}
	host := reference.Domain(named)
	key := host
	if host == "docker.io" {
		key = dockerHubKey
	}
	path := dockerConfigFile()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("--with-registry-auth: no login for %s: %s does not exist (run docker login %s)", host, path, host)
	}
	if err != nil {
		return "", fmt.Errorf("--with-registry-auth: %w", err)
	}
	var cfg struct {
		Auths       map[string]api.RegistryAuth `json:"auths"`
		CredsStore  string                      `json:"credsStore"`
		CredHelpers map[string]string           `json:"credHelpers"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("--with-registry-auth: %s: %w", path, err)
	}
	if helper := cfg.CredHelpers[key]; helper != "" {
		return "", fmt.Errorf("--with-registry-auth: the login for %s is kept by credential helper %q, which agentctl does not run: use the docker CLI's --with-registry-auth, or log in with a config that stores it (DOCKER_CONFIG=DIR docker login %s)", host, helper, host)
	}
	entry, ok := cfg.Auths[key]
	if !ok || (entry.Auth == "" && entry.IdentityToken == "") {
		if cfg.CredsStore != "" {
			return "", fmt.Errorf("--with-registry-auth: logins are kept by credential store %q, which agentctl does not run: use the docker CLI's --with-registry-auth, or log in with a config that stores them (DOCKER_CONFIG=DIR docker login %s)", cfg.CredsStore, host)
		}
		return "", fmt.Errorf("--with-registry-auth: no login for %s in %s: run docker login %s", host, path, host)
	}
	entry.ServerAddress = key
	auth, err := api.DecodeRegistryAuth(api.EncodeRegistryAuth(entry))
	if err != nil {
		return "", fmt.Errorf("--with-registry-auth: the login for %s in %s: %w", host, path, err)
	}
	return api.EncodeRegistryAuth(auth), nil
}
