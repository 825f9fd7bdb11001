package manifest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/google/uuid"
)

func mustVendor(domain string) uuid.UUID {
	id, err := VendorIDFromDomain(domain)
	if err != nil {
		panic(err)
	}
	return id
}

func mustClass(domain, model string) uuid.UUID {
	id, err := ClassIDFromModel(mustVendor(domain), model)
	if err != nil {
		panic(err)
	}
	return id
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func testEd25519Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func testECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
