package manifest

import "encoding/binary"

// A minimal canonical CBOR writer for the fixed SUIT layout Build produces: shortest-form heads,
// definite lengths, map keys written in ascending order by the caller (all keys are 0..23, where
// numeric and bytewise order agree). The tests prove its output identical to fxamacker's
// CoreDetEncOptions for the same typed values; it exists because the reflective encoder's cost,
// spread over the nested bstr-wrapped layers, broke the signing-throughput target.

const (
	cborMajorUint   = 0 << 5
	cborMajorNegInt = 1 << 5
	cborMajorBytes  = 2 << 5
	cborMajorText   = 3 << 5
	cborMajorArray  = 4 << 5
	cborMajorMap    = 5 << 5
)

// appendCBORHead appends a major type with its argument in the shortest form.
func appendCBORHead(dst []byte, major byte, n uint64) []byte {
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], n)
	switch {
	case n < 24:
		return append(dst, major|be[7])
	case n <= 0xff:
		return append(dst, major|24, be[7])
	case n <= 0xffff:
		return append(append(dst, major|25), be[6:]...)
	case n <= 0xffffffff:
		return append(append(dst, major|26), be[4:]...)
	default:
		return append(append(dst, major|27), be[:]...)
	}
}

// cborHeadLen is the length of the head appendCBORHead writes for n.
func cborHeadLen(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

// appendCBORInt appends an integer; negative v is encoded as major type 1 with argument -1-v.
func appendCBORInt(dst []byte, v int64) []byte {
	if v >= 0 {
		return appendCBORHead(dst, cborMajorUint, uint64(v))
	}
	return appendCBORHead(dst, cborMajorNegInt, uint64(-(v + 1)))
}

func appendBstr[T []byte | string](dst []byte, content T) []byte {
	return append(appendCBORHead(dst, cborMajorBytes, uint64(len(content))), content...)
}

func appendTstr(dst []byte, s string) []byte {
	return append(appendCBORHead(dst, cborMajorText, uint64(len(s))), s...)
}

// bstr wraps an encoded CBOR item into a byte string: "bstr .cbor X".
func bstr(encoded []byte) []byte {
	return appendBstr(make([]byte, 0, len(encoded)+9), encoded)
}
