package testimages

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
)

// Push copies img into the registry at host:port (for example
// "127.0.0.1:5000") as host:port/NAME:TAG with skopeo, speaking plain HTTP
// (or HTTPS without certificate checks) as the lab's registry needs. It
// returns the reference pushed to.
func Push(ctx context.Context, img Image, registry string) (string, error) {
	return PushAuth(ctx, img, registry, "")
}

// PushAuth is Push to a registry that asks for an account: creds is
// USER:PASSWORD ("" for none).
func PushAuth(ctx context.Context, img Image, registry, creds string) (string, error) {
	ref := registry + "/" + img.Ref()
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		return "", fmt.Errorf("push %s: skopeo is not installed (apt-get install skopeo): %w", ref, err)
	}
	args := []string{"--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"}
	if creds != "" {
		args = append(args, "--dest-creds", creds)
	}
	cmd := exec.CommandContext(ctx, skopeo, append(args, "oci-archive:"+img.Path, "docker://"+ref)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("push %s: skopeo copy: %w: %s", ref, err, bytes.TrimSpace(out))
	}
	return ref, nil
}
