// Package idgen makes the random identifiers used for nodes, services and
// tasks: 25 lower-case base-36 characters, like swarm's, so that a 12-character
// prefix is unique in practice and reads well in tables.
package idgen

import (
	"crypto/rand"
	"math/big"
)

const (
	alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	length   = 25
)

var max = new(big.Int).Exp(big.NewInt(36), big.NewInt(length), nil)

// New returns a fresh random identifier. It panics only if the system's
// random source fails, which leaves no safe way to continue.
func New() string {
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		panic("idgen: system random source failed: " + err.Error())
	}
	s := n.Text(36)
	for len(s) < length {
		s = "0" + s
	}
	return s
}
