package manifest

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"fmt"

	"github.com/google/uuid"
)

// Spec is everything a manifest states, as typed values.
type Spec struct {
	Format   Format    // FormatPelionV3 (default) or FormatSUIT
	VendorID uuid.UUID // see VendorIDFromDomain
	ClassID  uuid.UUID // see ClassIDFromModel
	// Component is the component to update; "" means "MAIN". For SUIT it is the text form of a
	// component identifier (see ComponentID).
	Component string
	Priority  int64 // v3 update-priority, passed to the device application; SUIT supports only 0
	// Version is the semantic version of the payload. v3 carries it as payload-version; for SUIT its
	// encoded form (EncodeVersion) is the sequence number unless SequenceNumber is set.
	Version        string
	SequenceNumber *uint64 // SUIT only

	PayloadDigest []byte // SHA-256 of the file the device downloads
	PayloadSize   uint64
	PayloadURI    string
	PayloadFormat string // raw-binary (default), arm-patch-stream or encrypted-raw; SUIT: raw-binary

	// InstalledDigest and InstalledSize describe the image the device ends up with, when that is not
	// what it downloads: the new full image of a delta, the plaintext of an encrypted payload.
	InstalledDigest []byte
	InstalledSize   uint64
	PrecursorDigest []byte // arm-patch-stream: SHA-256 of the image the patch applies to
	// SignImage adds the v3 installed-signature: the key's signature over the installed image digest.
	SignImage  bool
	VendorData []byte // v3 vendor-data, passed to the device application

	Algorithm string // SUIT signature algorithm: ES256 (default), ESP256 or EdDSA
	// Delegation, SUIT only, is a delegation chain from a key devices trust to the signing key; the
	// envelope carries it (key 1) so devices that trust only the chain's root accept the manifest.
	Delegation Delegation
}

// Build encodes spec in its format and signs it with key: ECDSA P-256 for either format, Ed25519 for
// SUIT with EdDSA. ECDSA signatures from in-memory keys are deterministic (RFC 6979), so the same spec
// and key always give the same bytes. Errors wrap ErrInvalidSpec, ErrUnsupportedKey or
// ErrManifestTooLarge. To sign many manifests with one key, prepare it once with NewSigner.
func Build(spec Spec, key crypto.Signer) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrUnsupportedKey)
	}
	return (&Signer{key: key}).Build(spec)
}

// Signer is a private key prepared for signing manifests: its type is checked and its key id
// computed once. It is safe for concurrent use if the key is.
type Signer struct {
	key   crypto.Signer
	keyID []byte // nil in the Signer a one-shot Build uses
}

// NewSigner prepares an ECDSA P-256 or Ed25519 private key for Build.
func NewSigner(key crypto.Signer) (*Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrUnsupportedKey)
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, keyID: kid}, nil
}

// KeyID returns the key id of the signer's public key (see KeyID).
func (sg *Signer) KeyID() []byte { return bytes.Clone(sg.keyID) }

// Public returns the signer's public key.
func (sg *Signer) Public() crypto.PublicKey { return sg.key.Public() }

// Build is Build with the prepared key.
func (sg *Signer) Build(spec Spec) ([]byte, error) {
	if spec.Component == "" {
		spec.Component = DefaultComponent
	}
	if spec.PayloadFormat == "" {
		spec.PayloadFormat = PayloadRawBinary
	}
	if err := spec.validateCommon(); err != nil {
		return nil, err
	}
	var out []byte
	var err error
	switch spec.Format {
	case FormatPelionV3, "":
		out, err = buildPelionV3(&spec, sg.key)
	case FormatSUIT:
		out, err = buildSUIT(&spec, sg)
	default:
		return nil, invalidSpec("format %q: want %s or %s", spec.Format, FormatPelionV3, FormatSUIT)
	}
	if err != nil {
		return nil, err
	}
	if len(out) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrManifestTooLarge, len(out), MaxManifestSize)
	}
	return out, nil
}

func (s *Spec) validateCommon() error {
	switch {
	case len(s.PayloadDigest) != sha256Size:
		return invalidSpec("payload digest is %d bytes, want a %d-byte SHA-256", len(s.PayloadDigest), sha256Size)
	case s.PayloadURI == "":
		return invalidSpec("payload URI is empty")
	case s.VendorID == uuid.Nil || s.ClassID == uuid.Nil:
		return invalidSpec("vendor id and class id are required")
	case s.Priority < 0:
		return invalidSpec("priority %d is negative", s.Priority)
	}
	return nil
}

