package manifest

import (
	"bytes"
	"crypto"
	"testing"
	"time"

	"github.com/fleetwave/fleetwave/internal/testvectors"
	"github.com/google/go-cmp/cmp"
)

// The seed corpus (the public vectors plus manifests built here) runs in every `go test`; run a
// target longer with e.g. `go test ./internal/manifest -run '^$' -fuzz FuzzVerify -fuzztime 5m`.

func addSeeds(f *testing.F) {
	for _, name := range []string{"v3_raw", "v3_delta_signed_image"} {
		f.Add(testvectors.Read(f, "pelion-v3", name+".manifest.bin"))
	}
	for _, ex := range suitExamples {
		f.Add(testvectors.ReadHex(f, "suit", ex.file))
	}
	f.Add(testvectors.ReadHex(f, "suit", "example-0-unsigned.hex"))
	key, err := ParsePrivateKey(testvectors.Read(f, "pelion-v3", "test.priv.key.pem"))
	if err != nil {
		f.Fatal(err)
	}
	for _, format := range []Format{FormatPelionV3, FormatSUIT} {
		data, err := Build(benchSpec(format, "", make([]byte, 32)), key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, file := range []string{"suit-manifest-es-ecdh-dependency.suit", "suit-manifest-aes-kw.suit", "suit-manifest-es-ecdh-content.suit"} {
		f.Add(testvectors.Read(f, "suit", "firmware-encryption", file))
	}
	for _, data := range extensionSeeds(f, key) {
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80})
	f.Add([]byte{0xd8, 0x6b, 0xbf, 0xff})
}

// extensionSeeds are envelopes using the update-management and trust-domains extensions, signed by key
// (which FuzzVerify trusts): every command, a dependency by reference, and a delegation chain from key.
func extensionSeeds(f *testing.F, key crypto.Signer) [][]byte {
	dep := extDependency(f, AlgorithmES256, key)
	all := extEnvelope{manifest: extAllCommands(f, dep).encode(f), algorithm: AlgorithmES256, key: key,
		integrated: map[string][]byte{"#radio": dep}}.encode(f)
	byRef := extEnvelope{manifest: dependentOn(f, dep, "https://example.com/radio.suit", true).encode(f),
		algorithm: AlgorithmES256, key: key}.encode(f)
	delegate := testEd25519Key(f)
	spec := benchSpec(FormatSUIT, AlgorithmEdDSA, make([]byte, 32))
	spec.Delegation = mustDelegation(f, nil, key, AlgorithmES256, delegate.Public(), DelegationClaims{Expires: time.Unix(1<<32, 0)})
	delegated, err := Build(spec, delegate)
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{all, byRef, delegated, dep}
}

func fuzzTrustedKeys(f *testing.F) []crypto.PublicKey {
	pelion, err := ParsePublicKey(testvectors.Read(f, "pelion-v3", "test.pub.key.bin"))
	if err != nil {
		f.Fatal(err)
	}
	suit, err := ParsePublicKey(testvectors.Read(f, "suit", "example-public-key.pem"))
	if err != nil {
		f.Fatal(err)
	}
	return []crypto.PublicKey{pelion, suit}
}

// FuzzDecodePelionV3: never panics, and whatever decodes re-encodes to the same DER (the decoder
// admits only one encoding of each manifest).
func FuzzDecodePelionV3(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePelionV3(data)
		if err != nil {
			if FailureOf(err) == "" {
				t.Fatalf("error %v is not a *DeviceError", err)
			}
			return
		}
		der, err := p.Manifest.MarshalDER()
		if err != nil {
			t.Fatalf("re-encoding a decoded manifest: %v", err)
		}
		if !bytes.Equal(der, p.SignedData) {
			t.Fatalf("decoded manifest re-encodes differently:\n in  %x\n out %x", p.SignedData, der)
		}
		if !bytes.HasPrefix(data, marshalSignedResource(der, p.Signature)) {
			t.Fatalf("SignedResource re-encodes differently")
		}
	})
}

