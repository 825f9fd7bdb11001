package rollout

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// ErrBadChunks is wrapped by DecodeChunks's errors.
var ErrBadChunks = errors.New("rollout: malformed chunks")

// Range is wave k's range of points: Bounds[k-1] (0 for the first wave) up to Bounds[k], exclusive.
func (p Plan) Range(k int) (lo, hi uint64) {
	if k > 0 {
		lo = p.Bounds[k-1]
	}
	return lo, p.Bounds[k]
}

// Chunks split one wave's range of points into sub-ranges, one Update Service campaign each. A
// device's chunk depends on its point alone, never on where it stands in a listing, so devices that
// register, leave or change while a wave starts cannot move another device between chunks. The
// range is cut into equal buckets and chunks end at bucket edges, so a chunk set is a few bytes per
// chunk however large the wave.
type Chunks struct {
	lo, hi  uint64 // the wave's range; hi is clamped to the largest point + 1
	width   uint64 // of a bucket; the last bucket also takes the rest of the range
	buckets int
	cuts    []int // ascending bucket indices where a new chunk begins
}

// maxChunkBuckets bounds the buckets a wave's range is cut into, and so the histogram a Chunker keeps.
const maxChunkBuckets = 1 << 16

func newChunks(lo, hi uint64, buckets int) Chunks {
	hi = min(hi, MaxPoint+1)
	span := hi - min(lo, hi)
	buckets = int(min(uint64(max(buckets, 1)), max(span, 1)))
	return Chunks{lo: lo, hi: hi, width: max(span/uint64(buckets), 1), buckets: buckets}
}

// Len is the number of chunks.
func (c Chunks) Len() int { return len(c.cuts) + 1 }

// Of is the chunk holding point, or -1 when the point is outside the wave's range.
func (c Chunks) Of(point uint64) int {
	if point < c.lo || point >= c.hi {
		return -1
	}
	b := c.bucket(point)
	return sort.Search(len(c.cuts), func(i int) bool { return c.cuts[i] > b })
}

func (c Chunks) bucket(point uint64) int {
	return int(min((point-c.lo)/c.width, uint64(c.buckets-1)))
}

// Encode writes the chunks compactly for status: the bucket count and the gaps between cuts as
// unsigned varints, in unpadded URL-safe base64. The wave's range is not included: it is the plan's.
func (c Chunks) Encode() string {
	buf := binary.AppendUvarint(nil, uint64(c.buckets))
	prev := 0
	for _, cut := range c.cuts {
		buf = binary.AppendUvarint(buf, uint64(cut-prev))
		prev = cut
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}

// DecodeChunks reads what Encode wrote, for the wave whose range is [lo, hi).
func DecodeChunks(lo, hi uint64, s string) (Chunks, error) {
	buf, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Chunks{}, fmt.Errorf("%w: %w", ErrBadChunks, err)
	}
	buckets, n := binary.Uvarint(buf)
	if n <= 0 || buckets == 0 || buckets > maxChunkBuckets {
		return Chunks{}, fmt.Errorf("%w: bucket count", ErrBadChunks)
	}
	c := newChunks(lo, hi, int(buckets))
	if c.buckets != int(buckets) {
		return Chunks{}, fmt.Errorf("%w: %d buckets do not fit the wave's range", ErrBadChunks, buckets)
	}
	prev := 0
	for buf = buf[n:]; len(buf) > 0; buf = buf[n:] {
		var gap uint64
		if gap, n = binary.Uvarint(buf); n <= 0 || gap == 0 || gap >= uint64(c.buckets-prev) {
			return Chunks{}, fmt.Errorf("%w: cut %d", ErrBadChunks, len(c.cuts))
		}
		prev += int(gap)
		c.cuts = append(c.cuts, prev)
	}
	return c, nil
}

// Chunker cuts a wave's range into Chunks of at most perChunk devices, from one streaming pass over
// the fleet's points in memory independent of the fleet's size: a histogram of the range with about
// 16 buckets per expected chunk.
type Chunker struct {
	chunks   Chunks
	perChunk int64
	counts   []int64
}

// NewChunker starts cutting wave range [lo, hi) into chunks of at most perChunk devices; expected is
// about how many devices the wave holds (its planned size), which sizes the histogram.
func NewChunker(lo, hi uint64, perChunk int, expected int64) *Chunker {
	perChunk = max(perChunk, 1)
	wanted := (max(expected, 1) + int64(perChunk) - 1) / int64(perChunk)
	c := newChunks(lo, hi, int(min(16*wanted, maxChunkBuckets)))
	return &Chunker{chunks: c, perChunk: int64(perChunk), counts: make([]int64, c.buckets)}
}

// Count adds a device's point; points outside the wave's range are ignored.
func (c *Chunker) Count(point uint64) {
	if c.chunks.Of(point) >= 0 {
		c.counts[c.chunks.bucket(point)]++
	}
}

// Chunks cuts the range greedily at bucket edges, so every chunk holds at most perChunk of the
// counted points, unless one bucket alone holds more (a bucket is never split).
func (c *Chunker) Chunks() Chunks {
	out := c.chunks
	out.cuts = nil
	var held int64
	for b, n := range c.counts {
		if held > 0 && held+n > c.perChunk {
			out.cuts = append(out.cuts, b)
			held = 0
		}
		held += n
	}
	return out
}
