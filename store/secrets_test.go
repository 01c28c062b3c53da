package store

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shoal-org/shoal/api/types"
)

func secret(id, name string) *types.Secret {
	return &types.Secret{ID: id, Spec: types.SecretSpec{Name: name},
		Sealed: &types.Sealed{KeyID: "k1", Nonce: []byte("nonce"), Ciphertext: []byte("sealed-" + name)}}
}

func config(id, name string) *types.Config {
	return &types.Config{ID: id, Spec: types.ConfigSpec{Name: name, Data: []byte("data-" + name)}}
}

func usingFiles(s *types.Service, secrets, configs []string) *types.Service {
	for _, n := range secrets {
		s.Spec.Task.Secrets = append(s.Spec.Task.Secrets, types.FileRef{Name: n, Target: "/run/secrets/" + n, Mode: 0o444})
	}
	for _, n := range configs {
		s.Spec.Task.Configs = append(s.Spec.Task.Configs, types.FileRef{Name: n, Target: "/" + n, Mode: 0o444})
	}
	return s
}

func TestSecretNamesUnique(t *testing.T) {
	h := newHarness(t)
	h.must(create(secret("s1", "db-pass")), create(config("c1", "db-pass")))
	res := h.apply(create(secret("s2", "db-pass")))
	wantErr(t, res.Err, ErrNameTaken)
	if want := `secret name "db-pass" is already in use by secret s1`; !strings.Contains(res.Err.Error(), want) {
		t.Fatalf("error %q does not say %q", res.Err, want)
	}
	wantErr(t, h.apply(create(config("c2", "db-pass"))).Err, ErrNameTaken)
	v := h.s.View()
	if len(v.Secrets()) != 1 || len(v.Configs()) != 1 {
		t.Fatalf("refused creates changed the store: %d secrets, %d configs", len(v.Secrets()), len(v.Configs()))
	}
	if got, err := v.FindSecret("db-pass"); err != nil || got.ID != "s1" {
		t.Fatalf("FindSecret(name) = %v, %v", got, err)
	}
	if got, err := v.FindConfig("c"); err != nil || got.ID != "c1" {
		t.Fatalf("FindConfig(prefix) = %v, %v", got, err)
	}
}

func TestInUseRemovalRefused(t *testing.T) {
	h := newHarness(t)
	h.must(create(secret("s1", "pw")), create(config("c1", "conf")))
	h.must(put(usingFiles(service("v1", "web"), []string{"pw"}, []string{"conf"})),
		put(usingFiles(service("v2", "api"), []string{"pw"}, nil)))
	res := h.apply(del(TableSecrets, "s1"))
	wantErr(t, res.Err, ErrInUse)
	if want := `secret "pw" is in use by service "api", "web"`; !strings.Contains(res.Err.Error(), want) {
		t.Fatalf("error %q does not say %q", res.Err, want)
	}
	wantErr(t, h.apply(del(TableConfigs, "c1")).Err, ErrInUse)
	// Gone once no service uses it; one command may drop the last user and
	// the secret together.
	h.must(del(TableServices, "v1"))
	wantErr(t, h.apply(del(TableSecrets, "s1")).Err, ErrInUse)
	h.must(del(TableConfigs, "c1"))
	h.must(del(TableServices, "v2"), del(TableSecrets, "s1"))
	if v := h.s.View(); v.Secret("s1") != nil || v.Config("c1") != nil {
		t.Fatal("secret or config still stored")
	}
}

func TestServiceNeedsItsFiles(t *testing.T) {
	h := newHarness(t)
	h.must(create(secret("s1", "pw")))
	res := h.apply(put(usingFiles(service("v1", "web"), []string{"pw", "missing"}, nil)))
	wantErr(t, res.Err, ErrNotFound)
	if want := `service "web": secret "missing" not found`; !strings.Contains(res.Err.Error(), want) {
		t.Fatalf("error %q does not say %q", res.Err, want)
	}
	wrongID := usingFiles(service("v1", "web"), []string{"pw"}, nil)
	wrongID.Spec.Task.Secrets[0].ID = "s9"
	wantErr(t, h.apply(put(wrongID)).Err, ErrNotFound)
	wantErr(t, h.apply(put(usingFiles(service("v1", "web"), nil, []string{"nope"}))).Err, ErrNotFound)
	if h.s.View().Service("v1") != nil {
		t.Fatal("a refused service was stored")
	}
	h.must(put(usingFiles(service("v1", "web"), []string{"pw"}, nil)))
}

func TestSecretsSurviveSnapshot(t *testing.T) {
	h := newHarness(t)
	h.must(create(secret("s1", "pw")), create(config("c1", "conf")),
		create(&types.WrappedKey{ID: "n1", KeyID: "k1", Wrapped: []byte("wrapped")}))
	var buf bytes.Buffer
	v := h.s.View()
	if err := writeSnapshot(&buf, v.txn, v.index); err != nil {
		t.Fatal(err)
	}
	db, _, err := readSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	r := &View{txn: db.Txn(false)}
	if s := r.Secret("s1"); s == nil || string(s.Sealed.Ciphertext) != "sealed-pw" {
		t.Fatalf("secret after restore = %+v", s)
	}
	if c := r.ConfigByName("conf"); c == nil || string(c.Spec.Data) != "data-conf" {
		t.Fatalf("config after restore = %+v", c)
	}
	if k := r.WrappedKey("n1"); k == nil || k.KeyID != "k1" {
		t.Fatalf("wrapped key after restore = %+v", k)
	}
}