// FuzzDecodeSUIT: never panics, returns *DeviceError on failure and a usable summary on success.
func FuzzDecodeSUIT(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSUIT(data)
		if err != nil {
			if FailureOf(err) == "" {
				t.Fatalf("error %v is not a *DeviceError", err)
			}
			return
		}
		for _, img := range s.Manifest.Images {
			if img.Manifest == "" && img.ComponentIndex >= len(s.Manifest.Components) {
				t.Fatalf("image of component %d of %d", img.ComponentIndex, len(s.Manifest.Components))
			}
		}
		if len(s.Manifest.Dependencies) > suitMaxSlots || len(s.Manifest.Processed) > 2*len(suitSectionOrder)*(1+suitMaxSlots) {
			t.Fatalf("unbounded output: %d dependencies, %d processed", len(s.Manifest.Dependencies), len(s.Manifest.Processed))
		}
		_ = s.summary()
	})
}

// FuzzVerify: never panics; whatever verifies for a device also verifies and inspects to the same
// summary, and passes CheckDevice.
func FuzzVerify(f *testing.F) {
	addSeeds(f)
	trusted := fuzzTrustedKeys(f)
	device := Device{
		VendorID: mustVendor("example.com"),
		ClassID:  mustClass("example.com", "widget-rev-a"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := VerifyForDevice(data, trusted, device)
		if err != nil {
			if FailureOf(err) == "" {
				t.Fatalf("error %v is not a *DeviceError", err)
			}
			return
		}
		verified, err := Verify(data, trusted)
		if err != nil {
			t.Fatalf("VerifyForDevice accepted what Verify rejects: %v", err)
		}
		inspected, err := Inspect(data)
		if err != nil {
			t.Fatalf("Inspect rejects a verified manifest: %v", err)
		}
		if diff := cmp.Diff(s, verified); diff != "" {
			t.Fatalf("VerifyForDevice and Verify disagree: %s", diff)
		}
		if diff := cmp.Diff(s.Format, inspected.Format); diff != "" || s.Version != inspected.Version || s.PayloadURI != inspected.PayloadURI {
			t.Fatalf("Inspect disagrees with Verify: %+v vs %+v", inspected, s)
		}
		if err := s.CheckDevice(device); err != nil {
			t.Fatalf("CheckDevice rejects what VerifyForDevice accepted: %v", err)
		}
	})
}

// FuzzDelegationCWT: a delegation CWT never panics the decoder; what decodes names a key whose id
// matches the key it carries, and its claims re-encode to a CWT that decodes the same.
func FuzzDelegationCWT(f *testing.F) {
	root, delegate := testECKey(f), testEd25519Key(f)
	chain := mustDelegation(f, nil, root, AlgorithmES256, delegate.Public(), DelegationClaims{Issuer: "example.com", Expires: time.Unix(1<<31, 0)})
	links, err := chain.links()
	if err != nil {
		f.Fatal(err)
	}
	cwt, _ := links[0].msg.MarshalCBOR()
	f.Add(cwt)
	f.Add([]byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x41, 0xa0, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		link, err := decodeCWT(data)
		if err != nil {
			return
		}
		kid, err := KeyID(link.key)
		if err != nil || !bytes.Equal(kid, link.KeyID) {
			t.Fatalf("key id %x for a key with id %x (%v)", link.KeyID, kid, err)
		}
		claims := DelegationClaims{Issuer: link.Issuer, Subject: link.Subject}
		payload, err := claims.encode(link.key)
		if err != nil {
			t.Fatalf("re-encoding the claims: %v", err)
		}
		var again SUITDelegationLink
		if err := again.decodeClaims(payload); err != nil || !sameKey(again.key, link.key) || again.Issuer != link.Issuer {
			t.Fatalf("re-encoded claims decode to %+v, %v", again, err)
		}
	})
}

// FuzzSUITVersion: version values never panic; what decodes prints as text that parses back to it.
func FuzzSUITVersion(f *testing.F) {
	for _, v := range [][]int64{{1, 2, 3}, {1, 2, -1, 3}, {2, 0, -3}, {7}} {
		enc, _ := coreDet(f).Marshal([]any{2, v})
		f.Add(bstr(enc))
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeVersionMatch(data)
		if err != nil {
			return
		}
		back, err := ParseSUITVersion(m.Value.String())
		if err != nil || back.String() != m.Value.String() || len(back) != len(m.Value) {
			t.Fatalf("%v prints as %q, which parses to %v (%v)", []int64(m.Value), m.Value.String(), back, err)
		}
	})
}
