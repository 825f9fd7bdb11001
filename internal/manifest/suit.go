package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// SUIT code points (draft-ietf-suit-manifest-37; unchanged since -30). The update-management and
// trust-domains extensions are in suit_update_mgmt.go and suit_trust.go.
const (
	suitEnvelopeTag        = 107
	suitManifestVersion    = 1
	suitDigestSHA256       = -16
	suitKeyAuthentication  = 2 // envelope
	suitKeyManifest        = 3 // envelope
	suitKeyVersion         = 1 // manifest
	suitKeySequenceNumber  = 2 // manifest
	suitKeyCommon          = 3 // manifest
	suitKeyReferenceURI    = 4 // manifest
	suitKeyComponents      = 2 // common
	suitKeySharedSequence  = 4 // common
	suitKeyValidate        = 7
	suitKeyLoad            = 8
	suitKeyInvoke          = 9
	suitKeyPayloadFetch    = 16
	suitKeyInstall         = 20
	suitKeyText            = 23
	suitReportAll          = 15 // record and sysinfo, on success and on failure
	suitReportOnFailure    = 2
	suitMaxAuthBlocks      = 4
	suitMaxComponents      = 16
	suitMaxComponentLength = 8 // segments per component identifier
)

// SUIT commands (conditions and directives) and parameters.
const (
	suitCondVendorID         = 1
	suitCondClassID          = 2
	suitCondImageMatch       = 3
	suitCondComponentSlot    = 5
	suitCondCheckContent     = 6
	suitDirSetComponentIndex = 12
	suitCondAbort            = 14
	suitDirTryEach           = 15
	suitDirWrite             = 18
	suitDirOverrideParams    = 20
	suitDirFetch             = 21
	suitDirCopy              = 22
	suitDirInvoke            = 23
	suitCondDeviceID         = 24
	suitDirSwap              = 31
	suitDirRunSequence       = 32
)

var (
	suitDecMode       = mustDecMode(cbor.TagsForbidden)
	suitTaggedDecMode = mustDecMode(cbor.TagsAllowed) // for the one tag a CoSWID may carry
)

// mustDecMode is strict and bounded: no duplicate keys, no indefinite lengths, small nesting and element
// limits, and (in suitDecMode) no tags: the envelope tag and COSE's are handled explicitly.
func mustDecMode(tags cbor.TagsMode) cbor.DecMode {
	mode, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           tags,
		MaxNestedLevels:  16,
		MaxArrayElements: 256,
		MaxMapPairs:      32,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return mode
}

// ComponentID is a SUIT component identifier: a list of byte-string segments.
//
// Its text form joins segments with "/"; a segment that is not plain printable ASCII (or could be
// mistaken for hex) is written as 0x-prefixed hex. "MAIN" is [h'4d41494e'], "0x00" is [h'00'] (the
// draft examples' component), "usr/bin/env" is three segments.
type ComponentID [][]byte

// ParseComponentID parses the text form of a component identifier.
func ParseComponentID(s string) (ComponentID, error) {
	if s == "" {
		return nil, errors.New("component identifier is empty")
	}
	if !strings.Contains(s, "/") && !strings.HasPrefix(s, "0x") {
		return ComponentID{[]byte(s)}, nil
	}
	var id ComponentID
	for _, seg := range strings.Split(s, "/") {
		if hexPart, ok := strings.CutPrefix(seg, "0x"); ok {
			b, err := hex.DecodeString(hexPart)
			if err != nil {
				return nil, fmt.Errorf("component segment %q: %w", seg, err)
			}
			id = append(id, b)
			continue
		}
		if seg == "" {
			return nil, fmt.Errorf("component identifier %q has an empty segment", s)
		}
		id = append(id, []byte(seg))
	}
	if len(id) > suitMaxComponentLength {
		return nil, fmt.Errorf("component identifier %q has more than %d segments", s, suitMaxComponentLength)
	}
	return id, nil
}

func (c ComponentID) String() string {
	segs := make([]string, len(c))
	for i, seg := range c {
		if isPlainSegment(seg) {
			segs[i] = string(seg)
		} else {
			segs[i] = "0x" + hex.EncodeToString(seg)
		}
	}
	return strings.Join(segs, "/")
}

func isPlainSegment(seg []byte) bool {
	if len(seg) == 0 || bytes.HasPrefix(seg, []byte("0x")) {
		return false
	}
	for _, c := range seg {
		if c <= ' ' || c > '~' || c == '/' {
			return false
		}
	}
	return true
}

