package manifest

import (
	"crypto"
	"crypto/ecdsa"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/veraison/go-cose"
)

// Format is a manifest format.
type Format string

// The manifest formats fleetwave builds and verifies.
const (
	FormatPelionV3 Format = "PelionV3"
	FormatSUIT     Format = "SUIT"
)

// MaxManifestSize is the Update Service's limit on a manifest ("maximum manifest size of 2KB"). Build
// refuses to produce anything larger and the decoders refuse to read anything larger.
const MaxManifestSize = 2048

// DefaultComponent is the component a manifest updates when it names none.
const DefaultComponent = "MAIN"

// Summary is what a manifest says, format-independent.
type Summary struct {
	Format   Format
	VendorID uuid.UUID // uuid.Nil for a SUIT manifest without a vendor-identifier condition
	ClassID  uuid.UUID // uuid.Nil for a SUIT manifest without a class-identifier condition
	// Component is the v3 component-name, or the text form of a SUIT component identifier
	// (see ComponentID).
	Component string
	// Version is what devices compare for anti-rollback: the encoded v3 payload-version, or the SUIT
	// sequence number.
	Version         uint64
	SemVer          string // the v3 payload-version ("" for SUIT)
	Priority        int64
	PayloadDigest   []byte // SHA-256 of the payload the device downloads
	PayloadSize     uint64
	PayloadURI      string
	PayloadFormat   string // raw-binary, arm-patch-stream, encrypted-raw, ...
	PrecursorDigest []byte // delta payloads only
	// InstalledDigest and InstalledSize describe the image as the device installs it: the payload
	// itself, the patched image of a delta, the plaintext of an encrypted payload.
	InstalledDigest []byte
	InstalledSize   uint64
	Algorithm       string // ES256, ESP256 or EdDSA
	KeyID           []byte // the COSE kid when the manifest carries one; nil otherwise

	// SUIT only. SetVersion is the suit-set-version in text form ("1.2.3"), "" without one.
	SetVersion string
	// Conditions are the checks only the device can decide, including those of dependencies and the
	// validity of a delegation chain.
	Conditions []SUITCondition
	// Unsupported lists what the device-side interpreter would not run (see SUITManifest).
	Unsupported []string
	// Unresolved lists dependencies named by reference that were not supplied.
	Unresolved []string
	// SignerKeyID is the key id (see KeyID) of the key whose signature verified, and AnchorKeyID that of
	// the trusted key it was delegated from, when it was (Verify only; nil from Inspect).
	SignerKeyID []byte
	AnchorKeyID []byte
}

// Inspect decodes a manifest of either format (detected from its first bytes) strictly, WITHOUT
// verifying its signature. Errors are *DeviceError values.
func Inspect(data []byte) (*Summary, error) {
	if isPelionV3(data) {
		p, err := DecodePelionV3(data)
		if err != nil {
			return nil, err
		}
		return p.summary(), nil
	}
	s, err := DecodeSUIT(data)
	if err != nil {
		return nil, err
	}
	return s.summary(), nil
}

// isPelionV3 tells the formats apart: a DER SignedResource starts with a SEQUENCE tag, a SUIT envelope
// with tag 107 or a map.
func isPelionV3(data []byte) bool { return len(data) > 0 && data[0] == 0x30 }

// Verify checks the signature against any of the trusted public keys (*ecdsa.PublicKey on P-256 or
// ed25519.PublicKey) and returns the decoded summary. It is a pure function of its inputs, so callers
// may memoise it per (data, keys). Errors are *DeviceError values.
func Verify(data []byte, trusted []crypto.PublicKey) (*Summary, error) {
	return verify(data, trusted, nil, nil)
}

// Device is what a device knows about itself.
type Device struct {
	VendorID, ClassID uuid.UUID
	Component         string // "" means "MAIN"
	InstalledVersion  uint64 // encoded semantic version (v3) or last sequence number (SUIT)

	// What SUIT's update-management conditions ask of a device.

	// InstalledSemVer is the component's version for suit-condition-version, in SUITVersion text form;
	// "" means InstalledVersion read as an encoded semantic version.
	InstalledSemVer string
	// InstalledDigest is the SHA-256 of the installed image, for image-not-match; zero when unknown.
	InstalledDigest [32]byte
	// Now is the device clock for use-before and delegation validity; zero means time.Now().
	Now time.Time
	// BatteryMWh is the energy left, for minimum-battery; 0 means the device is not battery powered.
	BatteryMWh uint64
	// DeclinesUpdates makes the device's application refuse update-authorized.
	DeclinesUpdates bool
}

