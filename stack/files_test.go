package stack

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

// TestConvertFiles: top-level secrets and configs become STACK_KEY objects
// labelled with the stack (external ones keep their names and are not
// made), with their data from a file, the environment or inline content;
// services refer to them by those names, at docker's default targets.
func TestConvertFiles(t *testing.T) {
	dir := t.TempDir()
	compose := `services:
  db:
    image: db:1
    secrets:
      - db_pass
      - source: api_key
        target: /etc/key
        uid: "999"
        mode: 0400
    configs: [app_conf]
secrets:
  db_pass: {file: ./pass.txt}
  api_key: {environment: API_KEY}
  shared: {external: true, name: org-shared}
configs:
  app_conf: {content: "listen 80", labels: {tier: web}}
`
	for name, data := range map[string]string{"compose.yml": compose, "pass.txt": "s3cret"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := build(t, "app", []string{"API_KEY=k-123"}, filepath.Join(dir, "compose.yml"))
	ns := map[string]string{LabelNamespace: "app"}
	eq(t, "secrets", st.Secrets, []File{
		{Name: "app_api_key", Data: []byte("k-123"), Labels: ns},
		{Name: "app_db_pass", Data: []byte("s3cret"), Labels: ns},
		{Name: "org-shared", External: true},
	})
	eq(t, "configs", st.Configs, []File{{Name: "app_app_conf", Data: []byte("listen 80"), Labels: map[string]string{LabelNamespace: "app", "tier": "web"}}})
	db := service(t, st, "app_db")
	eq(t, "db secrets", db.Task.Secrets, []types.FileRef{{Name: "app_db_pass", Target: "/run/secrets/db_pass"},
		{Name: "app_api_key", Target: "/etc/key", UID: "999", Mode: 0o400}})
	eq(t, "db configs", db.Task.Configs, []types.FileRef{{Name: "app_app_conf", Target: "/app_conf"}})
}

func TestPlanFiles(t *testing.T) {
	ns := map[string]string{LabelNamespace: "app"}
	want := []File{{Name: "app_a", Labels: ns}, {Name: "app_b", Labels: ns}, {Name: "shared", External: true}}
	create, err := PlanFiles("secret", "app", want, []Existing{{Name: "app_a", Labels: ns}, {Name: "shared"}})
	if err != nil || len(create) != 1 || create[0].Name != "app_b" {
		t.Fatalf("plan: %+v %v, want app_b created only", create, err)
	}
	if _, err := PlanFiles("secret", "app", want, []Existing{{Name: "app_a", Labels: ns}}); err == nil || !strings.Contains(err.Error(), `secret "shared" is declared as external`) {
		t.Errorf("missing external: %v", err)
	}
	if _, err := PlanFiles("config", "app", want, []Existing{{Name: "app_b"}, {Name: "shared"}}); err == nil || !strings.Contains(err.Error(), `config "app_b" already exists and is not part of stack "app"`) {
		t.Errorf("name outside the stack: %v", err)
	}
	if got := StackFiles("app", []Existing{{Name: "app_b", Labels: ns}, {Name: "x"}, {Name: "app_a", Labels: ns}}); !slices.Equal(got, []string{"app_a", "app_b"}) {
		t.Errorf("StackFiles = %v", got)
	}
}
