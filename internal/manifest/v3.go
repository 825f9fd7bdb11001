package manifest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Payload formats of a Pelion v3 manifest (the payload-format ENUMERATED of the schema), by the names
// manifest-tool uses.
const (
	PayloadRawBinary         = "raw-binary"
	PayloadArmPatchStream    = "arm-patch-stream"
	PayloadCombined          = "combined"
	PayloadEncryptedRaw      = "encrypted-raw"
	PayloadEncryptedCombined = "encrypted-combined"
)

// v3PayloadFormatCodes are the payload-format ENUMERATED values of the schema.
var v3PayloadFormatCodes = []struct {
	code int
	name string
}{
	{1, PayloadRawBinary},
	{5, PayloadArmPatchStream},
	{6, PayloadCombined},
	{257, PayloadEncryptedRaw},
	{262, PayloadEncryptedCombined},
}

func v3PayloadFormatCode(name string) (int, bool) {
	for _, f := range v3PayloadFormatCodes {
		if f.name == name {
			return f.code, true
		}
	}
	return 0, false
}

func v3PayloadFormatName(code int) (string, bool) {
	for _, f := range v3PayloadFormatCodes {
		if f.code == code {
			return f.name, true
		}
	}
	return "", false
}

// Limits a Pelion v3 device client enforces on manifest fields (fota_config.h).
const (
	v3MaxComponentName = 8   // FOTA_COMPONENT_MAX_NAME_SIZE 9, including the terminator
	v3MaxURI           = 255 // FOTA_MANIFEST_URI_SIZE 256, including the terminator
	v3SignatureSize    = 64  // raw r||s of ECDSA P-256
	v3SchemaVersion    = 3
	sha256Size         = sha256.Size
)

// PelionV3 is a decoded Pelion v3 SignedResource.
type PelionV3 struct {
	Manifest PelionV3Manifest
	// SignedData is DER(Manifest), the bytes the signature covers.
	SignedData []byte
	// Signature is the raw 64-byte r||s ECDSA P-256/SHA-256 signature over SignedData.
	Signature []byte
}

// PelionV3Manifest is the Manifest SEQUENCE of the v3 schema, field by field.
type PelionV3Manifest struct {
	VendorID      uuid.UUID
	ClassID       uuid.UUID
	Priority      int64
	Component     string
	Version       string // payload-version, a semantic version
	PayloadDigest []byte // SHA-256 of the file the device downloads
	PayloadSize   uint64
	PayloadURI    string
	PayloadFormat string // one of the Payload* constants
	// InstalledSignature is empty, or the raw r||s signature over the installed image's SHA-256.
	InstalledSignature []byte
	Metadata           *PayloadMetadata // required for every format but raw-binary
	VendorData         []byte           // nil when absent
}

// PayloadMetadata describes the image the device ends up with when it differs from what it downloads
// (a delta patch, an encrypted payload).
type PayloadMetadata struct {
	InstalledSize   uint64
	InstalledDigest []byte
	PrecursorDigest []byte // arm-patch-stream only: the image the patch applies to
}

// appendDER appends DER(Manifest).
func (m *PelionV3Manifest) appendDER(dst []byte) ([]byte, error) {
	format, ok := v3PayloadFormatCode(m.PayloadFormat)
	if !ok {
		return nil, invalidSpec("payload format %q is not a Pelion v3 format", m.PayloadFormat)
	}
	body := make([]byte, 0, 200+len(m.PayloadURI)+len(m.VendorData))
	body = appendDERTLV(body, derOctetString, m.VendorID[:])
	body = appendDERTLV(body, derOctetString, m.ClassID[:])
	body = appendDERInt(body, derInteger, m.Priority)
	body = appendDERTLV(body, derUTF8String, m.Component)
	body = appendDERTLV(body, derUTF8String, m.Version)
	body = appendDERTLV(body, derOctetString, m.PayloadDigest)
	body = appendDERUint(body, derInteger, m.PayloadSize)
	body = appendDERTLV(body, derUTF8String, m.PayloadURI)
	body = appendDERInt(body, derEnumerated, int64(format))
	body = appendDERTLV(body, derOctetString, m.InstalledSignature)
	if md := m.Metadata; md != nil {
		meta := make([]byte, 0, 80)
		meta = appendDERUint(meta, derInteger, md.InstalledSize)
		meta = appendDERTLV(meta, derOctetString, md.InstalledDigest)
		if md.PrecursorDigest != nil {
			meta = appendDERTLV(meta, derOctetString, md.PrecursorDigest)
		}
		body = appendDERTLV(body, derSequence, meta)
	}
	if m.VendorData != nil {
		body = appendDERTLV(body, derOctetString, m.VendorData)
	}
	return appendDERTLV(dst, derSequence, body), nil
}

