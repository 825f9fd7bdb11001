package delta

import (
	"bytes"
	"testing"

	"github.com/pierrec/lz4/v4"
)

// Every block the writer's codec makes passes the check at the tightest capacity (its own length)
// with the length the codec's decoder produces.
func TestLZ4CheckAcceptsCodecBlocks(t *testing.T) {
	inputs := [][]byte{
		{0},
		bytes.Repeat([]byte{0}, 512),
		bytes.Repeat([]byte("abcd"), 300),
		randomBytes(40, 4096),
		firmwareImage(41, 4096),
		append(bytes.Repeat([]byte{7}, 100), randomBytes(42, 13)...),
	}
	var c lz4.CompressorCCompat
	for i, src := range inputs {
		for _, n := range []int{1, 5, 12, 13, 17, 64, 200, len(src)} {
			n = min(n, len(src))
			block := make([]byte, lz4.CompressBlockBound(n))
			size, err := c.CompressBlock(src[:n], block)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := lz4DecodedLen(block[:size], n)
			if !ok || got != n {
				t.Errorf("input %d, %d bytes: check = %d, %v; want %d, true", i, n, got, ok, n)
			}
		}
	}
}

func TestLZ4CheckRefusesLayouts(t *testing.T) {
	lit5 := []byte{0x50, 1, 2, 3, 4, 5}
	matchTo275 := []byte{0x1f, 'a', 1, 0, 255, 0, 0x40, 1, 2, 3, 4}
	cases := []struct {
		name     string
		block    []byte
		capacity int
	}{
		{"empty", nil, 64},
		{"literals past the capacity", literalBlock(make([]byte, 65)), 64},
		{"literals short of the input", []byte{0x30, 1, 2}, 64},
		{"literals with input left over", []byte{0x10, 1, 2}, 64},
		{"ends after a match", []byte{0x10, 'a', 1, 0}, 64},
		// 1 literal, a 274-byte match (extension bytes 255, 0) ending at 275, then 4 literals: the
		// match ends inside the last 5 bytes of a capacity of 279.
		{"match in the last 5 bytes", matchTo275, 279},
		// 2 literals end at 2: with a capacity of 13, within its last 12 bytes, so the sequence must
		// be the last and use up the input.
		{"literals before a match in the last 12 bytes", append([]byte{0x20, 'a', 'b', 1, 0}, lit5...), 13},
		{"literal length extension cut off", []byte{0xf0, 255, 255}, 1 << 20},
		{"match length extension cut off", append([]byte{0x1f, 'a', 1, 0, 255, 255}, 0x10, 1), 1 << 20},
		{"match length in the last token", []byte{0x58, 1, 2, 3, 4, 5}, 64},
		{"offset 0", append([]byte{0x10, 'a', 0, 0}, lit5...), 64},
		{"offset before the output", append([]byte{0x10, 'a', 2, 0}, lit5...), 64},
	}
	for _, c := range cases {
		if n, ok := lz4DecodedLen(c.block, c.capacity); ok {
			t.Errorf("%s: accepted as %d bytes", c.name, n)
		}
	}
	// The same layouts one step inside the limits are accepted.
	if n, ok := lz4DecodedLen(matchTo275, 280); !ok || n != 279 {
		t.Errorf("match ending 5 bytes before the capacity: %d, %v", n, ok)
	}
	if n, ok := lz4DecodedLen(append([]byte{0x20, 'a', 'b', 1, 0}, lit5...), 14); !ok || n != 11 {
		t.Errorf("literals ending 12 bytes before the capacity: %d, %v", n, ok)
	}
}

// FuzzLZ4Check: whatever the check accepts, the codec's decoder decodes to the same length within
// the capacity.
func FuzzLZ4Check(f *testing.F) {
	f.Add([]byte{0x50, 1, 2, 3, 4, 5}, uint16(64))
	f.Add([]byte{0x10, 'a', 1, 0, 0x50, 1, 2, 3, 4, 5}, uint16(64))
	f.Add(literalBlock(make([]byte, 300)), uint16(512))
	f.Fuzz(func(t *testing.T, block []byte, capacity uint16) {
		n, ok := lz4DecodedLen(block, int(capacity))
		if !ok {
			return
		}
		dst := make([]byte, capacity)
		got, err := lz4.UncompressBlock(block, dst)
		if (err != nil || got != n) && n > 0 {
			t.Fatalf("check says %d bytes; decoder: %d, %v", n, got, err)
		}
	})
}
