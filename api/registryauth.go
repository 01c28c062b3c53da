package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// RegistryAuth is an account of an image registry, as docker's
// X-Registry-Auth header carries it (base64url of this JSON) and as
// `docker login` stores it.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	// IdentityToken stands for the user and password (an OAuth2 refresh
	// token from `docker login`).
	IdentityToken string `json:"identitytoken,omitempty"`
	// Auth is "user:password" in base64, the form of docker's config
	// file; DecodeRegistryAuth turns it into Username and Password.
	Auth string `json:"auth,omitempty"`
}

// EncodeRegistryAuth is a's X-Registry-Auth form.
func EncodeRegistryAuth(a RegistryAuth) string {
	b, _ := json.Marshal(a) // strings only: cannot fail
	return base64.URLEncoding.EncodeToString(b)
}

// DecodeRegistryAuth reads an X-Registry-Auth value (base64url, padded or
// not, or standard base64, of the JSON). An account needs a user name
// and a password, or an identity token.
func DecodeRegistryAuth(s string) (RegistryAuth, error) {
	var a RegistryAuth
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if raw, err = enc.DecodeString(strings.TrimSpace(s)); err == nil {
			break
		}
	}
	if err != nil {
		return a, errors.New("registry auth is not base64: send docker's X-Registry-Auth (base64url of {\"username\":…,\"password\":…,\"serveraddress\":…})")
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, errors.New("registry auth is not a JSON object: send docker's X-Registry-Auth (base64url of {\"username\":…,\"password\":…,\"serveraddress\":…})")
	}
	if a.Auth != "" && a.Username == "" {
		up, err := base64.StdEncoding.DecodeString(a.Auth)
		user, pass, ok := strings.Cut(string(up), ":")
		if err != nil || !ok {
			return a, errors.New(`registry auth: "auth" is not base64 of USER:PASSWORD`)
		}
		a.Username, a.Password = user, pass
	}
	a.Auth = ""
	if a.IdentityToken == "" && (a.Username == "" || a.Password == "") {
		return a, errors.New("registry auth names no account: give a user name and a password, or an identity token (docker login stores them)")
	}
	return a, nil
}
