package types

import (
	"maps"
	"slices"
)

// FileRef puts a secret or a config into a task as a file (docker's
// --secret/--config, short and long syntax). Name is the object's name,
// which is what references it; ID is optional and, when given, must be
// that object's ID (the store refuses a mismatch). The server does not
// fill it, so that a spec compares equal whichever client sent it; the
// Engine API shows IDs looked up by name.
// Target is the file's path in the container: a secret's default is
// /run/secrets/NAME (a relative target is taken under /run/secrets), a
// config's /NAME. UID and GID are numeric strings ("0" by default), Mode
// the file's permission bits (0444 by default).
type FileRef struct {
	ID     string `json:"ID,omitempty"`
	Name   string `json:"Name"`
	Target string `json:"Target"`
	UID    string `json:"UID,omitempty"`
	GID    string `json:"GID,omitempty"`
	Mode   uint32 `json:"Mode"`
}

// SecretSpec is what the user gives for a secret, the payload aside.
type SecretSpec struct {
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels,omitempty"`
}

// Sealed is a payload encrypted (AES-256-GCM) with the cluster's data
// key KeyID; the secret's ID is its additional data, so a sealed payload
// cannot be moved to another secret.
type Sealed struct {
	KeyID      string `json:"KeyID"`
	Nonce      []byte `json:"Nonce"`
	Ciphertext []byte `json:"Ciphertext"`
}

// Secret is a sensitive payload tasks get as a file. The payload is
// stored only sealed: Sealed is never returned by any read of the API.
type Secret struct {
	Meta
	ID     string     `json:"ID"`
	Spec   SecretSpec `json:"Spec"`
	Sealed *Sealed    `json:"Sealed,omitempty"`
}

// ConfigSpec is a config: a non-sensitive file, stored in plaintext and
// returned by inspect, as docker does.
type ConfigSpec struct {
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels,omitempty"`
	Data   []byte            `json:"Data"`
}

// Config is a stored config.
type Config struct {
	Meta
	ID   string     `json:"ID"`
	Spec ConfigSpec `json:"Spec"`
}

// WrappedKey is the cluster's data key KeyID wrapped for one raft voter
// (ID is the node's ID) with that node's public key: only the node's
// private key unwraps it (package keyring).
type WrappedKey struct {
	Meta
	ID    string `json:"ID"`
	KeyID string `json:"KeyID"`
	// Wrapped is keyring's envelope: ephemeral public key, nonce,
	// ciphertext.
	Wrapped []byte `json:"Wrapped"`
}

// Copy returns a deep copy of s.
func (s *Secret) Copy() *Secret {
	if s == nil {
		return nil
	}
	c := *s
	c.Spec.Labels = maps.Clone(s.Spec.Labels)
	c.Sealed = s.Sealed.Copy()
	return &c
}

// Copy returns a deep copy of c.
func (c *Config) Copy() *Config {
	if c == nil {
		return nil
	}
	n := *c
	n.Spec.Labels = maps.Clone(c.Spec.Labels)
	n.Spec.Data = slices.Clone(c.Spec.Data)
	return &n
}

// Copy returns a deep copy of k.
func (k *WrappedKey) Copy() *WrappedKey {
	if k == nil {
		return nil
	}
	c := *k
	c.Wrapped = slices.Clone(k.Wrapped)
	return &c
}

// Copy returns a deep copy of s (nil for nil).
func (s *Sealed) Copy() *Sealed {
	if s == nil {
		return nil
	}
	c := *s
	c.Nonce = slices.Clone(s.Nonce)
	c.Ciphertext = slices.Clone(s.Ciphertext)
	return &c
}
