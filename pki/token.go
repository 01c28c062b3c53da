package pki

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// A join token reads SHOALTKN-1-<CA digest>-<secret>: the digest is the 64
// lower-case hex characters Digest returns (so it can be compared by eye with
// the peer's CA) and the secret is 26 characters of lower-case base32. Neither
// alphabet holds '-', so the token splits unambiguously, and the whole token
// is letters, digits and dashes: safe in shells, URLs and double-click
// selection in most terminals.
const (
	tokenPrefix  = "SHOALTKN"
	tokenVersion = "1"
	digestLen    = 64
	secretBytes  = 16 // 128 bits
	secretLen    = 26 // base32 of 16 bytes, unpadded
	tokenHelp    = `copy it again from "agent join-token" on a cluster member`
)

const secretAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var secretEncoding = base32.NewEncoding(secretAlphabet).WithPadding(base32.NoPadding)

var (
	// ErrMalformedToken is wrapped by ParseToken for a token that is not of
	// the form SHOALTKN-1-<digest>-<secret>.
	ErrMalformedToken = errors.New("pki: malformed join token")
	// ErrTokenVersion is wrapped by ParseToken for a well-formed token of a
	// version this agent does not read.
	ErrTokenVersion = errors.New("pki: unsupported join token version")
)

// Token is a parsed join token: the digest of the cluster CA a joiner must
// find on the peer, and the secret that admits it.
type Token struct {
	CADigest string
	Secret   string
}

// FormatToken renders a join token from a CA digest (as returned by Digest)
// and a secret (as returned by NewSecret).
func FormatToken(caDigest, secret string) string {
	return tokenPrefix + "-" + tokenVersion + "-" + strings.ToLower(caDigest) + "-" + secret
}

// ParseToken parses a join token as printed by FormatToken, ignoring
// surrounding whitespace picked up by copy and paste. Its errors wrap
// ErrMalformedToken or ErrTokenVersion and tell the user what to do.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, fmt.Errorf("join token is empty: pass the token printed by \"agent join-token\" on a cluster member: %w", ErrMalformedToken)
	}
	parts := strings.Split(s, "-")
	if parts[0] != tokenPrefix || len(parts) < 2 {
		return Token{}, fmt.Errorf("join token is malformed: expected %s-%s-…; %s: %w", tokenPrefix, tokenVersion, tokenHelp, ErrMalformedToken)
	}
	if parts[1] != tokenVersion {
		return Token{}, fmt.Errorf("join token version %q is not supported by this agent, which reads version %s: join with an agent of the cluster's release: %w",
			parts[1], tokenVersion, ErrTokenVersion)
	}
	if len(parts) != 4 {
		return Token{}, fmt.Errorf("join token is malformed: expected %s-%s-<CA digest>-<secret> (4 parts separated by '-', got %d); %s: %w",
			tokenPrefix, tokenVersion, len(parts), tokenHelp, ErrMalformedToken)
	}
	digest, secret := strings.ToLower(parts[2]), parts[3]
	if len(digest) != digestLen || strings.Trim(digest, "0123456789abcdef") != "" {
		return Token{}, fmt.Errorf("join token is malformed: the CA digest must be %d hex characters, got %q; %s: %w",
			digestLen, parts[2], tokenHelp, ErrMalformedToken)
	}
	// The secret itself is not echoed: a near-miss would still leak most of it.
	if len(secret) != secretLen {
		return Token{}, fmt.Errorf("join token is malformed: the secret (its last part) must be %d characters, got %d; %s: %w",
			secretLen, len(secret), tokenHelp, ErrMalformedToken)
	}
	if i := strings.IndexFunc(secret, func(r rune) bool { return !strings.ContainsRune(secretAlphabet, r) }); i >= 0 {
		return Token{}, fmt.Errorf("join token is malformed: the secret (its last part) may hold only a-z (lower case) and 2-7, but character %d is not one of them; %s: %w",
			i+1, tokenHelp, ErrMalformedToken)
	}
	return Token{CADigest: digest, Secret: secret}, nil
}

// SecretMatches reports whether secret equals the token's secret, in time
// independent of where they differ. An empty token secret matches nothing.
func (t Token) SecretMatches(secret string) bool {
	if t.Secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1
}

// NewSecret returns a random join secret of 128 bits as 26 characters of
// lower-case base32 (URL- and shell-safe, no '-').
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate join secret: %w", err)
	}
	return secretEncoding.EncodeToString(b), nil
}

// NewGossipKey returns 32 random bytes: an AES-256 key for memberlist's
// encrypted gossip.
func NewGossipKey() ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate gossip key: %w", err)
	}
	return b, nil
}
