package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/stack"
)

// writeCompose writes a compose file in a temporary directory.
func writeCompose(t *testing.T, dir, name, yaml string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	stackV1 = "services:\n  web:\n    image: reg/web:v1\n    ports: [\"8080:80\"]\n    deploy: {replicas: 2}\n  api:\n    image: reg/api:v1\n"
	stackV2 = "services:\n  web:\n    image: reg/web:v2\n    ports: [\"8080:80\"]\n    deploy: {replicas: 2}\n  api:\n    image: reg/api:v1\n"
	webOnly = "services:\n  web:\n    image: reg/web:v2\n    ports: [\"8080:80\"]\n    deploy: {replicas: 2}\n"
)

// deployStep runs `stack deploy ARGS` and returns what it printed and the
// writes it sent.
func deployStep(t *testing.T, f *fakeAgent, g *Globals, out *bytes.Buffer, args ...string) (string, []string) {
	t.Helper()
	out.Reset()
	before := len(f.writes())
	if err := runCtl(t, g, append([]string{"stack", "deploy"}, args...)...); err != nil {
		t.Fatalf("stack deploy %q: %v", args, err)
	}
	var sent []string
	for _, w := range f.writes()[before:] {
		sent = append(sent, w.String())
	}
	return out.String(), sent
}

// TestStackDeployLifecycle: create, redeploy unchanged (nothing sent),
// change one image (one update), prune, list, remove.
func TestStackDeployLifecycle(t *testing.T) {
	f, g, out := newFakeAgent(t)
	captureStderr(t)
	dir := t.TempDir()
	v1, v2, one := writeCompose(t, dir, "v1.yml", stackV1), writeCompose(t, dir, "v2.yml", stackV2), writeCompose(t, dir, "one.yml", webOnly)

	text, sent := deployStep(t, f, g, out, "-c", v1, "app")
	want := "Creating network app_default\nCreating service app_api\nCreating service app_web\n"
	if text != want {
		t.Errorf("first deploy printed %q, want %q", text, want)
	}
	if !slices.Equal(sent, []string{"POST /v1/networks", "POST /v1/services", "POST /v1/services"}) {
		t.Errorf("first deploy sent %q", sent)
	}
	if web := f.find("app_web"); web == nil || web.Spec.Labels[stack.LabelNamespace] != "app" || !slices.Equal(web.Spec.Task.Networks, []string{"app_default"}) {
		t.Fatalf("app_web stored as %+v", web)
	}

	if text, sent = deployStep(t, f, g, out, "-c", v1, "app"); len(sent) != 0 {
		t.Errorf("unchanged redeploy sent %q (printed %q)", sent, text)
	}

	webID := f.find("app_web").ID
	text, sent = deployStep(t, f, g, out, "-c", v2, "app")
	if want := "Updating service app_web (id: " + webID + ")\n"; text != want {
		t.Errorf("image change printed %q, want %q", text, want)
	}
	if !slices.Equal(sent, []string{"POST /v1/services/" + webID + "/update"}) {
		t.Errorf("image change sent %q", sent)
	}

	apiID := f.find("app_api").ID
	text, sent = deployStep(t, f, g, out, "-c", one, "app")
	if len(sent) != 0 || f.find("app_api") == nil {
		t.Errorf("without --prune, deploy sent %q and kept app_api: %v", sent, f.find("app_api") != nil)
	}
	text, sent = deployStep(t, f, g, out, "--prune", "-c", one, "app")
	if text != "Removing service app_api\n" || !slices.Equal(sent, []string{"DELETE /v1/services/" + apiID}) {
		t.Errorf("--prune printed %q and sent %q", text, sent)
	}

	out.Reset()
	if err := runCtl(t, g, "stack", "ls"); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "NAME   SERVICES\napp    1\n" {
		t.Errorf("stack ls = %q", got)
	}
	out.Reset()
	if err := runCtl(t, g, "stack", "services", "--format", "{{.Name}} {{.Replicas}} {{.Image}}", "app"); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "app_web 2/2 reg/web:v2\n" {
		t.Errorf("stack services = %q", got)
	}
	out.Reset()
	if err := runCtl(t, g, "stack", "ps", "--format", "{{.Name}} {{.Image}} {{.DesiredState}}", "app"); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "app_web.1 reg/web:v2 Running\napp_web.2 reg/web:v2 Running\n" {
		t.Errorf("stack ps = %q", got)
	}

	out.Reset()
	if err := runCtl(t, g, "stack", "rm", "app"); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "Removing service app_web\nRemoving network app_default\n" {
		t.Errorf("stack rm printed %q", got)
	}
	if len(f.svcs) != 0 || len(f.nets) != 0 {
		t.Errorf("after stack rm: %d services, %d networks left", len(f.svcs), len(f.nets))
	}
	if err := runCtl(t, g, "stack", "ps", "app"); err == nil || !strings.Contains(err.Error(), "nothing found in stack: app") {
		t.Errorf("stack ps of a removed stack: %v", err)
	}
}

