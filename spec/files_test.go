package spec

import (
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

func TestFileDefaultsAndChecks(t *testing.T) {
	s := types.ServiceSpec{Name: "web", Task: types.TaskTemplate{Image: "web:v1",
		Secrets: []types.FileRef{{Name: "pw"}, {Name: "pw", Target: "other"}, {Name: "key", Target: "/etc/key", UID: "1000", Mode: 0o400}},
		Configs: []types.FileRef{{Name: "app.conf"}, {Name: "nginx", Target: "etc/nginx.conf"}}}}
	Defaults(&s)
	want := map[string]string{"pw": "/run/secrets/pw", "key": "/etc/key"}
	if s.Task.Secrets[0].Target != want["pw"] || s.Task.Secrets[1].Target != "/run/secrets/other" || s.Task.Secrets[2].Target != want["key"] {
		t.Errorf("secret targets %+v", s.Task.Secrets)
	}
	if s.Task.Configs[0].Target != "/app.conf" || s.Task.Configs[1].Target != "/etc/nginx.conf" {
		t.Errorf("config targets %+v", s.Task.Configs)
	}
	if r := s.Task.Secrets[0]; r.UID != "0" || r.GID != "0" || r.Mode != 0o444 {
		t.Errorf("defaults %+v", r)
	}
	if r := s.Task.Secrets[2]; r.UID != "1000" || r.Mode != 0o400 {
		t.Errorf("given values overwritten: %+v", r)
	}
	if err := ValidateService(&s); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		mutate func(*types.TaskTemplate)
		want   string
	}{
		{func(t *types.TaskTemplate) { t.Secrets[0].Name = "bad name" }, `secret name "bad name" is not a valid secret name`},
		{func(t *types.TaskTemplate) { t.Configs[0].Target = "/run/secrets/pw" }, `config target "/run/secrets/pw" is also the target of secret "pw"`},
		{func(t *types.TaskTemplate) { t.Secrets[0].Target = "/a/../b" }, "'..'"},
		{func(t *types.TaskTemplate) { t.Secrets[0].UID = "root" }, `secret uid "root" is not a number`},
		{func(t *types.TaskTemplate) { t.Secrets[0].Mode = 0o4755 }, "beyond the permissions"},
	}
	for _, b := range bad {
		c := s.Copy()
		b.mutate(&c.Task)
		err := ValidateService(&c)
		if err == nil || !strings.Contains(err.Error(), b.want) || !strings.HasPrefix(err.Error(), `service "web": `) {
			t.Errorf("error %v, want one naming the service and saying %q", err, b.want)
		}
	}
	if err := ValidateFileData("secret", "pw", make([]byte, MaxFileSize+1)); err == nil || !strings.Contains(err.Error(), "500 KiB") {
		t.Errorf("oversized data: %v", err)
	}
}