// pelionV3Manifest turns the spec into the v3 Manifest (without the optional installed-signature).
func (s *Spec) pelionV3Manifest() (*PelionV3Manifest, error) {
	m := &PelionV3Manifest{
		VendorID:           s.VendorID,
		ClassID:            s.ClassID,
		Priority:           s.Priority,
		Component:          s.Component,
		Version:            s.Version,
		PayloadDigest:      s.PayloadDigest,
		PayloadSize:        s.PayloadSize,
		PayloadURI:         s.PayloadURI,
		PayloadFormat:      s.PayloadFormat,
		InstalledSignature: []byte{},
		VendorData:         s.VendorData,
	}
	switch s.PayloadFormat {
	case PayloadRawBinary:
		if s.InstalledDigest != nil || s.PrecursorDigest != nil {
			return nil, invalidSpec("raw-binary payloads take no installed or precursor digest")
		}
	case PayloadArmPatchStream, PayloadEncryptedRaw:
		if s.PayloadFormat == PayloadEncryptedRaw && s.PrecursorDigest != nil {
			return nil, invalidSpec("encrypted-raw payloads take no precursor digest")
		}
		m.Metadata = &PayloadMetadata{InstalledSize: s.InstalledSize, InstalledDigest: s.InstalledDigest, PrecursorDigest: s.PrecursorDigest}
	default:
		return nil, invalidSpec("payload format %q: want raw-binary, arm-patch-stream or encrypted-raw", s.PayloadFormat)
	}
	if err := m.validate(); err != nil {
		return nil, specError(err)
	}
	return m, nil
}

func buildPelionV3(s *Spec, key crypto.Signer) ([]byte, error) {
	if err := checkKeyForAlgorithm(AlgorithmES256, key.Public()); err != nil {
		return nil, fmt.Errorf("signing a Pelion v3 manifest takes an EC P-256 key: %w", err)
	}
	if s.SequenceNumber != nil || (s.Algorithm != "" && s.Algorithm != AlgorithmES256) || s.Delegation != nil {
		return nil, invalidSpec("sequence number, signature algorithm and delegation are SUIT settings")
	}
	m, err := s.pelionV3Manifest()
	if err != nil {
		return nil, err
	}
	if s.SignImage {
		installed := m.PayloadDigest
		if m.Metadata != nil {
			installed = m.Metadata.InstalledDigest
		}
		// manifest-tool signs the digest itself, as if it were the hash of the message.
		if m.InstalledSignature, err = signECDSA(key, installed); err != nil {
			return nil, err
		}
	}
	manifestDER, err := m.appendDER(nil)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(manifestDER)
	sig, err := signECDSA(key, digest[:])
	if err != nil {
		return nil, err
	}
	return marshalSignedResource(manifestDER, sig), nil
}

// suitSequenceNumber is the explicit sequence number or the encoded version.
func (s *Spec) suitSequenceNumber() (uint64, error) {
	if s.SequenceNumber != nil {
		return *s.SequenceNumber, nil
	}
	v, err := EncodeVersion(s.Version)
	if err != nil {
		return 0, specError(err)
	}
	return v, nil
}