// TestStackDeployRefusesBeforeWriting: a bad file, and a plan that cannot
// be applied, send nothing.
func TestStackDeployRefusesBeforeWriting(t *testing.T) {
	f, g, _ := newFakeAgent(t)
	errOut := captureStderr(t)
	dir := t.TempDir()
	f.add(types.ServiceSpec{Name: "other_web", Task: types.TaskTemplate{Image: "x"}, Mode: types.ServiceMode{Replicas: 1}})
	for _, tc := range []struct{ name, yaml, stack, want string }{
		{"bad replicas", "services: {web: {image: a, deploy: {replicas: x}}}", "s", "services.web.deploy.replicas"},
		{"secret file missing", "services: {web: {image: a, secrets: [pw]}}\nsecrets: {pw: {file: ./pw}}", "s", "secrets.pw.file: open"},
		{"external secret missing", "services: {web: {image: a, secrets: [pw]}}\nsecrets: {pw: {external: true}}", "s", `secret "pw" is declared as external`},
		{"external network missing", "services: {web: {image: a, networks: [n]}}\nnetworks: {n: {external: true}}", "s", `network "n" is declared as external`},
		{"name taken outside the stack", "services: {web: {image: a}}", "other", `service "other_web" already exists and is not part of stack "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.writes())
			err := runCtl(t, g, "stack", "deploy", "-c", writeCompose(t, dir, tc.name+".yml", tc.yaml), tc.stack)
			if err == nil || !errors.Is(err, stack.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
			if w := f.writes()[before:]; len(w) != 0 {
				t.Errorf("a refused deploy sent %v", w)
			}
		})
	}
	errOut.Reset()
	if err := runCtl(t, g, "stack", "deploy", "-c", writeCompose(t, dir, "warn.yml", "services: {web: {image: a, build: ., sysctls: {net.core.somaxconn: 1024}}}"), "w"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Warning: services.web.build: ignored", "Warning: services.web.sysctls: ignored"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("stderr %q lacks %q", errOut, w)
		}
	}
}

// TestStackDeployNoDetach: --no-detach follows each created service to
// convergence with service create's display; the stack's network carries
// the namespace label.
func TestStackDeployNoDetach(t *testing.T) {
	f, g, out := newFakeAgent(t)
	captureStderr(t)
	file := writeCompose(t, t.TempDir(), "c.yml", "services: {web: {image: reg/web:v1, deploy: {replicas: 2}}}")
	if err := runCtl(t, g, "stack", "deploy", "--no-detach", "-c", file, "nd"); err != nil {
		t.Fatal(err)
	}
	bar := "running   [==================================================>]"
	want := "Creating network nd_default\nCreating service nd_web\n" + converged("overall progress: 2 out of 2 tasks", "1/2: "+bar, "2/2: "+bar)
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if len(f.nets) != 1 || f.nets[0].Labels[stack.LabelNamespace] != "nd" {
		t.Errorf("networks %+v, want nd_default labelled %s=nd", f.nets, stack.LabelNamespace)
	}
}