// Wire structures. Fields holding "bstr .cbor X" or a choice are cbor.RawMessage with the complete
// encoded item, so digests are taken over exactly the bytes on the wire.

type suitEnvelopeWire struct {
	Delegation            cbor.RawMessage `cbor:"1,keyasint,omitempty"`
	Authentication        cbor.RawMessage `cbor:"2,keyasint"`
	Manifest              cbor.RawMessage `cbor:"3,keyasint"`
	CoSWID                cbor.RawMessage `cbor:"14,keyasint,omitempty"`
	DependencyResolution  cbor.RawMessage `cbor:"15,keyasint,omitempty"`
	PayloadFetch          cbor.RawMessage `cbor:"16,keyasint,omitempty"`
	CandidateVerification cbor.RawMessage `cbor:"18,keyasint,omitempty"`
	Install               cbor.RawMessage `cbor:"20,keyasint,omitempty"`
	Text                  cbor.RawMessage `cbor:"23,keyasint,omitempty"`
}

type suitManifestWire struct {
	Version               *uint64         `cbor:"1,keyasint,omitempty"`
	SequenceNumber        *uint64         `cbor:"2,keyasint,omitempty"`
	Common                cbor.RawMessage `cbor:"3,keyasint,omitempty"`
	ReferenceURI          *string         `cbor:"4,keyasint,omitempty"`
	ComponentID           cbor.RawMessage `cbor:"5,keyasint,omitempty"`
	SetVersion            cbor.RawMessage `cbor:"6,keyasint,omitempty"`
	Validate              cbor.RawMessage `cbor:"7,keyasint,omitempty"`
	Load                  cbor.RawMessage `cbor:"8,keyasint,omitempty"`
	Invoke                cbor.RawMessage `cbor:"9,keyasint,omitempty"`
	CoSWID                cbor.RawMessage `cbor:"14,keyasint,omitempty"`
	DependencyResolution  cbor.RawMessage `cbor:"15,keyasint,omitempty"`
	PayloadFetch          cbor.RawMessage `cbor:"16,keyasint,omitempty"`
	CandidateVerification cbor.RawMessage `cbor:"18,keyasint,omitempty"`
	Install               cbor.RawMessage `cbor:"20,keyasint,omitempty"`
	Text                  cbor.RawMessage `cbor:"23,keyasint,omitempty"`
	Uninstall             cbor.RawMessage `cbor:"24,keyasint,omitempty"`
}

// Keys the decoders know; any other is listed as unsupported, not silently dropped.
var (
	suitEnvelopeKeys = keySet(suitKeyDelegation, suitKeyAuthentication, suitKeyManifest, suitKeyCoSWID,
		suitKeyDependencyResolution, suitKeyPayloadFetch, suitKeyCandidateVerification, suitKeyInstall, suitKeyText)
	suitManifestKeys = keySet(suitKeyVersion, suitKeySequenceNumber, suitKeyCommon, suitKeyReferenceURI,
		suitKeyManifestComponentID, suitKeySetVersion, suitKeyValidate, suitKeyLoad, suitKeyInvoke, suitKeyCoSWID,
		suitKeyDependencyResolution, suitKeyPayloadFetch, suitKeyCandidateVerification, suitKeyInstall, suitKeyText,
		suitKeyUninstall)
	suitCommonKeys = keySet(suitKeyDependencies, suitKeyComponents, suitKeySharedSequence)
)

