package manifest

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/fleetwave/fleetwave/internal/testvectors"
	"github.com/fxamacker/cbor/v2"
	"github.com/google/uuid"
	"github.com/veraison/go-cose"
)

// What the draft's examples decode to, from shared/vectors/suit/EXPECTED.md.
var (
	exampleVendor = uuid.MustParse("fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe")
	exampleClass  = uuid.MustParse("1492af14-2569-5e48-bf42-9b2d51f2ab45")
	exampleD1     = mustHex("00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210")
	exampleD2     = mustHex("0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff")
)

type expectedImage struct {
	component int
	slot      *uint64
	digest    []byte
	size      uint64
	uri       string
}

func slot(n uint64) *uint64 { return &n }

var suitExamples = []struct {
	file       string
	size       int
	seq        uint64
	digest     string
	components []string
	images     []expectedImage
	sequences  []string
	refURI     string
}{
	{"example-0.hex", 237, 0, "6658ea560262696dd1f13b782239a064da7c6c5cbaf52fded428a6fc83c7e5af",
		[]string{"0x00"}, []expectedImage{{0, nil, exampleD1, 34768, ""}},
		[]string{"shared", "validate", "invoke"}, ""},
	{"example-1.hex", 272, 1, "1f2e7acca0dc2786f2fe4eb947f50873a6a3cfaa98866c5b02e621f42074daf2",
		[]string{"0x00"}, []expectedImage{{0, nil, exampleD1, 34768, "http://example.com/file.bin"}},
		[]string{"shared", "install", "validate"}, ""},
	{"example-2.hex", 923, 2, "6a5197ed8f9dccf733d1c89a359441708e070b4c6dcb9a1c2c82c6165f609b90",
		[]string{"0x00"}, []expectedImage{{0, nil, exampleD1, 34768, "http://example.com/very/long/path/to/file/file.bin"}},
		[]string{"shared", "install", "validate", "invoke"}, "https://git.io/JJYoj"},
	{"example-2-severed.hex", 333, 2, "6a5197ed8f9dccf733d1c89a359441708e070b4c6dcb9a1c2c82c6165f609b90",
		[]string{"0x00"}, []expectedImage{{0, nil, exampleD1, 34768, ""}},
		[]string{"shared", "validate", "invoke"}, "https://git.io/JJYoj"},
	{"example-3.hex", 396, 3, "f6d44a62ec906b392500c242e78e908e9cc5057f3f04104a06a8566200da2ee0",
		[]string{"0x00"}, []expectedImage{
			{0, slot(0), exampleD1, 34768, "http://example.com/file1.bin"},
			{0, slot(1), exampleD2, 76834, "http://example.com/file2.bin"},
		},
		[]string{"shared", "install", "validate"}, ""},
	{"example-4.hex", 403, 4, "5b5f6586b1e6cdf19ee479a5adabf206581000bd584b0832a9bdaf4f72cdbdd6",
		[]string{"0x00", "0x02", "0x01"}, []expectedImage{
			{1, nil, exampleD1, 0, "http://example.com/file.bin"},
			{0, nil, exampleD1, 34768, ""},
			{2, nil, exampleD2, 76834, ""},
		},
		[]string{"shared", "payload-fetch", "install", "validate", "load", "invoke"}, ""},
	{"example-5.hex", 382, 5, "15ce60f77657e4531dc329155f8b0ed78f94bdc6d165b2665473693dcc34f470",
		[]string{"0x00", "0x01"}, []expectedImage{
			{0, nil, exampleD1, 34768, "http://example.com/file1.bin"},
			{1, nil, exampleD2, 76834, "http://example.com/file2.bin"},
		},
		[]string{"shared", "install", "validate", "invoke"}, ""},
}