// CheckDevice applies the device-side checks that follow signature verification, in the order a real
// device applies them, and returns a *DeviceError for the first that fails.
//
// Pelion v3 (fota_manifest_v3.c, fota.c): vendor id, class id, component, then anti-rollback (the
// version must be strictly greater than the installed one). SUIT: anti-rollback first (a SUIT
// processor checks the sequence number before it authenticates), then the vendor and class conditions
// of the shared sequence (skipped when the manifest has none, shown as uuid.Nil), then whether the
// interpreter implements everything the manifest asks, the component, the device conditions (version,
// use-before, battery, authorization, delegation validity; see SUITCondition) and the dependencies.
// Both then require a payload URI: a manifest that fetches nothing cannot update a device.
func (s *Summary) CheckDevice(d Device) error {
	checks := []func(Device) error{s.checkIdentity, s.checkComponent, s.checkVersion}
	if s.Format == FormatSUIT {
		checks = []func(Device) error{s.checkVersion, s.checkIdentity, s.checkSupported, s.checkComponent,
			s.checkConditions, s.checkDependencies}
	}
	checks = append(checks, s.checkURI)
	for _, check := range checks {
		if err := check(d); err != nil {
			return err
		}
	}
	return nil
}

func (s *Summary) checkIdentity(d Device) error {
	// A SUIT manifest without a vendor or class condition does not constrain it (shown as uuid.Nil).
	constrains := func(id uuid.UUID) bool { return s.Format != FormatSUIT || id != uuid.Nil }
	if constrains(s.VendorID) && s.VendorID != d.VendorID {
		return reject(FailureWrongVendor, "manifest vendor %s, device vendor %s", s.VendorID, d.VendorID)
	}
	if constrains(s.ClassID) && s.ClassID != d.ClassID {
		return reject(FailureWrongClass, "manifest class %s, device class %s", s.ClassID, d.ClassID)
	}
	return nil
}

func (s *Summary) checkComponent(d Device) error {
	want := d.Component
	if want == "" {
		want = DefaultComponent
	}
	if s.Component != want {
		return reject(FailureUnexpectedComponent, "manifest updates component %q, device has %q", s.Component, want)
	}
	return nil
}

func (s *Summary) checkVersion(d Device) error {
	if s.Version <= d.InstalledVersion {
		return reject(FailureVersionRejected, "manifest version %#x is not newer than the installed %#x", s.Version, d.InstalledVersion)
	}
	return nil
}

func (s *Summary) checkSupported(Device) error {
	if len(s.Unsupported) > 0 {
		return reject(FailureSchemaUnsupported, "the device does not implement %s", strings.Join(s.Unsupported, ", "))
	}
	return nil
}

func (s *Summary) checkDependencies(Device) error {
	if len(s.Unresolved) > 0 {
		return reject(FailureDependencyNotFound, "dependency %s was not supplied", strings.Join(s.Unresolved, ", "))
	}
	return nil
}

func (s *Summary) checkURI(Device) error {
	if s.PayloadURI == "" {
		return reject(FailureInvalidURI, "the manifest gives no payload URI")
	}
	return nil
}

// VerifyForDevice is Verify followed by CheckDevice, interleaved the way a real device does it (for
// SUIT the anti-rollback check comes before authentication).
func VerifyForDevice(data []byte, trusted []crypto.PublicKey, d Device) (*Summary, error) {
	return verify(data, trusted, &d, nil)
}

// Dependencies are SUIT dependency envelopes supplied beside a manifest that names them by reference
// rather than carrying them: the verifier takes the one whose manifest digest the dependent names.
type Dependencies [][]byte

// VerifyWithDependencies is Verify for a SUIT manifest whose dependencies by reference are supplied.
func VerifyWithDependencies(data []byte, trusted []crypto.PublicKey, deps Dependencies) (*Summary, error) {
	return verify(data, trusted, nil, deps)
}

// VerifyForDeviceWithDependencies is VerifyForDevice with dependencies by reference supplied.
func VerifyForDeviceWithDependencies(data []byte, trusted []crypto.PublicKey, d Device, deps Dependencies) (*Summary, error) {
	return verify(data, trusted, &d, deps)
}