func keySet(keys ...int64) map[int64]bool {
	set := make(map[int64]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set
}

// suitCommonDecoded is the common element; components are lists of byte strings.
type suitCommonDecoded struct {
	Dependencies   map[uint64]suitDependencyMetaWire `cbor:"1,keyasint"`
	Components     [][]cborBytes                     `cbor:"2,keyasint"`
	SharedSequence cbor.RawMessage                   `cbor:"4,keyasint"`
}

type suitDigestWire struct {
	_         struct{} `cbor:",toarray"`
	Algorithm int64
	Bytes     cborBytes
}

// cborBytes decodes only a CBOR byte string (fxamacker would also fill a []byte from an array of
// small integers).
type cborBytes []byte

func (b *cborBytes) UnmarshalCBOR(data []byte) error {
	if len(data) == 0 || data[0]>>5 != 2 {
		return errors.New("want a byte string")
	}
	return suitDecMode.Unmarshal(data, (*[]byte)(b))
}

// encodeSUITDigest returns the encoded SUIT_Digest [-16, h'digest'].
func encodeSUITDigest(sum []byte) []byte {
	out := make([]byte, 0, 4+sha256Size)
	out = append(out, 0x82, 0x2f) // array(2), -16
	return appendBstr(out, sum)
}

// unwrapBstr decodes an encoded byte string and returns its content.
func unwrapBstr(raw cbor.RawMessage, what string) ([]byte, error) {
	var content cborBytes
	if err := suitDecMode.Unmarshal(raw, &content); err != nil {
		return nil, malformed("%s: %v", what, err)
	}
	return content, nil
}

// decodeBstrCBOR decodes "bstr .cbor X" into v.
func decodeBstrCBOR(raw cbor.RawMessage, v any, what string) error {
	content, err := unwrapBstr(raw, what)
	if err != nil {
		return err
	}
	if err := suitDecMode.Unmarshal(content, v); err != nil {
		return malformed("%s: %v", what, err)
	}
	return nil
}

// suitEnvelope is the outer structure of a SUIT envelope, split before any signature check.
type suitEnvelope struct {
	wire         suitEnvelopeWire
	integrated   map[string]cbor.RawMessage // text-keyed members: integrated payloads and dependencies
	digest       []byte                     // the manifest's SHA-256 from the authentication wrapper
	digestRaw    []byte                     // the encoded SUIT_Digest: the detached COSE payload
	blocks       [][]byte                   // the authentication blocks (COSE_Sign1_Tagged)
	manifest     suitManifestWire
	manifestBstr []byte   // the manifest element as on the wire, bstr header included
	unsupported  []string // envelope and manifest members no interpreter here knows
}

// splitSUIT decodes the envelope, the authentication wrapper and the top level of the manifest.
// Nothing inside the manifest's command sequences is looked at yet: a device checks the manifest
// version and authenticates before it parses any sequence.
func splitSUIT(data []byte) (*suitEnvelope, error) {
	if len(data) > MaxManifestSize {
		return nil, malformed("%d bytes exceeds the %d-byte manifest limit", len(data), MaxManifestSize)
	}
	body, tagged := bytes.CutPrefix(data, []byte{0xd8, suitEnvelopeTag})
	if !tagged && (len(data) == 0 || data[0]>>5 != 5) {
		return nil, malformed("not a SUIT envelope (tag 107 or a map)")
	}
	env := &suitEnvelope{}
	if err := env.decodeMembers(body); err != nil {
		return nil, err
	}
	if err := env.decodeAuthentication(); err != nil {
		return nil, err
	}
	if err := decodeBstrCBOR(env.wire.Manifest, &env.manifest, "manifest"); err != nil {
		return nil, err
	}
	env.manifestBstr = env.wire.Manifest
	m := &env.manifest
	if m.Version == nil || m.SequenceNumber == nil || m.Common == nil {
		return nil, malformed("manifest lacks its version, sequence number or common element")
	}
	if *m.Version != suitManifestVersion {
		return nil, reject(FailureSchemaUnsupported, "SUIT manifest version %d; only version 1 is supported", *m.Version)
	}
	keys, err := unknownKeys(env.manifestBstr, suitManifestKeys, "manifest")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		env.unsupported = append(env.unsupported, fmt.Sprintf("manifest element %d%s", k, suitElementHint(k)))
	}
	return env, nil
}

