package engineapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoal-org/shoal/api"
	"github.com/shoal-org/shoal/api/types"
	"github.com/shoal-org/shoal/internal/fault"
)

// fileFake adds secrets and configs to the fake backend.
type fileFake struct {
	*fakeBackend
	secrets map[string]*types.Secret // by ID; Sealed stands for the payload
	configs map[string]*types.Config
	updates []api.FileUpdate
}

func newFileFake() *fileFake {
	return &fileFake{fakeBackend: newFake(), secrets: map[string]*types.Secret{}, configs: map[string]*types.Config{}}
}

func (f *fileFake) Secrets(context.Context) ([]types.Secret, error) {
	out := []types.Secret{}
	for _, s := range f.secrets {
		cp := *s
		cp.Sealed = nil
		out = append(out, cp)
	}
	return out, nil
}

func (f *fileFake) Secret(_ context.Context, ref string) (types.Secret, error) {
	for _, s := range f.secrets {
		if s.ID == ref || s.Spec.Name == ref {
			cp := *s
			cp.Sealed = nil
			return cp, nil
		}
	}
	return types.Secret{}, fault.New(fault.NotFound, "secret %q not found", ref)
}

func (f *fileFake) Configs(context.Context) ([]types.Config, error) {
	out := []types.Config{}
	for _, c := range f.configs {
		out = append(out, *c)
	}
	return out, nil
}

func (f *fileFake) Config(_ context.Context, ref string) (types.Config, error) {
	for _, c := range f.configs {
		if c.ID == ref || c.Spec.Name == ref {
			return *c, nil
		}
	}
	return types.Config{}, fault.New(fault.NotFound, "config %q not found", ref)
}

func (f *fileFake) FileCreate(_ context.Context, kind api.FileKind, req api.FileCreateRequest) (api.FileCreateResponse, error) {
	id := string(kind) + "-" + req.Name
	if kind == api.KindSecret {
		f.secrets[id] = &types.Secret{ID: id, Spec: types.SecretSpec{Name: req.Name, Labels: req.Labels},
			Sealed: &types.Sealed{Ciphertext: req.Data}}
	} else {
		f.configs[id] = &types.Config{ID: id, Spec: types.ConfigSpec{Name: req.Name, Labels: req.Labels, Data: req.Data}}
	}
	return api.FileCreateResponse{ID: id}, nil
}

func (f *fileFake) FileUpdate(_ context.Context, _ api.FileKind, _ string, upd api.FileUpdate) error {
	f.updates = append(f.updates, upd)
	return nil
}

func (f *fileFake) FileRemove(_ context.Context, kind api.FileKind, ref string) error {
	delete(f.secrets, string(kind)+"-"+ref)
	delete(f.configs, string(kind)+"-"+ref)
	return nil
}

func (f *fileFake) do(t *testing.T, method, path, body string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	New(f).Handler(false).ServeHTTP(rec, req)
	return reply{rec.Code, rec.Header(), rec.Body.String()}
}

func TestSecretsAndConfigs(t *testing.T) {
	f := newFileFake()
	// docker secret create sends the data base64-encoded, as []byte.
	r := f.do(t, "POST", "/v1.50/secrets/create", `{"Name":"pw","Labels":{"a":"b"},"Data":"aHVudGVyMg=="}`)
	if id := decode[swarm.SecretCreateResponse](t, r).ID; r.code != 201 || id != "secret-pw" {
		t.Fatalf("create secret: %d %s", r.code, r.body)
	}
	if string(f.secrets["secret-pw"].Sealed.Ciphertext) != "hunter2" {
		t.Fatalf("backend got %q", f.secrets["secret-pw"].Sealed.Ciphertext)
	}
	decode[swarm.ConfigCreateResponse](t, f.do(t, "POST", "/configs/create", `{"Name":"app.conf","Data":"bGlzdGVu"}`))
	m := message(t, f.do(t, "POST", "/secrets/create", `{"Name":"x","Driver":{"Name":"vault"}}`), 400)
	if !strings.Contains(m, "Driver") {
		t.Errorf("driver refused with %q", m)
	}

	for _, q := range []string{`{"name":{"p":true}}`, `{"names":{"pw":true}}`, `{"label":{"a=b":true}}`, `{"id":{"secret-":true}}`} {
		list := decode[[]swarm.Secret](t, f.do(t, "GET", "/secrets?filters="+url.QueryEscape(q), ""))
		if len(list) != 1 || list[0].Spec.Name != "pw" || list[0].Spec.Data != nil {
			t.Errorf("list %s = %+v, want pw without data", q, list)
		}
	}
	if list := decode[[]swarm.Secret](t, f.do(t, "GET", "/secrets?filters="+url.QueryEscape(`{"names":{"p":true}}`), "")); len(list) != 0 {
		t.Errorf("names filter is exact, got %+v", list)
	}
	r = f.do(t, "GET", "/secrets/pw", "")
	if strings.Contains(r.body, "aHVudGVyMg") || strings.Contains(r.body, "hunter2") {
		t.Fatalf("inspect shows the data: %s", r.body)
	}
	if c := decode[swarm.Config](t, f.do(t, "GET", "/configs/app.conf", "")); string(c.Spec.Data) != "listen" {
		t.Errorf("config inspect data %q", c.Spec.Data)
	}

	if r := f.do(t, "POST", "/secrets/pw/update?version=3", `{"Name":"pw","Labels":{"x":"y"}}`); r.code != 200 ||
		len(f.updates) != 1 || f.updates[0].Version != 3 || f.updates[0].Labels["x"] != "y" {
		t.Fatalf("label update: %d %s %+v", r.code, r.body, f.updates)
	}
	message(t, f.do(t, "POST", "/secrets/pw/update?version=3", `{"Name":"pw","Data":"eA=="}`), 400)
	message(t, f.do(t, "POST", "/configs/app.conf/update?version=3", `{"Name":"app.conf","Data":"eA=="}`), 400)
	message(t, f.do(t, "POST", "/secrets/pw/update", `{}`), 400)
	if len(f.updates) != 1 {
		t.Fatalf("a refused update reached the backend: %+v", f.updates)
	}
	if r := f.do(t, "DELETE", "/secrets/pw", ""); r.code != 204 || len(f.secrets) != 0 {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	var empty []json.RawMessage
	if r := f.do(t, "GET", "/configs?filters="+url.QueryEscape(`{"label":{"com.docker.stack.namespace=s":true}}`), ""); r.code != 200 ||
		json.Unmarshal([]byte(r.body), &empty) != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("stack's config list: %d %s, want []", r.code, r.body)
	}
}