func verify(data []byte, trusted []crypto.PublicKey, d *Device, deps Dependencies) (*Summary, error) {
	if isPelionV3(data) {
		return verifyPelionV3(data, trusted, d)
	}
	return verifySUIT(data, trusted, d, deps)
}

func verifyPelionV3(data []byte, trusted []crypto.PublicKey, d *Device) (*Summary, error) {
	env, err := splitV3(data)
	if err != nil {
		return nil, err
	}
	var keys []*ecdsa.PublicKey
	for _, k := range trusted {
		if pub, ok := k.(*ecdsa.PublicKey); ok {
			keys = append(keys, pub)
		}
	}
	if err := env.verifySignature(keys); err != nil {
		return nil, err
	}
	m, err := parseV3Manifest(env.manifestTLV)
	if err != nil {
		return nil, err
	}
	if d != nil { // the device compares vendor and class while it parses, before the other fields
		partial := &Summary{Format: FormatPelionV3, VendorID: m.VendorID, ClassID: m.ClassID}
		if err := partial.checkIdentity(*d); err != nil {
			return nil, err
		}
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	if err := m.checkTrailer(env.trailer); err != nil {
		return nil, err
	}
	s := (&PelionV3{Manifest: *m, SignedData: env.manifestTLV, Signature: env.signature}).summary()
	if d != nil {
		if err := s.CheckDevice(*d); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func verifySUIT(data []byte, trusted []crypto.PublicKey, d *Device, deps Dependencies) (*Summary, error) {
	env, err := splitSUIT(data)
	if err != nil {
		return nil, err
	}
	if d != nil {
		early := &Summary{Version: *env.manifest.SequenceNumber}
		if err := early.checkVersion(*d); err != nil {
			return nil, err
		}
	}
	auth, err := env.authenticate(trusted)
	if err != nil {
		return nil, err
	}
	m, err := env.interpret(&suitTrust{supplied: deps, auth: func(dep *suitEnvelope) error {
		_, err := dep.authenticate(trusted)
		return err
	}})
	if err != nil {
		return nil, err
	}
	s := (&SUIT{Manifest: *m, Digest: env.digest, Signatures: []SUITSignature{auth.signature}, Delegation: auth.chains}).summary()
	s.SignerKeyID, s.AnchorKeyID = auth.signer, auth.anchor
	if d != nil {
		if err := s.CheckDevice(*d); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// suitAuthentication is what authenticating an envelope found.
type suitAuthentication struct {
	signature SUITSignature
	chains    [][]SUITDelegationLink
	signer    []byte // key id of the key that verified
	anchor    []byte // key id of the trusted key it was delegated from; nil if it is trusted itself
}

// authenticate checks the manifest digest, the delegation chains and the COSE_Sign1 blocks, and returns
// the first block that verifies with a trusted key or a key the chains delegate to.
func (env *suitEnvelope) authenticate(trusted []crypto.PublicKey) (*suitAuthentication, error) {
	if err := env.checkDigest(); err != nil {
		return nil, err
	}
	if len(env.blocks) == 0 {
		return nil, reject(FailureSignatureInvalid, "the envelope carries no authentication block")
	}
	chains, err := env.decodeDelegation()
	if err != nil {
		return nil, err
	}
	delegates, anchors, err := verifyDelegation(chains, trusted)
	if err != nil {
		return nil, err
	}
	keys := append(append([]crypto.PublicKey(nil), trusted...), delegates...)
	var lastErr error
	for _, block := range env.blocks {
		msg, sig, err := decodeSign1(block)
		if err != nil {
			return nil, err
		}
		if msg == nil {
			lastErr = reject(FailureSignatureInvalid, "a COSE_Mac0 (HMAC) authentication block: fleetwave verifies signatures only")
			continue
		}
		msg.Payload = env.digestRaw
		for k, pub := range keys {
			if checkKeyForAlgorithm(sig.Algorithm, pub) != nil {
				continue
			}
			if err := msg.Verify(nil, coseVerifier{alg: coseAlgorithms[sig.Algorithm], pub: pub}); err == nil {
				out := &suitAuthentication{signature: *sig, chains: chains}
				out.signer, _ = KeyID(pub)
				if k >= len(trusted) {
					out.anchor, _ = KeyID(anchors[k-len(trusted)])
				}
				return out, nil
			}
		}
		lastErr = reject(FailureSignatureInvalid, "%s signature does not verify with any trusted or delegated key", sig.Algorithm)
	}
	return nil, lastErr
}

// algorithmMAC0 names a COSE_Mac0 authentication block (HMAC, MTI profile
// suit-sha256-hmac-a128kw-a128ctr): decoded and shown, never verified, as fleetwave holds no shared keys.
const algorithmMAC0 = "COSE_Mac0"

// decodeSign1 decodes a COSE_Sign1_Tagged authentication block with a detached payload. A COSE_Mac0
// block is recognised and returned without a message.
func decodeSign1(block []byte) (*cose.Sign1Message, *SUITSignature, error) {
	if len(block) > 0 && block[0] == 0xd1 { // tag 17
		return nil, &SUITSignature{Algorithm: algorithmMAC0}, nil
	}
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(block); err != nil {
		return nil, nil, malformed("authentication block: %v", err)
	}
	if msg.Payload != nil {
		return nil, nil, malformed("authentication block: the COSE payload must be detached")
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		return nil, nil, reject(FailureSignatureInvalid, "authentication block: %v", err)
	}
	name, ok := coseAlgorithmName(alg)
	if !ok {
		return nil, nil, reject(FailureSignatureInvalid, "unsupported signature algorithm %d", int64(alg))
	}
	sig := &SUITSignature{Algorithm: name}
	for _, h := range []map[any]any{msg.Headers.Protected, msg.Headers.Unprotected} {
		if kid, ok := h[cose.HeaderLabelKeyID].([]byte); ok && sig.KeyID == nil {
			sig.KeyID = kid
		}
	}
	return &msg, sig, nil
}

// DecodeSUIT decodes a SUIT envelope strictly, without verifying its signature (severed elements
// supplied in the envelope are checked against their digests, integrated dependencies against the
// digests their dependents name).
func DecodeSUIT(data []byte) (*SUIT, error) {
	return DecodeSUITWithDependencies(data, nil)
}

// DecodeSUITWithDependencies is DecodeSUIT with dependencies by reference supplied.
func DecodeSUITWithDependencies(data []byte, deps Dependencies) (*SUIT, error) {
	env, err := splitSUIT(data)
	if err != nil {
		return nil, err
	}
	out := &SUIT{Digest: env.digest}
	if out.Signatures, err = env.signatures(); err != nil {
		return nil, err
	}
	if out.Delegation, err = env.decodeDelegation(); err != nil {
		return nil, err
	}
	m, err := env.interpret(&suitTrust{supplied: deps})
	if err != nil {
		return nil, err
	}
	out.Manifest = *m
	return out, nil
}

// summary is the format-independent view of a SUIT manifest: its first fetched image (or, when it
// fetches nothing, its first image) stands for the payload, the root manifest's before its
// dependencies'.
func (s *SUIT) summary() *Summary {
	m := &s.Manifest
	out := &Summary{
		Format:        FormatSUIT,
		VendorID:      m.VendorID,
		ClassID:       m.ClassID,
		Version:       m.SequenceNumber,
		PayloadFormat: PayloadRawBinary,
		Conditions:    append(append([]SUITCondition(nil), m.Conditions...), delegationConditions(s.Delegation)...),
		Unsupported:   m.Unsupported,
		Unresolved:    m.Unresolved,
	}
	if len(m.Components) > 0 {
		out.Component = m.Components[0].String()
	}
	if m.SetVersion != nil {
		out.SetVersion = m.SetVersion.String()
	}
	if img := m.primaryImage(); img != nil {
		out.Component = img.Component.String()
		out.PayloadDigest, out.PayloadSize, out.PayloadURI = img.Digest, img.Size, img.URI
		out.InstalledDigest, out.InstalledSize = img.Digest, img.Size
	}
	if len(s.Signatures) > 0 {
		out.Algorithm, out.KeyID = s.Signatures[0].Algorithm, s.Signatures[0].KeyID
	}
	return out
}

func (m *SUITManifest) primaryImage() *SUITImage {
	for _, root := range []bool{true, false} {
		for i := range m.Images {
			if img := &m.Images[i]; img.URI != "" && (img.Manifest == "") == root {
				return img
			}
		}
	}
	if len(m.Images) > 0 {
		return &m.Images[0]
	}
	return nil
}
