package manifest

import (
	"crypto"
	"errors"
	"slices"
	"strings"
	"testing"
)

// BuildDependent's envelope verifies, carries the dependency it was given (still signed by its own
// key), processes it before completing its own install, and fails on every changed byte.
func TestBuildDependent(t *testing.T) {
	key, depKey := testECKey(t), testEd25519Key(t)
	spec := example1Spec()
	spec.Algorithm = AlgorithmEdDSA
	dep, err := Build(spec, depKey)
	if err != nil {
		t.Fatal(err)
	}
	data, err := BuildDependent(DependentSpec{Dependency: dep, Name: "#firmware", SequenceNumber: 7}, key)
	if err != nil {
		t.Fatal(err)
	}
	trusted := []crypto.PublicKey{key.Public(), depKey.Public()}
	s, err := Verify(data, trusted)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if s.Version != 7 || s.PayloadURI != spec.PayloadURI || !slices.Equal(s.PayloadDigest, spec.PayloadDigest) || s.PayloadSize != spec.PayloadSize {
		t.Errorf("summary %+v", s)
	}
	d, err := DecodeSUIT(data)
	if err != nil {
		t.Fatal(err)
	}
	m := d.Manifest
	if len(m.Dependencies) != 1 || !m.Dependencies[0].Integrated || m.Dependencies[0].URI != "#firmware" || m.Dependencies[0].Index != 0 {
		t.Errorf("dependencies %+v", m.Dependencies)
	}
	if want := []string{"dependency 0/install", "root/install"}; !slices.Equal(m.Processed, want) {
		t.Errorf("processed %q, want %q", m.Processed, want)
	}
	assertEveryByteMatters(t, "dependent", data, len(data), trusted)

	if _, err := Verify(data, []crypto.PublicKey{key.Public()}); FailureOf(err) != FailureSignatureInvalid {
		t.Errorf("with the dependency's signer untrusted: %v, want SignatureInvalid", err)
	}
}

func TestBuildDependentRejects(t *testing.T) {
	key := testECKey(t)
	dep, err := Build(example1Spec(), key)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]DependentSpec{
		"name without #":    {Dependency: dep, Name: "firmware"},
		"name only #":       {Dependency: dep, Name: "#"},
		"not an envelope":   {Dependency: []byte{0xa0}, Name: "#firmware"},
		"unknown algorithm": {Dependency: dep, Name: "#firmware", Algorithm: "RS256"},
	} {
		if _, err := BuildDependent(d, key); err == nil {
			t.Errorf("%s: built", name)
		}
	}
	spec := example1Spec()
	spec.PayloadURI = "http://example.com/" + strings.Repeat("f", 1500)
	large, err := Build(spec, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BuildDependent(DependentSpec{Dependency: large, Name: "#firmware"}, key); !errors.Is(err, ErrManifestTooLarge) {
		t.Errorf("around a %d-byte dependency: %v, want ErrManifestTooLarge", len(large), err)
	}
}