// MarshalDER returns DER(Manifest), the bytes a v3 signature covers.
func (m *PelionV3Manifest) MarshalDER() ([]byte, error) {
	return m.appendDER(nil)
}

// marshalSignedResource wraps an encoded Manifest and its signature into a SignedResource.
func marshalSignedResource(manifestDER, signature []byte) []byte {
	body := make([]byte, 0, len(manifestDER)+len(signature)+8)
	body = appendDERInt(body, derEnumerated, v3SchemaVersion)
	body = append(body, manifestDER...)
	body = appendDERTLV(body, derOctetString, signature)
	return appendDERTLV(make([]byte, 0, len(body)+4), derSequence, body)
}

// v3Envelope is the outer layer of a SignedResource, split without looking inside the Manifest.
type v3Envelope struct {
	manifestTLV []byte
	signature   []byte
	trailer     []byte // what follows the SignedResource: only an encryption key may
}

// splitV3 parses the SignedResource around the Manifest, the first thing a device does: a damaged outer
// structure is Malformed, a schema version other than 3 is SchemaUnsupported.
func splitV3(data []byte) (*v3Envelope, error) {
	if len(data) > MaxManifestSize {
		return nil, malformed("%d bytes exceeds the %d-byte manifest limit", len(data), MaxManifestSize)
	}
	in := cryptobyte.String(data)
	var outer cryptobyte.String
	if !in.ReadASN1(&outer, asn1.SEQUENCE) {
		return nil, malformed("not a DER SignedResource SEQUENCE")
	}
	if outer.PeekASN1Tag(asn1.SEQUENCE) {
		return nil, reject(FailureSchemaUnsupported, "a v1 manifest (Resource SEQUENCE first); only schema v3 is supported")
	}
	var version int
	if !outer.ReadASN1Enum(&version) {
		return nil, malformed("manifest-version: want an ENUMERATED")
	}
	if version != v3SchemaVersion {
		return nil, reject(FailureSchemaUnsupported, "manifest-version %d; only schema v3 is supported", version)
	}
	var env v3Envelope
	var manifestTLV, signature cryptobyte.String
	if !outer.ReadASN1Element(&manifestTLV, asn1.SEQUENCE) {
		return nil, malformed("manifest: want a SEQUENCE")
	}
	if !outer.ReadASN1(&signature, asn1.OCTET_STRING) {
		return nil, malformed("signature: want an OCTET STRING")
	}
	if !outer.Empty() {
		return nil, malformed("unexpected data after the signature inside SignedResource")
	}
	env.manifestTLV, env.signature, env.trailer = manifestTLV, signature, in
	return &env, nil
}

// verifySignature checks the raw r||s signature over the Manifest TLV against the trusted keys.
func (env *v3Envelope) verifySignature(trusted []*ecdsa.PublicKey) error {
	if len(env.signature) != v3SignatureSize {
		return reject(FailureSignatureInvalid, "signature is %d bytes, want %d (raw r||s)", len(env.signature), v3SignatureSize)
	}
	if len(trusted) == 0 {
		return reject(FailureSignatureInvalid, "no trusted EC P-256 key to verify a v3 manifest with")
	}
	digest := sha256.Sum256(env.manifestTLV)
	for _, pub := range trusted {
		if verifyECDSARaw(pub, digest[:], env.signature) {
			return nil
		}
	}
	return reject(FailureSignatureInvalid, "ECDSA signature does not verify with any trusted key")
}

