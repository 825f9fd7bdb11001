package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Code points of draft-ietf-suit-update-management, as -11 and the WG repository's current CDDL give them
// and libcsuit (which targets -10) uses them. What differs between drafts is the wrapping of the version
// values, handled in decodeVersionMatch and decodeSetVersion.
const (
	suitKeySetVersion = 6  // manifest: bstr .cbor [+int]
	suitKeyCoSWID     = 14 // manifest and envelope (severable): bstr .cbor concise-swid-tag

	suitCondUseBefore        = 4
	suitCondImageNotMatch    = 25
	suitCondMinimumBattery   = 26
	suitCondUpdateAuthorized = 27
	suitCondVersion          = 28
	suitDirWait              = 29
	suitDirOverrideMultiple  = 34
	suitDirCopyParams        = 35

	suitParamUseBefore         = 4  // uint seconds since 1970, compared in 64 bits
	suitParamMinimumBattery    = 26 // uint mWh
	suitParamUpdatePriority    = 27 // int
	suitParamVersion           = 28 // bstr .cbor [comparison, [+int]]
	suitParamWaitInfo          = 29 // bstr .cbor {+ event => value}
	suitParamComponentMetadata = 30 // bstr .cbor SUIT_Component_Metadata
)

// SUITVersion is a SUIT version array: release numbers, then optionally a pre-release marker (-1 rc,
// -2 beta, -3 alpha) and its numbers. 1.2.3 is [1 2 3], 1.2-rc.3 is [1 2 -1 3].
type SUITVersion []int64

// maxVersionParts bounds a version array: three release numbers, a marker and a few pre-release numbers
// are all the drafts describe.
const maxVersionParts = 8

var preReleaseNames = map[int64]string{-1: "rc", -2: "beta", -3: "alpha"}

// String writes the version in semver style: "1.2.3", "1.2-rc.3", "2.0.0-alpha".
func (v SUITVersion) String() string {
	var b strings.Builder
	for i, n := range v {
		switch {
		case n < 0:
			b.WriteString("-" + preReleaseNames[n])
		case i > 0:
			b.WriteByte('.')
			fallthrough
		default:
			b.WriteString(strconv.FormatInt(n, 10))
		}
	}
	return b.String()
}

// ParseSUITVersion reads the text form String writes.
func ParseSUITVersion(s string) (SUITVersion, error) {
	release, pre, hasPre := strings.Cut(s, "-")
	var v SUITVersion
	for _, part := range strings.Split(release, ".") {
		n, err := strconv.ParseUint(part, 10, 31)
		if err != nil {
			return nil, fmt.Errorf("version %q: %q is not a release number", s, part)
		}
		v = append(v, int64(n))
	}
	if hasPre {
		name, rest, _ := strings.Cut(pre, ".")
		marker := int64(0)
		for m, n := range preReleaseNames {
			if n == name {
				marker = m
			}
		}
		if marker == 0 {
			return nil, fmt.Errorf("version %q: pre-release %q is not rc, beta or alpha", s, name)
		}
		v = append(v, marker)
		if rest != "" {
			for _, part := range strings.Split(rest, ".") {
				n, err := strconv.ParseUint(part, 10, 31)
				if err != nil {
					return nil, fmt.Errorf("version %q: %q is not a pre-release number", s, part)
				}
				v = append(v, int64(n))
			}
		}
	}
	return v, v.validate()
}

func (v SUITVersion) validate() error {
	switch {
	case len(v) == 0 || len(v) > maxVersionParts:
		return fmt.Errorf("version with %d parts, want 1..%d", len(v), maxVersionParts)
	case v[0] < 0:
		return errors.New("a version cannot start with a pre-release marker")
	}
	markers := 0
	for _, n := range v {
		if n < 0 {
			if preReleaseNames[n] == "" {
				return fmt.Errorf("pre-release marker %d: want -1 (rc), -2 (beta) or -3 (alpha)", n)
			}
			markers++
		}
	}
	if markers > 1 {
		return errors.New("a version has at most one pre-release marker")
	}
	return nil
}

// compareTo compares v with the manifest's version value the way suit-condition-version does: number by
// number, over the value's length only (so "= [1]" matches every 1.x); a part v lacks counts as 0.
func (v SUITVersion) compareTo(value SUITVersion) int {
	for i, want := range value {
		have := int64(0)
		if i < len(v) {
			have = v[i]
		}
		if have != want {
			if have < want {
				return -1
			}
			return 1
		}
	}
	return 0
}

// suitVersionLesser is the comparison type "<": the component's version is lower than the value.
const suitVersionLesser = 5

// Version comparison types of suit-parameter-version.
var suitComparisons = map[int64]string{1: ">", 2: ">=", 3: "==", 4: "<=", 5: "<"}

// suitVersionMatch is a decoded suit-parameter-version: the component's version must compare to
// Value as Comparison says.
type suitVersionMatch struct {
	Comparison string
	Value      SUITVersion
}

