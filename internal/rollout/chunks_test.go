package rollout

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestChunkerBoundsEveryChunk(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	tests := []struct {
		name     string
		lo, hi   uint64
		devices  int
		perChunk int
		expected int64 // what the plan said; churn makes it differ from devices
	}{
		{"one small chunk", 0, 1 << 40, 30, 100, 30},
		{"many chunks", 1 << 50, 1 << 62, 10_000, 200, 10_000},
		{"uncapped last wave", 1 << 62, math.MaxUint64, 5_000, 1000, 5_000},
		{"fleet grew since the plan", 0, MaxPoint + 1, 3_000, 100, 1_000},
		{"one device a chunk", 0, 1 << 63, 500, 1, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			points := make([]uint64, tc.devices)
			hi := min(tc.hi, MaxPoint+1)
			for i := range points {
				points[i] = tc.lo + rng.Uint64N(hi-tc.lo)
			}
			chunker := NewChunker(tc.lo, tc.hi, tc.perChunk, tc.expected)
			for _, p := range points {
				chunker.Count(p)
				chunker.Count(tc.hi + uint64(i64(p)%3)) // outside the range: ignored
			}
			chunks := chunker.Chunks()
			held := make([]int, chunks.Len())
			buckets := make([]map[int]bool, chunks.Len())
			for _, p := range points {
				c := chunks.Of(p)
				if c < 0 {
					t.Fatalf("point %#x of the range is in no chunk", p)
				}
				held[c]++
				if buckets[c] == nil {
					buckets[c] = map[int]bool{}
				}
				buckets[c][chunks.bucket(p)] = true
			}
			for c, n := range held {
				// A bucket is never split: only a chunk of one bucket may hold more.
				if n > tc.perChunk && len(buckets[c]) > 1 {
					t.Errorf("chunk %d holds %d devices in %d buckets, more than %d", c, n, len(buckets[c]), tc.perChunk)
				}
			}
			if want := (tc.devices + tc.perChunk - 1) / tc.perChunk; chunks.Len() < want*9/10 || chunks.Len() > 2*want+1 {
				t.Errorf("%d chunks for %d devices of at most %d each; want about %d", chunks.Len(), tc.devices, tc.perChunk, want)
			}
		})
	}
}

func i64(p uint64) int64 { return int64(p >> 1) }

func TestChunksOfIsOutsideTheRange(t *testing.T) {
	chunks := NewChunker(100, 200, 10, 50).Chunks()
	for _, p := range []uint64{0, 99, 200, math.MaxUint64} {
		if c := chunks.Of(p); c != -1 {
			t.Errorf("Of(%d) = %d, want -1 outside [100, 200)", p, c)
		}
	}
	if c := chunks.Of(100); c != 0 {
		t.Errorf("Of(100) = %d, want 0", c)
	}
}

func TestChunksRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	lo, hi := uint64(1)<<40, uint64(1)<<61
	chunker := NewChunker(lo, hi, 50, 20_000)
	for range 20_000 {
		chunker.Count(lo + rng.Uint64N(hi-lo))
	}
	chunks := chunker.Chunks()
	encoded := chunks.Encode()
	decoded, err := DecodeChunks(lo, hi, encoded)
	if err != nil {
		t.Fatal(err)
	}
	if decoded.Len() != chunks.Len() {
		t.Fatalf("decoded %d chunks, encoded %d", decoded.Len(), chunks.Len())
	}
	for range 10_000 {
		p := lo + rng.Uint64N(hi-lo)
		if decoded.Of(p) != chunks.Of(p) {
			t.Fatalf("point %#x: chunk %d after decoding, %d before", p, decoded.Of(p), chunks.Of(p))
		}
	}
	// Compact: a few bytes a chunk, whatever the fleet.
	if perChunk := float64(len(encoded)) / float64(chunks.Len()); perChunk > 4 {
		t.Errorf("%d bytes for %d chunks", len(encoded), chunks.Len())
	}
}

func TestDecodeChunksRejectsMalformed(t *testing.T) {
	valid := NewChunker(0, 1<<40, 1, 5).Chunks()
	valid.cuts = []int{3, 9}
	tests := map[string]string{
		"not base64":           "***",
		"empty":                "",
		"zero buckets":         Chunks{}.Encode(),
		"cut beyond buckets":   encodeRaw(16, 20),
		"cuts not ascending":   encodeRaw(16, 3, 0),
		"too many buckets":     encodeRaw(maxChunkBuckets + 1),
		"truncated varint":     "gA",
		"buckets beyond range": encodeRaw(1000),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			hi := uint64(1 << 40)
			if name == "buckets beyond range" {
				hi = 10
			}
			if _, err := DecodeChunks(0, hi, s); !errors.Is(err, ErrBadChunks) {
				t.Errorf("DecodeChunks(%q) = %v, want ErrBadChunks", s, err)
			}
		})
	}
	if _, err := DecodeChunks(0, 1<<40, valid.Encode()); err != nil {
		t.Errorf("a valid encoding is refused: %v", err)
	}
}

func encodeRaw(buckets int, gaps ...int) string {
	c := Chunks{buckets: buckets}
	prev := 0
	for _, g := range gaps {
		prev += g
		c.cuts = append(c.cuts, prev)
	}
	return c.Encode()
}
