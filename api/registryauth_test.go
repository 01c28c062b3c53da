package api

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestDecodeRegistryAuth: the forms docker sends and stores, and the
// refusals.
func TestDecodeRegistryAuth(t *testing.T) {
	want := RegistryAuth{Username: "deploy", Password: "s3cret", ServerAddress: "reg:5001"}
	raw := `{"username":"deploy","password":"s3cret","serveraddress":"reg:5001"}`
	for name, in := range map[string]string{
		"ours":            EncodeRegistryAuth(want),
		"url, unpadded":   base64.RawURLEncoding.EncodeToString([]byte(raw)),
		"standard":        base64.StdEncoding.EncodeToString([]byte(raw)),
		"config's auth":   base64.URLEncoding.EncodeToString([]byte(`{"auth":"ZGVwbG95OnMzY3JldA==","serveraddress":"reg:5001"}`)),
		"with whitespace": " " + EncodeRegistryAuth(want) + "\n",
	} {
		if got, err := DecodeRegistryAuth(in); err != nil || got != want {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	tok, err := DecodeRegistryAuth(EncodeRegistryAuth(RegistryAuth{IdentityToken: "t"}))
	if err != nil || tok.IdentityToken != "t" {
		t.Errorf("identity token: %+v, %v", tok, err)
	}
	for in, msg := range map[string]string{
		"%%%": "not base64",
		base64.StdEncoding.EncodeToString([]byte("[1]")):                          "not a JSON object",
		EncodeRegistryAuth(RegistryAuth{Username: "deploy"}):                      "names no account",
		base64.StdEncoding.EncodeToString([]byte(`{"auth":"bm9jb2xvbg=="}`)):      `"auth" is not base64 of USER:PASSWORD`,
		base64.StdEncoding.EncodeToString([]byte(`{"serveraddress":"reg:5001"}`)): "names no account",
	} {
		if _, err := DecodeRegistryAuth(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("DecodeRegistryAuth(%q) = %v, want %q", in, err, msg)
		}
	}
}
