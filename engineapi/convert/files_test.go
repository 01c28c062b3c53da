package convert

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

// withFiles is what `docker service create --secret pw --secret
// source=pw,target=/etc/pw,uid=1000,mode=0400 --config app.conf` sends.
func withFiles() swarm.ServiceSpec {
	return swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "web"}, TaskTemplate: swarm.TaskSpec{
		ContainerSpec: &swarm.ContainerSpec{Image: "web:v1",
			Secrets: []*swarm.SecretReference{
				{SecretID: "id1", SecretName: "pw", File: &swarm.SecretReferenceFileTarget{Name: "pw", UID: "0", GID: "0", Mode: 0o444}},
				{SecretID: "id1", SecretName: "pw", File: &swarm.SecretReferenceFileTarget{Name: "/etc/pw", UID: "1000", GID: "0", Mode: 0o400}},
			},
			Configs: []*swarm.ConfigReference{
				{ConfigID: "id2", ConfigName: "app.conf", File: &swarm.ConfigReferenceFileTarget{Name: "app.conf", UID: "0", GID: "0", Mode: 0o444}},
			}}}}
}

func TestFileRefsIn(t *testing.T) {
	got, err := FromServiceSpec(withFiles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantS := []types.FileRef{{Name: "pw", Target: "pw", UID: "0", GID: "0", Mode: 0o444},
		{Name: "pw", Target: "/etc/pw", UID: "1000", GID: "0", Mode: 0o400}}
	wantC := []types.FileRef{{Name: "app.conf", Target: "app.conf", UID: "0", GID: "0", Mode: 0o444}}
	if !reflect.DeepEqual(got.Task.Secrets, wantS) || !reflect.DeepEqual(got.Task.Configs, wantC) {
		t.Fatalf("secrets %+v configs %+v", got.Task.Secrets, got.Task.Configs)
	}
	// Shown back to docker: names, targets, owners and modes survive.
	back := TaskSpec(got.Task).ContainerSpec
	if len(back.Secrets) != 2 || back.Secrets[1].SecretName != "pw" || back.Secrets[1].File.Name != "/etc/pw" ||
		back.Secrets[1].File.Mode != 0o400 || back.Configs[0].ConfigName != "app.conf" {
		t.Fatalf("out: %+v %+v", back.Secrets, back.Configs)
	}
}

func TestFileRefsRefused(t *testing.T) {
	cases := map[string]func(*swarm.ContainerSpec){
		"no name":        func(cs *swarm.ContainerSpec) { cs.Secrets[0].SecretName = "" },
		"no file target": func(cs *swarm.ContainerSpec) { cs.Secrets[0].File = nil },
		"runtime target": func(cs *swarm.ContainerSpec) { cs.Configs[0].Runtime = &swarm.ConfigReferenceRuntimeTarget{} },
	}
	for name, mutate := range cases {
		in := withFiles()
		mutate(in.TaskTemplate.ContainerSpec)
		_, err := FromServiceSpec(in, nil)
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Kind != fault.Invalid || !strings.Contains(err.Error(), "TaskTemplate.ContainerSpec.") {
			t.Errorf("%s: error %v, want an Invalid naming the field", name, err)
		}
	}
}

func TestSecretCreateIn(t *testing.T) {
	req, err := SecretCreate(swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw"}, Data: []byte("x")})
	if err != nil || req.Name != "pw" || string(req.Data) != "x" {
		t.Fatalf("%+v %v", req, err)
	}
	if _, err := SecretCreate(swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw"}, Templating: &swarm.Driver{Name: "golang"}}); err == nil {
		t.Fatal("templating accepted")
	}
	if s := Secret(types.Secret{ID: "i", Spec: types.SecretSpec{Name: "pw"}, Sealed: &types.Sealed{Ciphertext: []byte("c")}}); s.Spec.Data != nil {
		t.Fatal("a secret shown to docker carries data")
	}
}
