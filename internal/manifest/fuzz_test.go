package manifest

import (
	"bytes"
	"crypto"
	"testing"

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
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80})
	f.Add([]byte{0xd8, 0x6b, 0xbf, 0xff})
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
		if len(s.Manifest.Components) == 0 {
			t.Fatal("decoded a manifest without components")
		}
		for _, img := range s.Manifest.Images {
			if img.ComponentIndex >= len(s.Manifest.Components) {
				t.Fatalf("image of component %d of %d", img.ComponentIndex, len(s.Manifest.Components))
			}
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
