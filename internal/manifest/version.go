package manifest

import (
	"fmt"
	"strings"
)

// Version encoding shared by the Pelion device client (fota_component_version_semver_to_int) and
// manifest-tool: 1<<55 | major<<40 | minor<<16 | patch, each part 0..999.
const (
	versionSemverBit = uint64(1) << 55
	versionMajorBits = 40
	versionMinorBits = 16
)

// EncodeVersion turns a semantic version "MAJOR.MINOR.PATCH" (each part 0..999 without leading zeros,
// not 0.0.0) into the 64-bit form devices compare for anti-rollback.
func EncodeVersion(semver string) (uint64, error) {
	var nums [3]uint64
	rest := semver
	for i := range nums {
		part := rest
		if i < len(nums)-1 {
			var found bool
			if part, rest, found = strings.Cut(rest, "."); !found {
				return 0, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", semver)
			}
		}
		n, ok := parseVersionPart(part)
		if !ok {
			return 0, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH, each 0..999 without leading zeros", semver)
		}
		nums[i] = n
	}
	if nums == [3]uint64{} {
		return 0, fmt.Errorf("version %q: 0.0.0 is not a valid update version", semver)
	}
	return versionSemverBit | nums[0]<<versionMajorBits | nums[1]<<versionMinorBits | nums[2], nil
}

func parseVersionPart(p string) (uint64, bool) {
	if p == "" || len(p) > 3 || (len(p) > 1 && p[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(p[i]-'0')
	}
	return n, true
}

// DecodeVersion turns the 64-bit form back into "MAJOR.MINOR.PATCH". It fails for values EncodeVersion
// cannot produce (for example plain integers such as v1 timestamps or SUIT sequence numbers).
func DecodeVersion(v uint64) (string, error) {
	major := v &^ versionSemverBit >> versionMajorBits
	minor := v >> versionMinorBits & (1<<(versionMajorBits-versionMinorBits) - 1)
	patch := v & (1<<versionMinorBits - 1)
	s := fmt.Sprintf("%d.%d.%d", major, minor, patch)
	if enc, err := EncodeVersion(s); err != nil || enc != v {
		return "", fmt.Errorf("%#x is not an encoded semantic version", v)
	}
	return s, nil
}