// decodeMembers decodes the envelope map: integer keys into the wire struct, text keys (integrated
// payloads and dependencies) by name. Unknown integer keys are noted as unsupported.
func (env *suitEnvelope) decodeMembers(body []byte) error {
	var members map[any]cbor.RawMessage
	if err := suitDecMode.Unmarshal(body, &members); err != nil {
		return malformed("SUIT envelope: %v", err)
	}
	if err := suitDecMode.Unmarshal(body, &env.wire); err != nil {
		return malformed("SUIT envelope: %v", err)
	}
	var unknown []int64
	for k, v := range members {
		switch key := k.(type) {
		case string:
			if env.integrated == nil {
				env.integrated = map[string]cbor.RawMessage{}
			}
			env.integrated[key] = v
		case uint64:
			if k := int64(min(key, math.MaxInt64)); !suitEnvelopeKeys[k] {
				unknown = append(unknown, k)
			}
		case int64:
			unknown = append(unknown, key)
		default:
			return malformed("SUIT envelope: a member key of type %T", k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		env.unsupported = append(env.unsupported, fmt.Sprintf("envelope element %d%s", k, suitElementHint(k)))
	}
	if env.wire.Authentication == nil || env.wire.Manifest == nil {
		return malformed("SUIT envelope lacks the authentication wrapper or the manifest")
	}
	return nil
}

// decodeAuthentication splits the authentication wrapper into the manifest digest and the blocks.
func (env *suitEnvelope) decodeAuthentication() error {
	var auth []cborBytes
	if err := decodeBstrCBOR(env.wire.Authentication, &auth, "authentication wrapper"); err != nil {
		return err
	}
	if len(auth) == 0 || len(auth) > 1+suitMaxAuthBlocks {
		return malformed("authentication wrapper has %d elements, want a digest and up to %d blocks", len(auth), suitMaxAuthBlocks)
	}
	var digest suitDigestWire
	if err := suitDecMode.Unmarshal(auth[0], &digest); err != nil {
		return malformed("manifest digest: %v", err)
	}
	if digest.Algorithm != suitDigestSHA256 || len(digest.Bytes) != sha256Size {
		return reject(FailureSignatureInvalid, "manifest digest algorithm %d with %d bytes; only SHA-256 is supported", digest.Algorithm, len(digest.Bytes))
	}
	env.digest, env.digestRaw = digest.Bytes, auth[0]
	for _, block := range auth[1:] {
		env.blocks = append(env.blocks, block)
	}
	return nil
}

// unknownKeys lists the integer keys of the bstr-wrapped map raw that known does not hold.
func unknownKeys(raw cbor.RawMessage, known map[int64]bool, what string) ([]int64, error) {
	var members map[int64]cbor.RawMessage
	if err := decodeBstrCBOR(raw, &members, what); err != nil {
		return nil, err
	}
	var unknown []int64
	for k := range members {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return unknown, nil
}

// suitElementHint names what an unknown element meant in older drafts, for the unsupported list.
func suitElementHint(key int64) string {
	switch key {
	case 17:
		return " (install in drafts -17…-28; renumbered 20 in -29)"
	case 10, 11, 12, 13:
		return " (a command sequence in drafts up to -16)"
	}
	return ""
}

// checkDigest compares the manifest's SHA-256 (over the bstr-wrapped manifest, header included) with
// the digest the authentication wrapper carries.
func (env *suitEnvelope) checkDigest() error {
	sum := sha256.Sum256(env.manifestBstr)
	if !bytes.Equal(sum[:], env.digest) {
		return reject(FailureSignatureInvalid, "manifest digest does not match the authentication wrapper")
	}
	return nil
}

// severable returns the content of the severable element under key, following a severed element
// into the envelope when its digest matches. An element severed and not supplied is absent (nil, nil).
func (env *suitEnvelope) severable(key int, inManifest cbor.RawMessage) ([]byte, error) {
	if inManifest == nil {
		return nil, nil
	}
	if inManifest[0]>>5 == 2 { // inline bstr
		return unwrapBstr(inManifest, fmt.Sprintf("element %d", key))
	}
	var digest suitDigestWire
	if err := suitDecMode.Unmarshal(inManifest, &digest); err != nil {
		return nil, malformed("severed element %d: %v", key, err)
	}
	severed := env.severed(key)
	if severed == nil {
		return nil, nil
	}
	if digest.Algorithm != suitDigestSHA256 {
		return nil, reject(FailureSignatureInvalid, "severed element %d uses digest algorithm %d", key, digest.Algorithm)
	}
	sum := sha256.Sum256(severed)
	if !bytes.Equal(sum[:], digest.Bytes) {
		return nil, reject(FailureSignatureInvalid, "severed element %d does not match its digest", key)
	}
	return unwrapBstr(severed, fmt.Sprintf("severed element %d", key))
}

func (env *suitEnvelope) severed(key int) cbor.RawMessage {
	switch key {
	case suitKeyCoSWID:
		return env.wire.CoSWID
	case suitKeyDependencyResolution:
		return env.wire.DependencyResolution
	case suitKeyPayloadFetch:
		return env.wire.PayloadFetch
	case suitKeyCandidateVerification:
		return env.wire.CandidateVerification
	case suitKeyInstall:
		return env.wire.Install
	case suitKeyText:
		return env.wire.Text
	}
	return nil
}