func examplePublicKey(t *testing.T) crypto.PublicKey {
	t.Helper()
	pub, err := ParsePublicKey(testvectors.Read(t, "suit", "example-public-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestSUITExamplesVerifyAndDecode(t *testing.T) {
	trusted := []crypto.PublicKey{examplePublicKey(t)}
	for _, ex := range suitExamples {
		t.Run(ex.file, func(t *testing.T) {
			data := testvectors.ReadHex(t, "suit", ex.file)
			if len(data) != ex.size {
				t.Fatalf("%d bytes, EXPECTED.md says %d", len(data), ex.size)
			}
			s, err := Verify(data, trusted)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if s.Format != FormatSUIT || s.Version != ex.seq || s.VendorID != exampleVendor || s.ClassID != exampleClass ||
				s.Algorithm != AlgorithmES256 || s.KeyID != nil || s.SemVer != "" {
				t.Errorf("summary %+v", s)
			}
			d, err := DecodeSUIT(data)
			if err != nil {
				t.Fatalf("DecodeSUIT: %v", err)
			}
			if hexString(d.Digest) != ex.digest {
				t.Errorf("manifest digest %x, want %s", d.Digest, ex.digest)
			}
			m := d.Manifest
			if got := fmt.Sprint(m.Sequences); got != fmt.Sprint(ex.sequences) {
				t.Errorf("sequences %s, want %s", got, fmt.Sprint(ex.sequences))
			}
			if got := fmt.Sprint(m.Components); got != fmt.Sprint(ex.components) {
				t.Errorf("components %s, want %s", got, fmt.Sprint(ex.components))
			}
			if m.ReferenceURI != ex.refURI {
				t.Errorf("reference URI %q, want %q", m.ReferenceURI, ex.refURI)
			}
			if len(m.Images) != len(ex.images) {
				t.Fatalf("images %+v, want %d", m.Images, len(ex.images))
			}
			for i, want := range ex.images {
				got := m.Images[i]
				if got.ComponentIndex != want.component || !sameSlot(got.Slot, want.slot) ||
					!bytes.Equal(got.Digest, want.digest) || got.Size != want.size || got.URI != want.uri {
					t.Errorf("image %d = %+v, want %+v", i, got, want)
				}
			}
			primary := ex.images[0]
			if !bytes.Equal(s.PayloadDigest, primary.digest) || s.PayloadSize != primary.size ||
				s.PayloadURI != primary.uri || s.Component != ex.components[primary.component] {
				t.Errorf("summary payload %x/%d/%q/%s, want image %+v", s.PayloadDigest, s.PayloadSize, s.PayloadURI, s.Component, primary)
			}
		})
	}
}

func TestSUITExamplesAnyByteChangeFails(t *testing.T) {
	trusted := []crypto.PublicKey{examplePublicKey(t)}
	for _, ex := range suitExamples {
		data := testvectors.ReadHex(t, "suit", ex.file)
		env, err := splitSUIT(data)
		if err != nil {
			t.Fatal(err)
		}
		// The envelope's authentication wrapper and manifest come first; severed elements follow.
		signedEnd := bytes.Index(data, env.manifestBstr) + len(env.manifestBstr)
		assertEveryByteMatters(t, ex.file, data, signedEnd, trusted)
		assertSeveredBytesCannotChangeContent(t, ex.file, data, signedEnd, trusted)
	}
}

// assertSeveredBytesCannotChangeContent flips bytes of the severed elements after the signed part:
// the envelope may then fail or lose the element (as if severed), but never say anything else.
func assertSeveredBytesCannotChangeContent(t *testing.T, name string, data []byte, signedEnd int, trusted []crypto.PublicKey) {
	t.Helper()
	full, err := Verify(data, trusted)
	if err != nil {
		t.Fatal(err)
	}
	for i := signedEnd; i < len(data); i++ {
		changed := bytes.Clone(data)
		changed[i] ^= 0x01
		s, err := Verify(changed, trusted)
		if err == nil && s.PayloadURI != "" && s.PayloadURI != full.PayloadURI {
			t.Fatalf("%s: severed byte %d changed the payload URI to %q", name, i, s.PayloadURI)
		}
	}
}

func TestSUITExamplesRejectOtherKeys(t *testing.T) {
	other := vectorKey(t).Public() // the Pelion test key
	for _, ex := range suitExamples {
		_, err := Verify(testvectors.ReadHex(t, "suit", ex.file), []crypto.PublicKey{other, testEd25519Key(t).Public()})
		if FailureOf(err) != FailureSignatureInvalid {
			t.Errorf("%s with the wrong keys: %v, want SignatureInvalid", ex.file, err)
		}
	}
}

// Test-side wire types for building manifests from typed values with fxamacker's CoreDetEncOptions,
// the encoding the draft requires. Build writes the same bytes directly (see cbor.go); these tests
// hold the two to each other.
type suitCommonWire struct {
	Components     []ComponentID   `cbor:"2,keyasint"`
	SharedSequence cbor.RawMessage `cbor:"4,keyasint,omitempty"`
}

type suitParametersWire struct {
	VendorID    []byte          `cbor:"1,keyasint,omitempty"`
	ClassID     []byte          `cbor:"2,keyasint,omitempty"`
	ImageDigest cbor.RawMessage `cbor:"3,keyasint,omitempty"`
	ImageSize   *uint64         `cbor:"14,keyasint,omitempty"`
	URI         string          `cbor:"21,keyasint,omitempty"`
}

type typedManifest struct {
	seq                      uint64
	components               []ComponentID
	shared, validate, invoke []any
	install                  []any
}

func coreDet(t testing.TB) cbor.EncMode {
	t.Helper()
	mode, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	return mode
}

func marshalBstr(t testing.TB, v any) cbor.RawMessage {
	t.Helper()
	enc, err := coreDet(t).Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bstr(enc)
}

func (tm typedManifest) encode(t *testing.T) []byte {
	version := uint64(suitManifestVersion)
	m := suitManifestWire{Version: &version, SequenceNumber: &tm.seq}
	common := suitCommonWire{Components: tm.components}
	if tm.shared != nil {
		common.SharedSequence = marshalBstr(t, tm.shared)
	}
	m.Common = marshalBstr(t, common)
	for _, part := range []struct {
		dst *cbor.RawMessage
		seq []any
	}{{&m.Validate, tm.validate}, {&m.Invoke, tm.invoke}, {&m.Install, tm.install}} {
		if part.seq != nil {
			*part.dst = marshalBstr(t, part.seq)
		}
	}
	return marshalBstr(t, m)
}

func exampleShared(size uint64) []any {
	return []any{
		suitDirOverrideParams, suitParametersWire{
			VendorID:    exampleVendor[:],
			ClassID:     exampleClass[:],
			ImageDigest: bstr(encodeSUITDigest(exampleD1)),
			ImageSize:   &size,
		},
		suitCondVendorID, suitReportAll,
		suitCondClassID, suitReportAll,
	}
}

func unsignedEnvelope(manifestBstr []byte) []byte {
	sum := sha256.Sum256(manifestBstr)
	return marshalSUITEnvelope(manifestBstr, encodeSUITDigest(sum[:]), nil)
}

func TestSUITExample0FromTypedValues(t *testing.T) {
	manifest := typedManifest{
		seq:        0,
		components: []ComponentID{{{0x00}}},
		shared:     exampleShared(34768),
		validate:   []any{suitCondImageMatch, suitReportAll},
		invoke:     []any{suitDirInvoke, suitReportOnFailure},
	}.encode(t)
	want := testvectors.ReadHex(t, "suit", "example-0-unsigned.hex")
	if got := unsignedEnvelope(manifest); !bytes.Equal(got, want) {
		t.Errorf("Example 0 from typed values\n got %x\nwant %x", got, want)
	}
}

func example1Spec() Spec {
	seq := uint64(1)
	return Spec{
		Format:         FormatSUIT,
		VendorID:       exampleVendor,
		ClassID:        exampleClass,
		Component:      "0x00",
		SequenceNumber: &seq,
		PayloadDigest:  exampleD1,
		PayloadSize:    34768,
		PayloadURI:     "http://example.com/file.bin",
	}
}

// Build, from a Spec, writes the draft's Example 1 manifest exactly: the unsigned envelope is the
// draft's, and the typed-value encoding with fxamacker agrees.
func TestBuildSUITReproducesExample1(t *testing.T) {
	key, err := ParsePrivateKey(testvectors.Read(t, "suit", "example-private-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := Build(example1Spec(), key)
	if err != nil {
		t.Fatal(err)
	}
	env, err := splitSUIT(data)
	if err != nil {
		t.Fatal(err)
	}
	want := testvectors.ReadHex(t, "suit", "example-1-unsigned.hex")
	if got := unsignedEnvelope(env.manifestBstr); !bytes.Equal(got, want) {
		t.Errorf("unsigned envelope\n got %x\nwant %x", got, want)
	}
	typed := typedManifest{
		seq:        1,
		components: []ComponentID{{{0x00}}},
		shared:     exampleShared(34768),
		validate:   []any{suitCondImageMatch, suitReportAll},
		install: []any{
			suitDirOverrideParams, suitParametersWire{URI: "http://example.com/file.bin"},
			suitDirFetch, suitReportOnFailure,
			suitCondImageMatch, suitReportAll,
		},
	}.encode(t)
	if !bytes.Equal(env.manifestBstr, typed) {
		t.Errorf("Build's manifest differs from the CoreDet encoding of the same values\n got %x\nwant %x", env.manifestBstr, typed)
	}
	s, err := Verify(data, []crypto.PublicKey{examplePublicKey(t)})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	kid, _ := KeyID(key.Public())
	if !bytes.Equal(s.KeyID, kid) {
		t.Errorf("kid %x, want %x", s.KeyID, kid)
	}
}

// The hand-written canonical CBOR equals fxamacker's CoreDet output for the same values, including
// every length boundary of the heads.
func TestCBORWriterMatchesCoreDet(t *testing.T) {
	mode := coreDet(t)
	for _, n := range []uint64{0, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1} {
		want, _ := mode.Marshal(n)
		if got := appendCBORHead(nil, cborMajorUint, n); !bytes.Equal(got, want) {
			t.Errorf("uint %d: %x, want %x", n, got, want)
		}
		if got := cborHeadLen(n); got != len(want) {
			t.Errorf("cborHeadLen(%d) = %d, want %d", n, got, len(want))
		}
	}
	for _, v := range []int64{-1, -24, -25, -256, -257, -1 << 63} {
		want, _ := mode.Marshal(v)
		if got := appendCBORInt(nil, v); !bytes.Equal(got, want) {
			t.Errorf("int %d: %x, want %x", v, got, want)
		}
	}
	for _, n := range []int{0, 23, 24, 255, 256, 70000} {
		b := bytes.Repeat([]byte{7}, n)
		want, _ := mode.Marshal(b)
		if got := appendBstr(nil, b); !bytes.Equal(got, want) {
			t.Errorf("bstr of %d bytes differs", n)
		}
		s := string(b)
		want, _ = mode.Marshal(s)
		if got := appendTstr(nil, s); !bytes.Equal(got, want) {
			t.Errorf("tstr of %d bytes differs", n)
		}
	}
}

// Build's COSE_Sign1 is byte-identical to go-cose's for the same headers and payload (Ed25519 is
// deterministic, so whole messages compare).
func TestCOSESign1MatchesGoCOSE(t *testing.T) {
	key := testEd25519Key(t)
	signer, err := newCOSESigner(AlgorithmEdDSA, key)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := KeyID(key.Public())
	payload := encodeSUITDigest(exampleD1)
	ours, err := coseSign1(signer, kid, payload, false)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{
			Protected:   cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmEdDSA, cose.HeaderLabelKeyID: kid},
			Unprotected: cose.UnprotectedHeader{},
		},
		Payload: payload,
	}
	if err := msg.Sign(nil, nil, signer); err != nil {
		t.Fatal(err)
	}
	msg.Payload = nil
	theirs, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, theirs) {
		t.Errorf("COSE_Sign1\n ours   %x\n go-cose %x", ours, theirs)
	}
}

func TestCOSEProtectedHeaders(t *testing.T) {
	// The draft's examples carry {1: -7} as a10126; ours add the kid but keep the algorithm encoding.
	for alg, want := range map[string]string{AlgorithmES256: "a20126", AlgorithmESP256: "a20128", AlgorithmEdDSA: "a20127"} {
		if got := hexString(coseProtectedHeader(coseAlgorithms[alg], nil)); got != want+"0440" {
			t.Errorf("%s protected header %s, want %s0440", alg, got, want)
		}
	}
}

func TestBuildSUITAlgorithms(t *testing.T) {
	ecKey := vectorKey(t)
	edKey := testEd25519Key(t)
	tests := []struct {
		alg     string
		key     crypto.Signer
		wantErr error
	}{
		{AlgorithmES256, ecKey, nil},
		{AlgorithmESP256, ecKey, nil},
		{AlgorithmEdDSA, edKey, nil},
		{AlgorithmEdDSA, ecKey, ErrUnsupportedKey},
		{AlgorithmES256, edKey, ErrUnsupportedKey},
		{"PS256", ecKey, ErrInvalidSpec},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%T", tt.alg, tt.key), func(t *testing.T) {
			spec := example1Spec()
			spec.Component = ""
			spec.SequenceNumber = nil
			spec.Version = "2.0.1"
			spec.Algorithm = tt.alg
			data, err := Build(spec, tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Build error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			s, err := Verify(data, []crypto.PublicKey{tt.key.Public()})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantSeq, _ := EncodeVersion("2.0.1")
			if s.Algorithm != tt.alg || s.Version != wantSeq || s.Component != DefaultComponent ||
				s.PayloadURI != spec.PayloadURI || s.VendorID != spec.VendorID {
				t.Errorf("summary %+v", s)
			}
			// A signature made for one algorithm does not pass as another: the header is signed.
			other := AlgorithmESP256
			if tt.alg == AlgorithmESP256 {
				other = AlgorithmES256
			}
			if tt.alg != AlgorithmEdDSA {
				forged := bytes.Replace(data, coseProtectedHeader(coseAlgorithms[tt.alg], s.KeyID), coseProtectedHeader(coseAlgorithms[other], s.KeyID), 1)
				if _, err := Verify(forged, []crypto.PublicKey{tt.key.Public()}); FailureOf(err) != FailureSignatureInvalid {
					t.Errorf("algorithm swapped to %s: %v, want SignatureInvalid", other, err)
				}
			}
		})
	}
}