// parseV3Manifest decodes the Manifest TLV strictly: every field in schema order with its exact tag,
// minimal DER, nothing left over. Field values are checked separately (validate), in device order.
func parseV3Manifest(tlv []byte) (*PelionV3Manifest, error) {
	in := cryptobyte.String(tlv)
	var f cryptobyte.String
	if !in.ReadASN1(&f, asn1.SEQUENCE) || !in.Empty() {
		return nil, malformed("manifest: want one SEQUENCE")
	}
	var m PelionV3Manifest
	var vendor, class []byte
	var format int
	steps := []struct {
		field string
		ok    func() bool
	}{
		{"vendor-id", func() bool { return readUUID(&f, &vendor, &m.VendorID) }},
		{"class-id", func() bool { return readUUID(&f, &class, &m.ClassID) }},
		{"update-priority", func() bool { return f.ReadASN1Integer(&m.Priority) }},
		{"component-name", func() bool { return readUTF8(&f, &m.Component) }},
		{"payload-version", func() bool { return readUTF8(&f, &m.Version) }},
		{"payload-digest", func() bool { return f.ReadASN1Bytes(&m.PayloadDigest, asn1.OCTET_STRING) }},
		{"payload-size", func() bool { return f.ReadASN1Integer(&m.PayloadSize) }},
		{"payload-uri", func() bool { return readUTF8(&f, &m.PayloadURI) }},
		{"payload-format", func() bool { return f.ReadASN1Enum(&format) }},
		{"installed-signature", func() bool { return f.ReadASN1Bytes(&m.InstalledSignature, asn1.OCTET_STRING) }},
		{"payload-metadata", func() bool { return readV3Metadata(&f, &m.Metadata) }},
		{"vendor-data", func() bool { return readOptionalOctets(&f, &m.VendorData) }},
	}
	for _, s := range steps {
		if !s.ok() {
			return nil, malformed("manifest field %s: missing or not DER of the schema type", s.field)
		}
	}
	if !f.Empty() {
		return nil, malformed("unexpected data after the last manifest field")
	}
	name, ok := v3PayloadFormatName(format)
	if !ok {
		name = fmt.Sprintf("unknown(%d)", format)
	}
	m.PayloadFormat = name
	return &m, nil
}

func readUUID(s *cryptobyte.String, raw *[]byte, out *uuid.UUID) bool {
	if !s.ReadASN1Bytes(raw, asn1.OCTET_STRING) || len(*raw) != len(out) {
		return false
	}
	copy(out[:], *raw)
	return true
}

func readUTF8(s *cryptobyte.String, out *string) bool {
	var v cryptobyte.String
	if !s.ReadASN1(&v, asn1.UTF8String) || !utf8.Valid(v) {
		return false
	}
	*out = string(v)
	return true
}

func readOptionalOctets(s *cryptobyte.String, out *[]byte) bool {
	if !s.PeekASN1Tag(asn1.OCTET_STRING) {
		return true
	}
	return s.ReadASN1Bytes(out, asn1.OCTET_STRING)
}

func readV3Metadata(s *cryptobyte.String, out **PayloadMetadata) bool {
	if !s.PeekASN1Tag(asn1.SEQUENCE) {
		return true
	}
	var seq cryptobyte.String
	var md PayloadMetadata
	if !s.ReadASN1(&seq, asn1.SEQUENCE) ||
		!seq.ReadASN1Integer(&md.InstalledSize) ||
		!seq.ReadASN1Bytes(&md.InstalledDigest, asn1.OCTET_STRING) ||
		!readOptionalOctets(&seq, &md.PrecursorDigest) ||
		!seq.Empty() {
		return false
	}
	*out = &md
	return true
}

