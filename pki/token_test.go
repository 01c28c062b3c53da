package pki

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	ca := mustCA(t, "c1")
	digest, err := Digest(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	s := FormatToken(digest, secret)
	if !strings.HasPrefix(s, "SHOALTKN-1-"+digest+"-") {
		t.Errorf("token %q does not start with SHOALTKN-1-<digest>-", s)
	}
	for _, pasted := range []string{s, "  " + s + "\n", "\t" + s + "\r\n"} {
		tok, err := ParseToken(pasted)
		if err != nil {
			t.Fatalf("ParseToken(%q): %v", pasted, err)
		}
		if tok.CADigest != digest || tok.Secret != secret {
			t.Errorf("ParseToken(%q) = %+v, want digest %s secret %s", pasted, tok, digest, secret)
		}
	}
	// An upper-cased digest (retyped by hand) still parses to the canonical form.
	up := "SHOALTKN-1-" + strings.ToUpper(digest) + "-" + secret
	if tok, err := ParseToken(up); err != nil || tok.CADigest != digest {
		t.Errorf("ParseToken(upper-case digest) = %+v, %v", tok, err)
	}
}

func TestParseTokenMalformed(t *testing.T) {
	digest := strings.Repeat("ab", 32)
	secret := strings.Repeat("a", 26)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformedToken},
		{"only whitespace", " \n\t", ErrMalformedToken},
		{"swarm token", "SWMTKN-1-" + digest + "-" + secret, ErrMalformedToken},
		{"lower-case prefix", "shoaltkn-1-" + digest + "-" + secret, ErrMalformedToken},
		{"prefix only", "SHOALTKN", ErrMalformedToken},
		{"future version", "SHOALTKN-2-" + digest + "-" + secret, ErrTokenVersion},
		{"no secret", "SHOALTKN-1-" + digest, ErrMalformedToken},
		{"empty secret", "SHOALTKN-1-" + digest + "-", ErrMalformedToken},
		{"extra part", "SHOALTKN-1-" + digest + "-" + secret + "-x", ErrMalformedToken},
		{"short digest", "SHOALTKN-1-" + digest[:63] + "-" + secret, ErrMalformedToken},
		{"non-hex digest", "SHOALTKN-1-" + strings.Repeat("zz", 32) + "-" + secret, ErrMalformedToken},
		{"truncated secret", "SHOALTKN-1-" + digest + "-" + secret[:20], ErrMalformedToken},
		{"secret with bad letters", "SHOALTKN-1-" + digest + "-" + strings.Repeat("A", 26), ErrMalformedToken},
		{"secret with 0, 1, 8, 9", "SHOALTKN-1-" + digest + "-" + strings.Repeat("a", 22) + "0189", ErrMalformedToken},
		{"space inside", "SHOALTKN-1-" + digest + " -" + secret, ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := ParseToken(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseToken(%q) = %+v, %v; want error %v", tt.in, tok, err, tt.want)
			}
			// Every error tells the user where a good token comes from.
			if !strings.Contains(err.Error(), "agent join-token") && !strings.Contains(err.Error(), "release") {
				t.Errorf("error %q does not say how to fix it", err)
			}
			// The message never contradicts itself ("must be 26 … got 26").
			if strings.Contains(err.Error(), "must be 26") && strings.Contains(err.Error(), "got 26") {
				t.Errorf("error %q contradicts itself", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestSecretMatches(t *testing.T) {
	secret, _ := NewSecret()
	other, _ := NewSecret()
	tok := Token{Secret: secret}
	if !tok.SecretMatches(secret) {
		t.Error("secret does not match itself")
	}
	for _, s := range []string{other, secret[:25], secret + "a", ""} {
		if tok.SecretMatches(s) {
			t.Errorf("secret %q matched %q", secret, s)
		}
	}
	if (Token{}).SecretMatches("") {
		t.Error("an empty token secret matched the empty string")
	}
}

func TestRandomValues(t *testing.T) {
	s1, err1 := NewSecret()
	s2, err2 := NewSecret()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if len(s1) != 26 || s1 == s2 {
		t.Errorf("secrets %q and %q: want 26 characters, distinct", s1, s2)
	}
	k1, err1 := NewGossipKey()
	k2, err2 := NewGossipKey()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if len(k1) != 32 || bytes.Equal(k1, k2) {
		t.Errorf("gossip keys of %d bytes, equal=%v: want 32 distinct bytes", len(k1), bytes.Equal(k1, k2))
	}
}
