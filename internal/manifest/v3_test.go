package manifest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fleetwave/fleetwave/internal/testvectors"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

type v3Vector struct {
	SignedResourceHex string `json:"signed_resource_hex"`
	ManifestHex       string `json:"der_manifest_sequence_hex"`
}

func readV3Vector(t *testing.T, name string) (v3Vector, []byte) {
	t.Helper()
	var v v3Vector
	if err := json.Unmarshal(testvectors.Read(t, "pelion-v3", name+".vector.json"), &v); err != nil {
		t.Fatal(err)
	}
	bin := testvectors.Read(t, "pelion-v3", name+".manifest.bin")
	if hexString(bin) != v.SignedResourceHex {
		t.Fatalf("%s.manifest.bin differs from its vector JSON", name)
	}
	return v, bin
}

// v3VectorSpecs are the inputs the Pelion v3 vectors were generated from (reference §4.9). The delta
// vector's patch and new image are not shipped, so their digests and sizes are given as inputs.
func v3VectorSpecs(t *testing.T) map[string]Spec {
	payload := testvectors.Read(t, "pelion-v3", "payload.bin")
	payloadDigest := sha256.Sum256(payload)
	base := Spec{
		Format:   FormatPelionV3,
		VendorID: mustVendor("example.com"),
		ClassID:  mustClass("example.com", "widget-rev-a"),
	}
	raw := base
	raw.Version = "1.2.3"
	raw.PayloadDigest = payloadDigest[:]
	raw.PayloadSize = uint64(len(payload))
	raw.PayloadURI = "https://example.com/fw/widget-1.2.3.bin"

	delta := base
	delta.Priority = 1
	delta.Version = "1.2.4"
	delta.PayloadDigest = mustHex("1bfe3392fea68cb8fc86c062c25ac7f268c324af3e50663d7e294d5bdb933d42")
	delta.PayloadSize = 500
	delta.PayloadURI = "https://example.com/fw/widget-1.2.4.delta"
	delta.PayloadFormat = PayloadArmPatchStream
	delta.InstalledDigest = mustHex("10fc3c51a152e90e5b90319b601d92ccf37290ef53c35ff92507687d8a911a08")
	delta.InstalledSize = 2048
	delta.PrecursorDigest = payloadDigest[:] // the patch applies to the 1.2.3 image
	delta.SignImage = true
	return map[string]Spec{"v3_raw": raw, "v3_delta_signed_image": delta}
}

func vectorKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ParsePrivateKey(testvectors.Read(t, "pelion-v3", "test.priv.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return key.(*ecdsa.PrivateKey)
}

func TestPelionV3VectorsVerify(t *testing.T) {
	pub, err := ParsePublicKey(testvectors.Read(t, "pelion-v3", "test.pub.key.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for name, spec := range v3VectorSpecs(t) {
		t.Run(name, func(t *testing.T) {
			_, bin := readV3Vector(t, name)
			s, err := Verify(bin, []crypto.PublicKey{pub})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantVersion, _ := EncodeVersion(spec.Version)
			if s.Format != FormatPelionV3 || s.VendorID != spec.VendorID || s.ClassID != spec.ClassID ||
				s.Component != DefaultComponent || s.SemVer != spec.Version || s.Version != wantVersion ||
				s.Priority != spec.Priority || !bytes.Equal(s.PayloadDigest, spec.PayloadDigest) ||
				s.PayloadSize != spec.PayloadSize || s.PayloadURI != spec.PayloadURI ||
				!bytes.Equal(s.PrecursorDigest, spec.PrecursorDigest) || s.Algorithm != AlgorithmES256 || s.KeyID != nil {
				t.Errorf("summary %+v does not match the vector's inputs %+v", s, spec)
			}
			wantFormat := spec.PayloadFormat
			if wantFormat == "" {
				wantFormat = PayloadRawBinary
			}
			if s.PayloadFormat != wantFormat {
				t.Errorf("payload format %q, want %q", s.PayloadFormat, wantFormat)
			}
			wantInstalled, wantInstalledSize := spec.InstalledDigest, spec.InstalledSize
			if wantInstalled == nil {
				wantInstalled, wantInstalledSize = spec.PayloadDigest, spec.PayloadSize
			}
			if !bytes.Equal(s.InstalledDigest, wantInstalled) || s.InstalledSize != wantInstalledSize {
				t.Errorf("installed %x (%d bytes), want %x (%d bytes)", s.InstalledDigest, s.InstalledSize, wantInstalled, wantInstalledSize)
			}
		})
	}
}

func TestPelionV3VectorsDelta(t *testing.T) {
	_, bin := readV3Vector(t, "v3_delta_signed_image")
	p, err := DecodePelionV3(bin)
	if err != nil {
		t.Fatal(err)
	}
	md := p.Manifest.Metadata
	if md == nil || md.InstalledSize != 2048 {
		t.Fatalf("payload metadata %+v, want installed size 2048", md)
	}
	pub := vectorKey(t).Public().(*ecdsa.PublicKey)
	if !verifyECDSARaw(pub, md.InstalledDigest, p.Manifest.InstalledSignature) {
		t.Error("installed-signature does not verify over the installed digest")
	}
}

// Encoding the vectors' inputs reproduces their DER Manifest byte for byte, and, since in-memory keys
// sign with RFC 6979, the whole SignedResource including both signatures.
func TestPelionV3BuildReproducesVectors(t *testing.T) {
	key := vectorKey(t)
	for name, spec := range v3VectorSpecs(t) {
		t.Run(name, func(t *testing.T) {
			vector, bin := readV3Vector(t, name)
			got, err := Build(spec, key)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			p, err := DecodePelionV3(got)
			if err != nil {
				t.Fatalf("decoding the built manifest: %v", err)
			}
			if hexString(p.SignedData) != vector.ManifestHex {
				t.Errorf("DER Manifest\n got %x\nwant %s", p.SignedData, vector.ManifestHex)
			}
			if !bytes.Equal(got, bin) {
				t.Errorf("SignedResource\n got %x\nwant %x", got, bin)
			}
		})
	}
}

func TestPelionV3AnyByteChangeFails(t *testing.T) {
	pub := vectorKey(t).Public()
	for name := range v3VectorSpecs(t) {
		_, bin := readV3Vector(t, name)
		assertEveryByteMatters(t, name, bin, len(bin), []crypto.PublicKey{pub})
	}
}

// assertEveryByteMatters flips each byte before signedEnd (with 0x01, 0x80 and 0xff unless flips are
// given) and requires Verify to reject every change with a *DeviceError.
func assertEveryByteMatters(t *testing.T, name string, data []byte, signedEnd int, trusted []crypto.PublicKey, flips ...byte) {
	t.Helper()
	if flips == nil {
		flips = []byte{0x01, 0x80, 0xff}
	}
	if _, err := Verify(data, trusted); err != nil {
		t.Fatalf("%s: the unmodified manifest does not verify: %v", name, err)
	}
	for i := range data[:signedEnd] {
		for _, flip := range flips {
			changed := bytes.Clone(data)
			changed[i] ^= flip
			s, err := Verify(changed, trusted)
			if err == nil {
				t.Fatalf("%s: byte %d ^ %#x still verifies: %+v", name, i, flip, s)
			}
			if FailureOf(err) == "" {
				t.Fatalf("%s: byte %d ^ %#x: error %v is not a *DeviceError", name, i, flip, err)
			}
		}
	}
}

// signV3 encodes m as is (no field checks) and signs it, to make manifests that pass the signature
// check but not the ones after it.
func signV3(t *testing.T, key crypto.Signer, m PelionV3Manifest) []byte {
	t.Helper()
	der, err := m.appendDER(nil)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(der)
	sig, err := signECDSA(key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return marshalSignedResource(der, sig)
}

func TestPelionV3Rejections(t *testing.T) {
	key := vectorKey(t)
	trusted := []crypto.PublicKey{key.Public()}
	_, raw := readV3Vector(t, "v3_raw")
	good, err := DecodePelionV3(raw)
	if err != nil {
		t.Fatal(err)
	}
	withManifest := func(change func(*PelionV3Manifest)) []byte {
		m := good.Manifest
		change(&m)
		return signV3(t, key, m)
	}
	reencode := func(change func(b *cryptobyte.Builder)) []byte {
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, change)
		out, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name string
		data []byte
		want DeviceFailure
	}{
		{"empty", nil, FailureMalformed},
		{"truncated", raw[:len(raw)-1], FailureMalformed},
		{"trailing byte", append(bytes.Clone(raw), 0), FailureMalformed},
		{"non-minimal length", append([]byte{0x30, 0x82, 0x00, 0xd0}, raw[3:]...), FailureMalformed},
		{"oversize", append(append([]byte{0x30, 0x82, 0x08, 0x01}, raw[3:]...), make([]byte, 2048-len(raw)+1+3)...), FailureMalformed},
		{"schema v1 shape", reencode(func(b *cryptobyte.Builder) { b.AddASN1(asn1.SEQUENCE, func(*cryptobyte.Builder) {}) }), FailureSchemaUnsupported},
		{"manifest-version 4", bytes.Replace(raw, []byte{0x0a, 0x01, 0x03}, []byte{0x0a, 0x01, 0x04}, 1), FailureSchemaUnsupported},
		{"short signature", reencode(func(b *cryptobyte.Builder) {
			b.AddASN1Enum(3)
			b.AddBytes(good.SignedData)
			b.AddASN1OctetString(good.Signature[:63])
		}), FailureSignatureInvalid},
		{"signature of another manifest", reencode(func(b *cryptobyte.Builder) {
			b.AddASN1Enum(3)
			b.AddBytes(good.SignedData)
			b.AddASN1OctetString(make([]byte, 64))
		}), FailureSignatureInvalid},
		{"URI too long", withManifest(func(m *PelionV3Manifest) { m.PayloadURI = "https://example.com/" + strings.Repeat("a", 240) }), FailureInvalidURI},
		{"empty URI", withManifest(func(m *PelionV3Manifest) { m.PayloadURI = "" }), FailureInvalidURI},
		{"component too long", withManifest(func(m *PelionV3Manifest) { m.Component = "BOOTLOADER" }), FailureMalformed},
		{"bad version", withManifest(func(m *PelionV3Manifest) { m.Version = "1.2" }), FailureMalformed},
		{"short digest", withManifest(func(m *PelionV3Manifest) { m.PayloadDigest = m.PayloadDigest[:20] }), FailureMalformed},
		{"delta without metadata", withManifest(func(m *PelionV3Manifest) { m.PayloadFormat = PayloadArmPatchStream }), FailureMalformed},
		{"installed-signature of 10 bytes", withManifest(func(m *PelionV3Manifest) { m.InstalledSignature = make([]byte, 10) }), FailureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.data, trusted)
			if got := FailureOf(err); got != tt.want {
				t.Errorf("Verify failure = %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestPelionV3UnknownPayloadFormat(t *testing.T) {
	key := vectorKey(t)
	_, raw := readV3Vector(t, "v3_raw")
	good, _ := DecodePelionV3(raw)
	// Re-encode with payload-format 7, which no device build supports.
	der := bytes.Replace(good.SignedData, []byte{0x0a, 0x01, 0x01, 0x04, 0x00}, []byte{0x0a, 0x01, 0x07, 0x04, 0x00}, 1)
	digest := sha256.Sum256(der)
	sig, _ := signECDSA(key, digest[:])
	_, err := Verify(marshalSignedResource(der, sig), []crypto.PublicKey{key.Public()})
	if got := FailureOf(err); got != FailurePayloadUnsupported {
		t.Errorf("failure = %q (%v), want PayloadUnsupported", got, err)
	}
}

func TestPelionV3EncryptionKeyTrailer(t *testing.T) {
	key := vectorKey(t)
	spec := v3VectorSpecs(t)["v3_raw"]
	spec.PayloadFormat = PayloadEncryptedRaw
	spec.InstalledDigest = spec.PayloadDigest
	spec.InstalledSize = spec.PayloadSize
	data, err := Build(spec, key)
	if err != nil {
		t.Fatal(err)
	}
	trailer := append([]byte{0x81, 0x10}, bytes.Repeat([]byte{0xab}, 16)...)
	if _, err := Verify(append(bytes.Clone(data), trailer...), []crypto.PublicKey{key.Public()}); err != nil {
		t.Errorf("encrypted-raw with the service's EncryptionKey appended: %v", err)
	}
	raw, err := Build(v3VectorSpecs(t)["v3_raw"], key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(append(raw, trailer...), []crypto.PublicKey{key.Public()}); FailureOf(err) != FailureMalformed {
		t.Errorf("raw-binary with an EncryptionKey appended: error %v, want Malformed", err)
	}
}

func TestDERWriterMatchesCryptobyte(t *testing.T) {
	ints := []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769, 1 << 40, -(1 << 40), 1<<63 - 1, -1 << 63}
	for _, v := range ints {
		var b cryptobyte.Builder
		b.AddASN1Int64(v)
		want, _ := b.Bytes()
		if got := appendDERInt(nil, derInteger, v); !bytes.Equal(got, want) {
			t.Errorf("appendDERInt(%d) = %x, want %x", v, got, want)
		}
	}
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 1<<63 - 1, 1 << 63, 1<<64 - 1} {
		var b cryptobyte.Builder
		b.AddASN1Uint64(v)
		want, _ := b.Bytes()
		if got := appendDERUint(nil, derInteger, v); !bytes.Equal(got, want) {
			t.Errorf("appendDERUint(%d) = %x, want %x", v, got, want)
		}
	}
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536} {
		content := make([]byte, n)
		var b cryptobyte.Builder
		b.AddASN1OctetString(content)
		want, _ := b.Bytes()
		if got := appendDERTLV(nil, derOctetString, content); !bytes.Equal(got, want) {
			t.Errorf("appendDERTLV(%d bytes) header = %x, want %x", n, got[:min(len(got), 5)], want[:min(len(want), 5)])
		}
	}
}

func TestBuildPelionV3Errors(t *testing.T) {
	key := vectorKey(t)
	base := v3VectorSpecs(t)["v3_raw"]
	tests := []struct {
		name   string
		change func(*Spec)
		key    crypto.Signer
		want   error
	}{
		{"no version", func(s *Spec) { s.Version = "" }, key, ErrInvalidSpec},
		{"0.0.0", func(s *Spec) { s.Version = "0.0.0" }, key, ErrInvalidSpec},
		{"short digest", func(s *Spec) { s.PayloadDigest = s.PayloadDigest[:16] }, key, ErrInvalidSpec},
		{"no URI", func(s *Spec) { s.PayloadURI = "" }, key, ErrInvalidSpec},
		{"no vendor", func(s *Spec) { s.VendorID = [16]byte{} }, key, ErrInvalidSpec},
		{"long component", func(s *Spec) { s.Component = "COMPONENT9" }, key, ErrInvalidSpec},
		{"negative priority", func(s *Spec) { s.Priority = -1 }, key, ErrInvalidSpec},
		{"delta without precursor", func(s *Spec) {
			s.PayloadFormat = PayloadArmPatchStream
			s.InstalledDigest = s.PayloadDigest
		}, key, ErrInvalidSpec},
		{"raw with precursor", func(s *Spec) { s.PrecursorDigest = s.PayloadDigest }, key, ErrInvalidSpec},
		{"combined", func(s *Spec) { s.PayloadFormat = PayloadCombined }, key, ErrInvalidSpec},
		{"SUIT algorithm", func(s *Spec) { s.Algorithm = AlgorithmEdDSA }, key, ErrInvalidSpec},
		{"Ed25519 key", func(*Spec) {}, testEd25519Key(t), ErrUnsupportedKey},
		{"too large", func(s *Spec) { s.VendorData = make([]byte, MaxManifestSize) }, key, ErrManifestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := base
			tt.change(&spec)
			if _, err := Build(spec, tt.key); !errors.Is(err, tt.want) {
				t.Errorf("Build error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBuildPelionV3VendorDataAndPriority(t *testing.T) {
	key := vectorKey(t)
	spec := v3VectorSpecs(t)["v3_raw"]
	spec.VendorData = []byte("build 42")
	spec.Priority = 7
	spec.Component = "RADIO"
	data, err := Build(spec, key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePelionV3(data)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Manifest.VendorData) != "build 42" || p.Manifest.Priority != 7 || p.Manifest.Component != "RADIO" {
		t.Errorf("decoded %+v", p.Manifest)
	}
}
