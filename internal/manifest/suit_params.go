package manifest

import (
	"fmt"
	"maps"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/uuid"
)

// SUIT parameters of the core draft (draft-ietf-suit-manifest-37; fetch-arguments since -30).
const (
	suitParamVendorID         = 1
	suitParamClassID          = 2
	suitParamImageDigest      = 3
	suitParamComponentSlot    = 5
	suitParamStrictOrder      = 12
	suitParamSoftFailure      = 13
	suitParamImageSize        = 14
	suitParamContent          = 18
	suitParamURI              = 21
	suitParamSourceComponent  = 22
	suitParamInvokeArgs       = 23
	suitParamDeviceID         = 24
	suitParamFetchArguments   = 25
	suitParamEncryptionInfo   = 19 // draft-ietf-suit-firmware-encryption: not implemented here
	suitMaxParamsPerDirective = 16
)

// suitParams is one component's parameters as their encoded values, checked when set: set-parameters
// and copy-params act on presence, so the raw form is what the commands need.
type suitParams map[int64]cbor.RawMessage

// suitParamCheck validates a parameter's value. A parameter without an entry is one the device-side
// interpreter does not implement.
var suitParamCheck = map[int64]func(cbor.RawMessage) error{
	suitParamVendorID:          func(v cbor.RawMessage) error { _, err := decodeUUIDParam(v); return err },
	suitParamClassID:           func(v cbor.RawMessage) error { _, err := decodeUUIDParam(v); return err },
	suitParamImageDigest:       func(v cbor.RawMessage) error { _, err := decodeImageDigest(v); return err },
	suitParamUseBefore:         func(v cbor.RawMessage) error { _, err := decodeUseBefore(v); return err },
	suitParamComponentSlot:     checkAs[uint64],
	suitParamStrictOrder:       checkAs[bool],
	suitParamSoftFailure:       checkAs[bool],
	suitParamImageSize:         checkAs[uint64],
	suitParamContent:           checkAs[cborBytes],
	suitParamURI:               checkAs[string],
	suitParamSourceComponent:   checkAs[uint64],
	suitParamInvokeArgs:        checkAs[cborBytes],
	suitParamDeviceID:          func(v cbor.RawMessage) error { _, err := decodeUUIDParam(v); return err },
	suitParamFetchArguments:    checkAs[cborBytes],
	suitParamMinimumBattery:    checkAs[uint64],
	suitParamUpdatePriority:    checkAs[int64],
	suitParamVersion:           func(v cbor.RawMessage) error { _, err := decodeVersionMatch(v); return err },
	suitParamWaitInfo:          func(v cbor.RawMessage) error { _, err := decodeWaitInfo(v); return err },
	suitParamComponentMetadata: checkComponentMetadata,
}

func checkAs[T any](v cbor.RawMessage) error {
	var out T
	return suitDecMode.Unmarshal(v, &out)
}

// parseSUITParams decodes and checks the argument of override-parameters or set-parameters. Parameters
// the device-side interpreter does not implement are returned by name, not applied.
func parseSUITParams(arg cbor.RawMessage, what string) (suitParams, []string, error) {
	var raw map[int64]cbor.RawMessage
	if err := suitDecMode.Unmarshal(arg, &raw); err != nil {
		return nil, nil, malformed("%s: %v", what, err)
	}
	if len(raw) == 0 || len(raw) > suitMaxParamsPerDirective {
		return nil, nil, malformed("%s: %d parameters, want 1..%d", what, len(raw), suitMaxParamsPerDirective)
	}
	var unsupported []string
	for key, v := range raw {
		check := suitParamCheck[key]
		if check == nil {
			unsupported = append(unsupported, suitParamName(key))
			delete(raw, key)
			continue
		}
		if err := check(v); err != nil {
			if key == suitParamImageDigest && FailureOf(err) != "" {
				return nil, nil, err
			}
			return nil, nil, malformed("%s: parameter %d: %v", what, key, err)
		}
	}
	return raw, unsupported, nil
}

func suitParamName(key int64) string {
	switch {
	case key == suitParamEncryptionInfo:
		return "parameter 19 (encryption-info, draft-ietf-suit-firmware-encryption)"
	case key < 0:
		return fmt.Sprintf("custom parameter %d", key)
	}
	return fmt.Sprintf("parameter %d", key)
}

// apply sets every parameter of p in dst; with onlyUnset, only those dst does not hold yet
// (set-parameters, as opposed to override-parameters).
func (p suitParams) apply(dst *suitParams, onlyUnset bool) {
	if *dst == nil {
		*dst = make(suitParams, len(p))
	}
	for k, v := range p {
		if _, set := (*dst)[k]; onlyUnset && set {
			continue
		}
		(*dst)[k] = v
	}
}

func (p suitParams) clone() suitParams { return maps.Clone(p) }

// The getters return the zero value when the parameter is unset; values were checked when set.

func (p suitParams) uuid(key int64) []byte {
	b, _ := decodeUUIDParam(p[key])
	return b
}

func (p suitParams) digest() []byte {
	d, _ := decodeImageDigest(p[suitParamImageDigest])
	return d
}

func (p suitParams) uint(key int64) (uint64, bool) {
	var n uint64
	if _, set := p[key]; !set {
		return 0, false
	}
	if key == suitParamUseBefore {
		n, _ = decodeUseBefore(p[key])
		return n, true
	}
	return n, suitDecMode.Unmarshal(p[key], &n) == nil
}

func (p suitParams) text(key int64) (string, bool) {
	var s string
	if _, set := p[key]; !set {
		return "", false
	}
	return s, suitDecMode.Unmarshal(p[key], &s) == nil
}

func decodeUUIDParam(v cbor.RawMessage) ([]byte, error) {
	var b cborBytes
	if err := suitDecMode.Unmarshal(v, &b); err != nil {
		return nil, err
	}
	if len(b) != len(uuid.UUID{}) {
		return nil, fmt.Errorf("want a 16-byte UUID, got %d bytes", len(b))
	}
	return b, nil
}

// decodeImageDigest reads suit-parameter-image-digest: bstr .cbor SUIT_Digest, SHA-256 only.
func decodeImageDigest(v cbor.RawMessage) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	var d suitDigestWire
	if err := decodeBstrCBOR(v, &d, "image-digest"); err != nil {
		return nil, err
	}
	if d.Algorithm != suitDigestSHA256 || len(d.Bytes) != sha256Size {
		return nil, reject(FailurePayloadUnsupported, "image digest algorithm %d with %d bytes; only SHA-256 is supported", d.Algorithm, len(d.Bytes))
	}
	return d.Bytes, nil
}
