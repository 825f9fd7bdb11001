package delta

import "io"

// maxVarintBytes is the longest varint the device reads: it flags the patch corrupted at the 8th byte.
// Seven bytes carry 49 bits, far above any image offset.
const maxVarintBytes = 7

// appendUvarint appends v in little-endian base 128, minimal form (Arm's encode_unsigned_varint).
func appendUvarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// appendSvarint appends v folded as sign and magnitude, (|v| << 1) | sign, not zigzag
// (Arm's encode_signed_varint): −1 is 03, where zigzag would give 01.
func appendSvarint(dst []byte, v int64) []byte {
	if v < 0 {
		return appendUvarint(dst, uint64(-v)<<1|1)
	}
	return appendUvarint(dst, uint64(v)<<1)
}

// readUvarint reads an unsigned varint of at most maxVarintBytes bytes. Non-minimal forms are read as
// the device reads them. Errors are ErrVarint or the reader's (io.EOF for a patch that ends early).
func readUvarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := range maxVarintBytes {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, ErrVarint
}

// readSvarint reads a sign-magnitude varint; the unused "negative zero" (01) reads as 0, as on the
// device.
func readSvarint(r io.ByteReader) (int64, error) {
	u, err := readUvarint(r)
	if err != nil {
		return 0, err
	}
	magnitude := int64(u >> 1)
	if u&1 != 0 {
		return -magnitude, nil
	}
	return magnitude, nil
}
