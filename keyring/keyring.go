// Package keyring seals secrets at rest. The cluster has one data key (a
// DEK: 32 random bytes) that seals every secret's payload with AES-256-GCM.
// The data key itself is never stored in plaintext: the replicated store
// holds it wrapped for each raft voter with that voter's node key (ECDH on
// P-256 with a fresh ephemeral key, HKDF-SHA256, AES-256-GCM), so only a
// voter's private key (tls/node-key.pem in its data dir) unwraps it.
//
// The package is pure: no I/O but crypto/rand.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the size of a data key in bytes (AES-256).
const KeySize = 32

// wrapVersion is the first byte of a wrapped key; a later scheme gets a new
// one and Unwrap keeps reading the old.
const wrapVersion byte = 1

// wrapInfo binds the derived wrapping key to its use.
const wrapInfo = "shoal keyring v1: data key wrap"

// ErrOpen is returned when a sealed payload or a wrapped key does not
// open: wrong key, or the bytes were changed.
var ErrOpen = errors.New("keyring: message authentication failed (wrong key or tampered data)")

// DataKey is a cluster data key and its ID (which sealed payloads name).
type DataKey struct {
	ID  string
	Key []byte
}

// NewDataKey makes a fresh random data key with a random ID.
func NewDataKey() (DataKey, error) {
	k := DataKey{Key: make([]byte, KeySize)}
	if _, err := rand.Read(k.Key); err != nil {
		return DataKey{}, fmt.Errorf("new data key: %w", err)
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return DataKey{}, fmt.Errorf("new data key ID: %w", err)
	}
	k.ID = hex.EncodeToString(id)
	return k, nil
}

// Seal encrypts plaintext with data key key; aad (additional data, such as
// the secret's ID) must be given again to Open.
func Seal(key, plaintext, aad []byte) (nonce, ciphertext []byte, err error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, nil, err
	}
	nonce = make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return nonce, aead.Seal(nil, nonce, plaintext, aad), nil
}

// Open decrypts what Seal made; a wrong key, nonce, aad or a changed
// ciphertext fails with ErrOpen.
func Open(key, nonce, ciphertext, aad []byte) ([]byte, error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("open: nonce is %d bytes, want %d: %w", len(nonce), aead.NonceSize(), ErrOpen)
	}
	out, err := aead.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("keyring: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return cipher.NewGCM(block)
}

// Wrap encrypts data key dek for the holder of to's private key. The
// envelope is: version byte, the ephemeral public key (65 bytes,
// uncompressed P-256), the nonce, the ciphertext. keyID is bound as
// additional data, so a wrapped key cannot pass for another key ID.
func Wrap(to *ecdh.PublicKey, keyID string, dek []byte) ([]byte, error) {
	if to.Curve() != ecdh.P256() {
		return nil, errors.New("wrap data key: recipient key is not P-256")
	}
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("wrap data key: ephemeral key: %w", err)
	}
	kek, err := wrappingKey(eph, to, eph.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	nonce, ct, err := Seal(kek, dek, []byte(keyID))
	if err != nil {
		return nil, fmt.Errorf("wrap data key: %w", err)
	}
	out := []byte{wrapVersion}
	out = append(out, eph.PublicKey().Bytes()...)
	out = append(out, nonce...)
	return append(out, ct...), nil
}

// Unwrap opens what Wrap made for priv's public key; another key, another
// keyID or changed bytes fail with ErrOpen.
func Unwrap(priv *ecdh.PrivateKey, keyID string, wrapped []byte) ([]byte, error) {
	const pubLen, nonceLen = 65, 12
	if len(wrapped) < 1+pubLen+nonceLen+16 || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("unwrap data key: not a version-%d wrapped key: %w", wrapVersion, ErrOpen)
	}
	ephBytes := wrapped[1 : 1+pubLen]
	eph, err := ecdh.P256().NewPublicKey(ephBytes)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: ephemeral key: %w", ErrOpen)
	}
	kek, err := wrappingKey(priv, eph, ephBytes)
	if err != nil {
		return nil, err
	}
	rest := wrapped[1+pubLen:]
	return Open(kek, rest[:nonceLen], rest[nonceLen:], []byte(keyID))
}

// wrappingKey derives the key-encryption key from the ECDH secret of own
// and peer, salted with the ephemeral public key.
func wrappingKey(own *ecdh.PrivateKey, peer *ecdh.PublicKey, ephPub []byte) ([]byte, error) {
	shared, err := own.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("keyring: ECDH: %w", err)
	}
	kek, err := hkdf.Key(sha256.New, shared, ephPub, wrapInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("keyring: HKDF: %w", err)
	}
	return kek, nil
}
