package runtime

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// CheckLogin asks registry host whether cred is an account of it, as
// `docker login` does: GET /v2/, then, if it asks for an account, again
// with cred (HTTP basic), or for a token from its token service (bearer).
// A registry that asks for no account accepts any. The error matches
// ErrUnauthorized when the registry refuses cred, ErrRegistryUnreachable
// when it cannot be asked.
func (r *Runtime) CheckLogin(ctx context.Context, host string, cred Credential) error {
	scheme := "https"
	if slices.Contains(r.cfg.InsecureRegistries, host) {
		scheme = "http"
	}
	client := &http.Client{Timeout: 15 * time.Second}
	ping := scheme + "://" + host + "/v2/"
	resp, err := get(ctx, client, ping, nil)
	if err != nil {
		return &ImageError{Registry: host, Kind: ErrRegistryUnreachable, Err: err}
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("registry %s: GET /v2/ answered %s", host, resp.Status)
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	scheme, params := parseChallenge(challenge)
	switch strings.ToLower(scheme) {
	case "basic":
		resp, err = get(ctx, client, ping, func(req *http.Request) { req.SetBasicAuth(cred.User, cred.Password) })
	case "bearer":
		u, perr := url.Parse(params["realm"])
		if perr != nil || u.Scheme == "" {
			return fmt.Errorf("registry %s: token service %q: %v", host, params["realm"], perr)
		}
		q := u.Query()
		if params["service"] != "" {
			q.Set("service", params["service"])
		}
		if cred.User != "" {
			q.Set("account", cred.User)
		}
		u.RawQuery = q.Encode()
		resp, err = get(ctx, client, u.String(), func(req *http.Request) {
			if cred.IdentityToken == "" {
				req.SetBasicAuth(cred.User, cred.Password)
			}
		})
	default:
		return fmt.Errorf("registry %s asks for an account in a way shoal does not speak (%q)", host, challenge)
	}
	if err != nil {
		return &ImageError{Registry: host, Kind: ErrRegistryUnreachable, Err: err}
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return fmt.Errorf("registry %s refused the login of %q (%s): %w", host, cred.User, resp.Status, ErrUnauthorized)
}

// get GETs url (edit, when set, changes the request) and returns the
// answer with its body read and closed.
func get(ctx context.Context, client *http.Client, url string, edit func(*http.Request)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if edit != nil {
		edit(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp, nil
}

// parseChallenge reads a WWW-Authenticate header: its scheme and its
// key="value" parameters.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest != "" {
		var kv string
		kv, rest = cutParam(rest)
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return scheme, params
}

// cutParam cuts the first comma-separated parameter off s, commas inside
// quotes included in it.
func cutParam(s string) (string, string) {
	quoted := false
	for i, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}
