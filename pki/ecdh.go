package pki

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
)

// NodeECDHKey returns a node's private key (tls/node-key.pem) as an ECDH
// key, for unwrapping what package keyring wrapped for the node.
func NodeECDHKey(keyPEM []byte) (*ecdh.PrivateKey, error) {
	signer, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	k, ok := signer.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("node key is a %T, want ECDSA P-256", signer)
	}
	return k.ECDH()
}

// CertECDHKey returns the public key of a node's certificate as an ECDH
// key, for wrapping a data key for that node.
func CertECDHKey(cert *x509.Certificate) (*ecdh.PublicKey, error) {
	k, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("certificate of %s holds a %T key, want ECDSA P-256", NodeID(cert), cert.PublicKey)
	}
	return k.ECDH()
}

// CertECDHKeyPEM is CertECDHKey for a PEM certificate (tls/node.pem).
func CertECDHKeyPEM(certPEM []byte) (*ecdh.PublicKey, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, err
	}
	return CertECDHKey(cert)
}
