package manifest

import "encoding/binary"

// A minimal DER writer for the fixed v3 layout. Decoding uses cryptobyte's strict reader; writing
// appends into one buffer, because cryptobyte's Builder allocates per element and that alone cost a
// tenth of a signature.

// DER universal tags used by the v3 schema.
const (
	derInteger     = 0x02
	derOctetString = 0x04
	derEnumerated  = 0x0a
	derUTF8String  = 0x0c
	derSequence    = 0x30
)

// appendDERTLV appends a tag, a definite minimally encoded length, and the content.
func appendDERTLV[T []byte | string](dst []byte, tag byte, content T) []byte {
	n := uint64(len(content))
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], n)
	dst = append(dst, tag)
	switch {
	case n < 0x80:
		dst = append(dst, be[7])
	case n <= 0xff:
		dst = append(dst, 0x81, be[7])
	case n <= 0xffff:
		dst = append(dst, 0x82, be[6], be[7])
	default: // the decoders cap input at MaxManifestSize; Build's own output is bounded the same way
		dst = append(dst, 0x83, be[5], be[6], be[7])
	}
	return append(dst, content...)
}

// appendDERInt appends an INTEGER or ENUMERATED in minimal two's complement.
func appendDERInt(dst []byte, tag byte, v int64) []byte {
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], uint64(v))
	i := 0
	for i < 7 && (be[i] == 0x00 && be[i+1]&0x80 == 0 || be[i] == 0xff && be[i+1]&0x80 != 0) {
		i++ // the octet only repeats the sign bit of the next one
	}
	return appendDERTLV(dst, tag, be[i:])
}

// appendDERUint appends a non-negative INTEGER, with a leading zero octet when the top bit is set.
func appendDERUint(dst []byte, tag byte, v uint64) []byte {
	var be [9]byte
	binary.BigEndian.PutUint64(be[1:], v)
	i := 0
	for i < 8 && be[i] == 0 && be[i+1]&0x80 == 0 {
		i++
	}
	return appendDERTLV(dst, tag, be[i:])
}