// validate applies the device client's field checks (fota_manifest_v3.c) that follow the vendor and
// class checks: name and URI lengths, digest sizes, a supported payload format with its metadata.
func (m *PelionV3Manifest) validate() error {
	switch {
	case m.Priority < math.MinInt32 || m.Priority > math.MaxInt32:
		return malformed("update-priority %d does not fit the device's int", m.Priority)
	case m.Component == "" || len(m.Component) > v3MaxComponentName:
		return malformed("component-name %q: want 1..%d bytes", m.Component, v3MaxComponentName)
	case len(m.PayloadDigest) != sha256Size:
		return malformed("payload-digest is %d bytes, want a %d-byte SHA-256", len(m.PayloadDigest), sha256Size)
	case m.PayloadSize > math.MaxInt32:
		return malformed("payload-size %d does not fit the device's int", m.PayloadSize)
	case m.PayloadURI == "" || len(m.PayloadURI) > v3MaxURI:
		return reject(FailureInvalidURI, "payload-uri is %d bytes, want 1..%d", len(m.PayloadURI), v3MaxURI)
	}
	if _, err := EncodeVersion(m.Version); err != nil {
		return malformed("payload-version: %v", err)
	}
	if _, ok := v3PayloadFormatCode(m.PayloadFormat); !ok {
		return reject(FailurePayloadUnsupported, "payload-format %s", m.PayloadFormat)
	}
	if n := len(m.InstalledSignature); n != 0 && n != v3SignatureSize {
		return malformed("installed-signature is %d bytes, want 0 or %d", n, v3SignatureSize)
	}
	if m.PayloadFormat != PayloadRawBinary && m.Metadata == nil {
		return malformed("payload-metadata is required for %s payloads", m.PayloadFormat)
	}
	if md := m.Metadata; md != nil {
		if len(md.InstalledDigest) != sha256Size {
			return malformed("installed-digest is %d bytes, want %d", len(md.InstalledDigest), sha256Size)
		}
		if md.PrecursorDigest != nil && len(md.PrecursorDigest) != sha256Size {
			return malformed("precursor-digest is %d bytes, want %d", len(md.PrecursorDigest), sha256Size)
		}
		if m.PayloadFormat == PayloadArmPatchStream && md.PrecursorDigest == nil {
			return malformed("precursor-digest is required for %s payloads", PayloadArmPatchStream)
		}
	}
	return nil
}

// checkTrailer admits only what the Update Service appends after the SignedResource of an encrypted
// payload: the EncryptionKey, context tag [1] with 16 key bytes.
func (m *PelionV3Manifest) checkTrailer(trailer []byte) error {
	if len(trailer) == 0 {
		return nil
	}
	encrypted := m.PayloadFormat == PayloadEncryptedRaw || m.PayloadFormat == PayloadEncryptedCombined
	if !encrypted || len(trailer) != 18 || !bytes.Equal(trailer[:2], []byte{0x81, 0x10}) {
		return malformed("%d unexpected bytes after the SignedResource", len(trailer))
	}
	return nil
}

// DecodePelionV3 decodes a Pelion v3 manifest strictly, without verifying its signature.
func DecodePelionV3(data []byte) (*PelionV3, error) {
	env, err := splitV3(data)
	if err != nil {
		return nil, err
	}
	return env.decode()
}

func (env *v3Envelope) decode() (*PelionV3, error) {
	m, err := parseV3Manifest(env.manifestTLV)
	if err != nil {
		return nil, err
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	if err := m.checkTrailer(env.trailer); err != nil {
		return nil, err
	}
	return &PelionV3{Manifest: *m, SignedData: env.manifestTLV, Signature: env.signature}, nil
}

// summary is the format-independent view of a v3 manifest.
func (p *PelionV3) summary() *Summary {
	m := &p.Manifest
	version, _ := EncodeVersion(m.Version) // validated on decode and build
	s := &Summary{
		Format:          FormatPelionV3,
		VendorID:        m.VendorID,
		ClassID:         m.ClassID,
		Component:       m.Component,
		Version:         version,
		SemVer:          m.Version,
		Priority:        m.Priority,
		PayloadDigest:   m.PayloadDigest,
		PayloadSize:     m.PayloadSize,
		PayloadURI:      m.PayloadURI,
		PayloadFormat:   m.PayloadFormat,
		Algorithm:       AlgorithmES256,
		InstalledDigest: m.PayloadDigest,
		InstalledSize:   m.PayloadSize,
	}
	if md := m.Metadata; md != nil {
		s.PrecursorDigest = md.PrecursorDigest
		s.InstalledDigest, s.InstalledSize = md.InstalledDigest, md.InstalledSize
	}
	return s
}