// suitManifest encodes the unsigned SUIT manifest for the spec, bstr-wrapped, in the shape of the
// draft's "download and install" example (Example 1):
//
//	{1: 1, 2: seq, 3: << {2: [component], 4: << shared >>} >>, 7: << validate >>, 20: << install >>}
//	shared   = [20, {1: vendor-id, 2: class-id, 3: << [-16, digest] >>, 14: size}, 1, 15, 2, 15]
//	validate = [3, 15]                                   image-match
//	install  = [20, {21: uri}, 21, 2, 3, 15]             set uri, fetch, image-match
//
// With a semantic version (update-management) the manifest also carries suit-set-version
// (6: << [major, minor, patch] >>), and install first checks that the component runs an older version:
//
//	install  = [20, {21: uri, 28: << [5, [major, minor, patch]] >>}, 28, 15, 21, 2, 3, 15]
//
// so a device refuses a lower (or the same) semantic version even when the sequence number is higher.
// The check is in install, not in the shared sequence, because validate runs it again at every boot,
// when the device already runs this version.
func (s *Spec) suitManifest() ([]byte, error) {
	switch {
	case s.PayloadFormat != PayloadRawBinary:
		return nil, invalidSpec("SUIT manifests describe raw-binary payloads, not %s", s.PayloadFormat)
	case s.Priority != 0 || s.VendorData != nil || s.SignImage || s.InstalledDigest != nil || s.PrecursorDigest != nil:
		return nil, invalidSpec("priority, vendor data, image signature and installed/precursor digests are Pelion v3 settings")
	}
	component, err := ParseComponentID(s.Component)
	if err != nil {
		return nil, specError(err)
	}
	seq, err := s.suitSequenceNumber()
	if err != nil {
		return nil, err
	}
	version, err := s.suitVersionArray()
	if err != nil {
		return nil, err
	}

	// Each layer is written into one scratch buffer after the layers it wraps, so the manifest costs
	// one allocation; the regions stay valid even if an append moves the buffer.
	buf := make([]byte, 0, 560+2*len(s.PayloadURI))

	buf = s.appendSharedSequence(buf)
	shared := buf

	start := len(buf)
	buf = appendCBORHead(buf, cborMajorMap, 2)
	buf = appendCBORInt(buf, suitKeyComponents)
	buf = appendCBORHead(buf, cborMajorArray, 1)
	buf = appendCBORHead(buf, cborMajorArray, uint64(len(component)))
	for _, seg := range component {
		buf = appendBstr(buf, seg)
	}
	buf = appendCBORInt(buf, suitKeySharedSequence)
	buf = appendBstr(buf, shared)
	common := buf[start:]

	start = len(buf)
	buf = s.appendInstall(buf, version)
	install := buf[start:]

	// The manifest map goes after room for the longest bstr head, which is then written right-aligned
	// in front of it: the bstr-wrapped manifest without another copy.
	const maxHead = 9
	start = len(buf) + maxHead
	buf = append(buf, make([]byte, maxHead)...)
	members := uint64(5)
	if version != nil {
		members++
	}
	buf = appendCBORHead(buf, cborMajorMap, members)
	buf = append(buf, suitKeyVersion, suitManifestVersion, suitKeySequenceNumber)
	buf = appendCBORHead(buf, cborMajorUint, seq)
	buf = append(buf, suitKeyCommon)
	buf = appendBstr(buf, common)
	if version != nil {
		buf = append(buf, suitKeySetVersion)
		buf = appendBstr(buf, version)
	}
	buf = append(buf, suitKeyValidate)
	buf = appendBstr(buf, []byte{0x82, suitCondImageMatch, suitReportAll})
	buf = append(buf, suitKeyInstall)
	buf = appendBstr(buf, install)
	var head [maxHead]byte
	h := appendCBORHead(head[:0], cborMajorBytes, uint64(len(buf)-start))
	copy(buf[start-len(h):], h)
	return buf[start-len(h):], nil
}

// suitVersionArray encodes the spec's semantic version as a SUIT version array; nil without one.
func (s *Spec) suitVersionArray() ([]byte, error) {
	if s.Version == "" {
		return nil, nil
	}
	if _, err := EncodeVersion(s.Version); err != nil {
		return nil, specError(err)
	}
	v, _ := ParseSUITVersion(s.Version)
	out := appendCBORHead(nil, cborMajorArray, uint64(len(v)))
	for _, n := range v {
		out = appendCBORInt(out, n)
	}
	return out, nil
}

// appendSharedSequence writes the shared sequence: set vendor, class, digest and size, then check
// vendor and class.
func (s *Spec) appendSharedSequence(buf []byte) []byte {
	buf = appendCBORHead(buf, cborMajorArray, 6)
	buf = appendCBORInt(buf, suitDirOverrideParams)
	buf = appendCBORHead(buf, cborMajorMap, 4)
	buf = appendCBORInt(buf, suitParamVendorID)
	buf = appendBstr(buf, s.VendorID[:])
	buf = appendCBORInt(buf, suitParamClassID)
	buf = appendBstr(buf, s.ClassID[:])
	buf = appendCBORInt(buf, suitParamImageDigest)
	buf = appendBstr(buf, encodeSUITDigest(s.PayloadDigest))
	buf = appendCBORInt(buf, suitParamImageSize)
	buf = appendCBORHead(buf, cborMajorUint, s.PayloadSize)
	return append(buf, suitCondVendorID, suitReportAll, suitCondClassID, suitReportAll)
}