func (m suitVersionMatch) holds(installed SUITVersion) bool {
	c := installed.compareTo(m.Value)
	switch m.Comparison {
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "==":
		return c == 0
	case "<=":
		return c <= 0
	}
	return c < 0
}

// decodeVersionMatch reads suit-parameter-version. Update-management (-11, and libcsuit) wraps it in a
// byte string; the bare array an early manifest draft's CDDL gave it is accepted too.
func decodeVersionMatch(raw cbor.RawMessage) (suitVersionMatch, error) {
	var wire struct {
		_          struct{} `cbor:",toarray"`
		Comparison int64
		Value      []int64
	}
	if err := decodeMaybeWrapped(raw, &wire); err != nil {
		return suitVersionMatch{}, fmt.Errorf("version: %w", err)
	}
	cmp, ok := suitComparisons[wire.Comparison]
	if !ok {
		return suitVersionMatch{}, fmt.Errorf("version comparison %d: want 1..5", wire.Comparison)
	}
	v := SUITVersion(wire.Value)
	if err := v.validate(); err != nil {
		return suitVersionMatch{}, err
	}
	return suitVersionMatch{Comparison: cmp, Value: v}, nil
}

// decodeSetVersion reads suit-set-version (bstr .cbor [+int] in update-management -11 and libcsuit; a
// bare array is accepted as for the version parameter).
func decodeSetVersion(raw cbor.RawMessage) (SUITVersion, error) {
	var v []int64
	if err := decodeMaybeWrapped(raw, &v); err != nil {
		return nil, malformed("set-version: %v", err)
	}
	if err := SUITVersion(v).validate(); err != nil {
		return nil, malformed("set-version: %v", err)
	}
	return v, nil
}

// decodeMaybeWrapped decodes raw into v, first unwrapping a byte string around it.
func decodeMaybeWrapped(raw cbor.RawMessage, v any) error {
	if len(raw) > 0 && raw[0]>>5 == 2 {
		var content cborBytes
		if err := suitDecMode.Unmarshal(raw, &content); err != nil {
			return err
		}
		raw = cbor.RawMessage(content)
	}
	return suitDecMode.Unmarshal(raw, v)
}

// decodeUseBefore reads suit-parameter-use-before: seconds since 1970 as a uint, or as an epoch-based
// date-time (tag 1), which the libcsuit examples write in their diagnostic notation.
func decodeUseBefore(raw cbor.RawMessage) (uint64, error) {
	if len(raw) > 0 && raw[0] == 0xc1 {
		raw = raw[1:]
	}
	var n uint64
	if err := suitDecMode.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("use-before: want seconds since 1970: %w", err)
	}
	return n, nil
}

// Wait events of suit-parameter-wait-info.
var suitWaitEvents = map[uint64]string{
	1: "authorization", 2: "power", 3: "network", 4: "other-device-version", 5: "time",
	6: "time-of-day", 7: "day-of-week", 8: "time-of-day-utc", 9: "day-of-week-utc",
}

// decodeWaitInfo reads suit-parameter-wait-info and describes its events, e.g. "power=1, time=1700000000".
func decodeWaitInfo(raw cbor.RawMessage) (string, error) {
	var events map[uint64]cbor.RawMessage
	if err := decodeMaybeWrapped(raw, &events); err != nil {
		return "", fmt.Errorf("wait-info: %w", err)
	}
	if len(events) == 0 {
		return "", errors.New("wait-info: no events")
	}
	var parts []string
	for code := uint64(1); code <= 9; code++ {
		v, ok := events[code]
		if !ok {
			continue
		}
		var n int64
		if code == 4 || suitDecMode.Unmarshal(v, &n) != nil {
			parts = append(parts, suitWaitEvents[code])
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%d", suitWaitEvents[code], n))
	}
	if len(parts) != len(events) {
		return "", errors.New("wait-info: unknown wait event")
	}
	return strings.Join(parts, ", "), nil
}

// checkComponentMetadata accepts suit-parameter-component-metadata when it is a map: the device applies
// it to files it writes, which the simulated devices do not model.
func checkComponentMetadata(raw cbor.RawMessage) error {
	var meta map[int64]cbor.RawMessage
	if err := decodeMaybeWrapped(raw, &meta); err != nil {
		return fmt.Errorf("component-metadata: %w", err)
	}
	return nil
}

// checkCoSWID accepts the CoSWID element when it holds a CBOR map (a concise-swid-tag); devices need
// not read it further.
func checkCoSWID(content []byte) error {
	var tag cbor.RawTag
	if len(content) > 0 && content[0]>>5 == 6 { // a tagged concise-swid-tag
		if err := suitTaggedDecMode.Unmarshal(content, &tag); err != nil {
			return malformed("coswid: %v", err)
		}
		content = tag.Content
	}
	var swid map[any]cbor.RawMessage
	if err := suitDecMode.Unmarshal(content, &swid); err != nil {
		return malformed("coswid: %v", err)
	}
	return nil
}
