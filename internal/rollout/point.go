package rollout

import (
	"crypto/sha256"
	"encoding/binary"
)

// MaxPoint is the largest value Point returns: points are 63-bit.
const MaxPoint = 1<<63 - 1

// Point places a device on the campaign's line: a uniform 63-bit hash of the campaign UID and the
// device id (SHA-256 of uid || 0x00 || the device id in lower case without dashes, top 63 bits). The
// same device always lands on the same point for the same campaign, so membership is recomputable after
// any restart and no per-device state is stored. Device ids are hexadecimal, so only ASCII letters are
// folded to lower case.
func Point(campaignUID, deviceID string) uint64 {
	var scratch [128]byte // room for a UID and a device id, so the common case does not allocate
	in := append(scratch[:0], campaignUID...)
	in = append(in, 0)
	for i := range len(deviceID) {
		switch c := deviceID[i]; {
		case c == '-':
		case 'A' <= c && c <= 'Z':
			in = append(in, c+('a'-'A'))
		default:
			in = append(in, c)
		}
	}
	sum := sha256.Sum256(in)
	return binary.BigEndian.Uint64(sum[:8]) >> 1
}