func TestBuildSUITSpecErrors(t *testing.T) {
	key := vectorKey(t)
	tests := map[string]func(*Spec){
		"delta format":        func(s *Spec) { s.PayloadFormat = PayloadArmPatchStream },
		"priority":            func(s *Spec) { s.Priority = 3 },
		"vendor data":         func(s *Spec) { s.VendorData = []byte{1} },
		"no version":          func(s *Spec) { s.SequenceNumber = nil },
		"bad component hex":   func(s *Spec) { s.Component = "0xZZ" },
		"empty segment":       func(s *Spec) { s.Component = "a//b" },
		"too many segments":   func(s *Spec) { s.Component = "a/b/c/d/e/f/g/h/i" },
		"unknown format name": func(s *Spec) { s.Format = "CBOR" },
	}
	for name, change := range tests {
		spec := example1Spec()
		change(&spec)
		if _, err := Build(spec, key); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: Build error = %v, want ErrInvalidSpec", name, err)
		}
	}
	spec := example1Spec()
	spec.PayloadURI = "https://example.com/" + string(bytes.Repeat([]byte("a"), MaxManifestSize))
	if _, err := Build(spec, key); !errors.Is(err, ErrManifestTooLarge) {
		t.Errorf("huge URI: Build error = %v, want ErrManifestTooLarge", err)
	}
}

