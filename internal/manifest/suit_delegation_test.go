package manifest

import (
	"bytes"
	"crypto"
	"errors"
	"testing"
	"time"
)

func mustDelegation(t testing.TB, parent Delegation, issuer crypto.Signer, alg string, delegate crypto.PublicKey, claims DelegationClaims) Delegation {
	t.Helper()
	d, err := NewDelegation(parent, issuer, alg, delegate, claims)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A manifest signed by a delegated key verifies for devices that trust only the root, through chains of
// one and two CWTs and with each algorithm; the summary names the signer and the anchor.
func TestSUITDelegationChains(t *testing.T) {
	root, middle := testECKey(t), testEd25519Key(t)
	tests := []struct {
		name      string
		delegate  crypto.Signer
		algorithm string
		chain     func(delegate crypto.PublicKey) Delegation
	}{
		{"one CWT, ES256", testECKey(t), AlgorithmES256, func(d crypto.PublicKey) Delegation {
			return mustDelegation(t, nil, root, AlgorithmES256, d, DelegationClaims{Issuer: "example.com", Subject: "ci"})
		}},
		{"one CWT, ESP256", testECKey(t), AlgorithmESP256, func(d crypto.PublicKey) Delegation {
			return mustDelegation(t, nil, root, AlgorithmESP256, d, DelegationClaims{})
		}},
		{"two CWTs, EdDSA", testEd25519Key(t), AlgorithmEdDSA, func(d crypto.PublicKey) Delegation {
			first := mustDelegation(t, nil, root, AlgorithmES256, middle.Public(), DelegationClaims{})
			return mustDelegation(t, first, middle, AlgorithmEdDSA, d, DelegationClaims{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := benchSpec(FormatSUIT, tt.algorithm, extImage)
			spec.Delegation = tt.chain(tt.delegate.Public())
			data, err := Build(spec, tt.delegate)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			trusted := []crypto.PublicKey{root.Public()}
			s, err := Verify(data, trusted)
			if err != nil {
				t.Fatalf("Verify with the root only: %v", err)
			}
			signer, _ := KeyID(tt.delegate.Public())
			anchor, _ := KeyID(root.Public())
			if !bytes.Equal(s.SignerKeyID, signer) || !bytes.Equal(s.AnchorKeyID, anchor) {
				t.Errorf("signer %x anchor %x, want %x from %x", s.SignerKeyID, s.AnchorKeyID, signer, anchor)
			}
			if _, err := Verify(data, []crypto.PublicKey{testECKey(t).Public()}); FailureOf(err) != FailureDelegationInvalid {
				t.Errorf("another root: %v, want DelegationInvalid", err)
			}
			d, err := DecodeSUIT(data)
			if err != nil || len(d.Delegation) != 1 || !bytes.Equal(d.Delegation[0][len(d.Delegation[0])-1].KeyID, signer) {
				t.Errorf("decoded delegation %+v, %v", d.Delegation, err)
			}
			assertEveryByteMatters(t, tt.name, data, len(data), trusted, 0x01)
		})
	}
}

// A chain that does not hold refuses the manifest with DelegationInvalid (209).
func TestSUITDelegationBroken(t *testing.T) {
	root, delegate, stranger := testECKey(t), testECKey(t), testECKey(t)
	trusted := []crypto.PublicKey{root.Public()}
	tests := []struct {
		name  string
		chain Delegation
		want  DeviceFailure
	}{
		{"first CWT signed by an untrusted key", mustDelegation(t, nil, stranger, AlgorithmES256, delegate.Public(), DelegationClaims{}), FailureDelegationInvalid},
		{"chain to another key", mustDelegation(t, nil, root, AlgorithmES256, stranger.Public(), DelegationClaims{}), FailureSignatureInvalid},
		{"not a list of chains", Delegation{0x01}, FailureMalformed},
		{"empty chain", Delegation{0x81, 0x80}, FailureDelegationInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			manifest := buildSpecLikeManifest().encode(t)
			data := extEnvelope{manifest: manifest, algorithm: AlgorithmES256, key: delegate, delegation: tt.chain}.encode(t)
			_, err := Verify(data, trusted)
			if FailureOf(err) != tt.want {
				t.Errorf("Verify = %v, want %s", err, tt.want)
			}
		})
	}
	if FailureDelegationInvalid.ResultCode() != 209 {
		t.Errorf("DelegationInvalid result code %d", FailureDelegationInvalid.ResultCode())
	}
}

// The CWT's exp claim is a device condition: a device past it refuses the manifest.
func TestSUITDelegationExpiry(t *testing.T) {
	root, delegate := testECKey(t), testECKey(t)
	expires := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	spec := benchSpec(FormatSUIT, "", extImage)
	spec.Delegation = mustDelegation(t, nil, root, AlgorithmES256, delegate.Public(), DelegationClaims{Expires: expires})
	data, err := Build(spec, delegate)
	if err != nil {
		t.Fatal(err)
	}
	device := Device{VendorID: spec.VendorID, ClassID: spec.ClassID, InstalledVersion: 1, InstalledSemVer: "1.0.0", Now: expires.Add(-time.Hour)}
	if _, err := VerifyForDevice(data, []crypto.PublicKey{root.Public()}, device); err != nil {
		t.Errorf("before exp: %v", err)
	}
	device.Now = expires
	if _, err := VerifyForDevice(data, []crypto.PublicKey{root.Public()}, device); FailureOf(err) != FailureDelegationInvalid {
		t.Errorf("at exp: %v, want DelegationInvalid", err)
	}
}

// Build embeds a chain only when it ends at the signing key and holds link by link.
func TestBuildSUITDelegationMustEndAtTheSigner(t *testing.T) {
	root, delegate, other := testECKey(t), testECKey(t), testECKey(t)
	spec := benchSpec(FormatSUIT, "", extImage)
	spec.Delegation = mustDelegation(t, nil, root, AlgorithmES256, other.Public(), DelegationClaims{})
	if _, err := Build(spec, delegate); !errors.Is(err, ErrDelegationMismatch) {
		t.Errorf("chain to another key: %v, want ErrDelegationMismatch", err)
	}
	if _, err := NewDelegation(spec.Delegation, delegate, AlgorithmES256, delegate.Public(), DelegationClaims{}); !errors.Is(err, ErrDelegationMismatch) {
		t.Errorf("extending a chain with a key it does not delegate to: %v", err)
	}
	v3 := benchSpec(FormatPelionV3, "", extImage)
	v3.Delegation = spec.Delegation
	if _, err := Build(v3, delegate); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("delegation on a Pelion v3 manifest: %v, want ErrInvalidSpec", err)
	}
}
