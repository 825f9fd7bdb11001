package delta

import "encoding/binary"

// LZ4 block-format constants (lz4.c).
const (
	lz4MinMatch     = 4
	lz4RunMask      = 15 // a literal or match length nibble of 15 continues in extension bytes
	lz4LastLiterals = 5  // the last 5 bytes of the output are literals
	lz4MatchLimit   = 12 // a match's literals end at least 12 bytes before the end of the output
	lz4TailInput    = 8  // after a match's literals come the offset, a token and 5 literals
)

// lz4DecodedLen walks the sequences of a raw LZ4 block without decoding it and returns how many bytes
// it decodes to, or false for a block the device's decoder refuses: LZ4 1.8.3 LZ4_decompress_safe,
// called with an output capacity of one block, checks the end-of-block rules against that capacity,
// where the decoder used here checks far less. It also refuses match offset 0 (invalid in the block
// format), matches that end inside the last 5 bytes, which 1.8.3's fast path lets through, and a
// last sequence whose token has a match length; LZ4 encoders write none of these.
func lz4DecodedLen(src []byte, capacity int) (int, bool) {
	in, out := 0, 0
	for in < len(src) {
		token := src[in]
		in++
		literals, next, ok := lz4LiteralLength(src, in, int(token>>4))
		if !ok {
			return 0, false
		}
		in = next
		if out+literals > capacity-lz4MatchLimit || in+literals > len(src)-lz4TailInput {
			// Only the last sequence may end here, and it must use up the input exactly. Its match
			// length nibble is unused: encoders write 0, and the decoder used here insists on it.
			end := out + literals
			return end, in+literals == len(src) && end <= capacity && token&lz4RunMask == 0
		}
		in += literals
		out += literals
		offset := int(binary.LittleEndian.Uint16(src[in:]))
		in += 2
		if offset == 0 || offset > out {
			return 0, false
		}
		match, next, ok := lz4MatchLength(src, in, int(token&lz4RunMask))
		if !ok || out+match > capacity-lz4LastLiterals {
			return 0, false
		}
		in, out = next, out+match
	}
	return 0, false // empty input: every sequence after a match leaves input for one more
}

// lz4LiteralLength reads the extension bytes of a literal length (nibble n) at src[in:] with 1.8.3's
// bounds: it returns the length and the input position after it.
func lz4LiteralLength(src []byte, in, n int) (int, int, bool) {
	if n != lz4RunMask {
		return n, in, true
	}
	if in >= len(src)-lz4RunMask {
		return 0, 0, false
	}
	for {
		b := src[in]
		in++
		n += int(b)
		if b != 255 || in >= len(src)-lz4RunMask {
			return n, in, true
		}
	}
}

// lz4MatchLength reads a match length (nibble n) and its extension bytes at src[in:]; each extension
// byte must leave 5 bytes of input, as in 1.8.3.
func lz4MatchLength(src []byte, in, n int) (int, int, bool) {
	if n == lz4RunMask {
		for {
			if in >= len(src)-lz4LastLiterals {
				return 0, 0, false
			}
			b := src[in]
			in++
			n += int(b)
			if b != 255 {
				break
			}
		}
	}
	return n + lz4MinMatch, in, true
}