func TestComponentIDText(t *testing.T) {
	for _, text := range []string{"MAIN", "0x00", "usr/bin/env", "0x0001/boot", "0x", "0x3078"} {
		id, err := ParseComponentID(text)
		if err != nil {
			t.Errorf("ParseComponentID(%q): %v", text, err)
			continue
		}
		if got := id.String(); got != text {
			t.Errorf("ParseComponentID(%q).String() = %q", text, got)
		}
	}
	if got := (ComponentID{[]byte("0x12")}).String(); got != "0x30783132" {
		t.Errorf("a segment that looks like hex prints as %q, want it hex-encoded", got)
	}
}

func TestSUITDecoderStrictness(t *testing.T) {
	key := vectorKey(t)
	data, err := Build(example1Spec(), key)
	if err != nil {
		t.Fatal(err)
	}
	trusted := []crypto.PublicKey{key.Public()}
	dupKey := append([]byte{0xd8, 0x6b, 0xa3}, data[3:]...) // claim three entries
	dupKey = append(dupKey, 0x03, 0x40)                     // a second key 3
	tests := []struct {
		name string
		data []byte
		want DeviceFailure
	}{
		{"trailing byte", append(bytes.Clone(data), 0x00), FailureMalformed},
		{"duplicate map key", dupKey, FailureMalformed},
		{"indefinite-length map", append([]byte{0xd8, 0x6b, 0xbf}, append(data[3:], 0xff)...), FailureMalformed},
		{"other tag", append([]byte{0xd8, 0x6c}, data[2:]...), FailureMalformed},
		{"oversize", append(bytes.Clone(data), make([]byte, MaxManifestSize)...), FailureMalformed},
		{"not CBOR", []byte("hello"), FailureMalformed},
		{"empty", nil, FailureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Verify(tt.data, trusted); FailureOf(err) != tt.want {
				t.Errorf("Verify = %v, want %s", err, tt.want)
			}
			if _, err := Inspect(tt.data); FailureOf(err) != tt.want {
				t.Errorf("Inspect = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestSUITUnsignedEnvelopeDoesNotVerify(t *testing.T) {
	data := testvectors.ReadHex(t, "suit", "example-0-unsigned.hex")
	if _, err := Verify(data, []crypto.PublicKey{examplePublicKey(t)}); FailureOf(err) != FailureSignatureInvalid {
		t.Errorf("Verify(unsigned) = %v, want SignatureInvalid", err)
	}
	s, err := Inspect(data)
	if err != nil || s.Algorithm != "" || s.VendorID != exampleVendor {
		t.Errorf("Inspect(unsigned) = %+v, %v", s, err)
	}
}