// appendInstall writes the install sequence; version, when not nil, is the encoded version array the
// component must be older than.
func (s *Spec) appendInstall(buf, version []byte) []byte {
	if version == nil {
		buf = appendCBORHead(buf, cborMajorArray, 6)
		buf = appendCBORInt(buf, suitDirOverrideParams)
		buf = appendCBORHead(buf, cborMajorMap, 1)
		buf = appendCBORInt(buf, suitParamURI)
		buf = appendTstr(buf, s.PayloadURI)
		return append(buf, suitDirFetch, suitReportOnFailure, suitCondImageMatch, suitReportAll)
	}
	buf = appendCBORHead(buf, cborMajorArray, 8)
	buf = appendCBORInt(buf, suitDirOverrideParams)
	buf = appendCBORHead(buf, cborMajorMap, 2)
	buf = appendCBORInt(buf, suitParamURI)
	buf = appendTstr(buf, s.PayloadURI)
	buf = appendCBORInt(buf, suitParamVersion)
	match := append([]byte{0x82, suitVersionLesser}, version...)
	buf = appendBstr(buf, match)
	buf = appendCBORInt(buf, suitCondVersion)
	buf = append(buf, suitReportAll)
	return append(buf, suitDirFetch, suitReportOnFailure, suitCondImageMatch, suitReportAll)
}

// marshalSUITEnvelope encodes the tagged envelope 107({2: bstr(authentication wrapper), 3: manifest})
// around a bstr-wrapped manifest. The wrapper is [bstr(digest), bstr(block)...]; an unsigned envelope
// has no blocks. The maps and the array are tiny and fixed, so they are written directly, in one
// buffer sized up front.
//
// A delegation chain, when given, goes first under key 1.
func marshalSUITEnvelope(manifestBstr, digestRaw []byte, delegation Delegation, blocks ...[]byte) []byte {
	authLen := cborHeadLen(uint64(len(blocks))+1) + cborHeadLen(uint64(len(digestRaw))) + len(digestRaw)
	for _, b := range blocks {
		authLen += cborHeadLen(uint64(len(b))) + len(b)
	}
	out := make([]byte, 0, authLen+len(manifestBstr)+len(delegation)+24)
	if delegation == nil {
		out = append(out, 0xd8, suitEnvelopeTag, 0xa2)
	} else {
		out = append(out, 0xd8, suitEnvelopeTag, 0xa3, suitKeyDelegation)
		out = appendBstr(out, []byte(delegation))
	}
	out = append(out, suitKeyAuthentication)
	out = appendCBORHead(out, cborMajorBytes, uint64(authLen))
	out = appendCBORHead(out, cborMajorArray, uint64(len(blocks))+1)
	out = appendBstr(out, digestRaw)
	for _, b := range blocks {
		out = appendBstr(out, b)
	}
	out = append(out, suitKeyManifest)
	return append(out, manifestBstr...)
}

func buildSUIT(s *Spec, sg *Signer) ([]byte, error) {
	if s.Algorithm == "" {
		s.Algorithm = AlgorithmES256
	}
	signer, err := newCOSESigner(s.Algorithm, sg.key)
	if err != nil {
		return nil, err
	}
	if s.Delegation != nil {
		if err := s.Delegation.CheckDelegation(sg.key.Public()); err != nil {
			return nil, err
		}
	}
	manifestBstr, err := s.suitManifest()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(manifestBstr)
	digestRaw := encodeSUITDigest(sum[:])
	kid := sg.keyID
	if kid == nil { // a one-shot Build: the key id is needed for SUIT only
		if kid, err = KeyID(sg.key.Public()); err != nil {
			return nil, err
		}
	}
	block, err := coseSign1(signer, kid, digestRaw, false)
	if err != nil {
		return nil, fmt.Errorf("signing SUIT manifest: %w", err)
	}
	return marshalSUITEnvelope(manifestBstr, digestRaw, s.Delegation, block), nil
}
