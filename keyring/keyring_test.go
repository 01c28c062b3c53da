package keyring

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"testing"
)

func nodeKey(t *testing.T) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealRoundTrip(t *testing.T) {
	dk, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hunter2\x00binary\xff")
	nonce, ct, err := Seal(dk.Key, msg, []byte("secret-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("hunter2")) {
		t.Fatal("ciphertext holds the plaintext")
	}
	got, err := Open(dk.Key, nonce, ct, []byte("secret-1"))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open = %q, %v; want %q", got, err, msg)
	}
}

func TestOpenRefuses(t *testing.T) {
	dk, _ := NewDataKey()
	other, _ := NewDataKey()
	nonce, ct, err := Seal(dk.Key, []byte("payload"), []byte("id-1"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	cases := []struct {
		name                string
		key, nonce, ct, aad []byte
	}{
		{"wrong key", other.Key, nonce, ct, []byte("id-1")},
		{"other secret's ID", dk.Key, nonce, ct, []byte("id-2")},
		{"tampered ciphertext", dk.Key, nonce, flip(ct, 0), []byte("id-1")},
		{"tampered tag", dk.Key, nonce, flip(ct, len(ct)-1), []byte("id-1")},
		{"tampered nonce", dk.Key, flip(nonce, 3), ct, []byte("id-1")},
		{"short nonce", dk.Key, nonce[:4], ct, []byte("id-1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.key, tc.nonce, tc.ct, tc.aad); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %v, want ErrOpen", err)
			}
		})
	}
	if _, _, err := Seal([]byte("short"), []byte("x"), nil); err == nil {
		t.Fatal("Seal with a 5-byte key succeeded")
	}
}

func TestWrapRoundTrip(t *testing.T) {
	node := nodeKey(t)
	dk, _ := NewDataKey()
	w1, err := Wrap(node.PublicKey(), dk.ID, dk.Key)
	if err != nil {
		t.Fatal(err)
	}
	w2, _ := Wrap(node.PublicKey(), dk.ID, dk.Key)
	if bytes.Equal(w1, w2) {
		t.Fatal("two wraps of one key are equal: the ephemeral key is not fresh")
	}
	if bytes.Contains(w1, dk.Key) {
		t.Fatal("wrapped key holds the data key")
	}
	for _, w := range [][]byte{w1, w2} {
		got, err := Unwrap(node, dk.ID, w)
		if err != nil || !bytes.Equal(got, dk.Key) {
			t.Fatalf("Unwrap = %x, %v; want %x", got, err, dk.Key)
		}
	}
}

func TestUnwrapRefuses(t *testing.T) {
	node, stranger := nodeKey(t), nodeKey(t)
	dk, _ := NewDataKey()
	w, err := Wrap(node.PublicKey(), dk.ID, dk.Key)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { c := bytes.Clone(w); c[i] ^= 1; return c }
	cases := []struct {
		name  string
		priv  *ecdh.PrivateKey
		keyID string
		w     []byte
	}{
		{"another node's key", stranger, dk.ID, w},
		{"another key ID", node, "0000", w},
		{"tampered ephemeral key", node, dk.ID, flip(10)},
		{"tampered nonce", node, dk.ID, flip(70)},
		{"tampered ciphertext", node, dk.ID, flip(len(w) - 1)},
		{"unknown version", node, dk.ID, flip(0)},
		{"truncated", node, dk.ID, w[:40]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Unwrap(tc.priv, tc.keyID, tc.w); !errors.Is(err, ErrOpen) {
				t.Fatalf("Unwrap = %v, want ErrOpen", err)
			}
		})
	}
}
