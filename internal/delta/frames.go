package delta

import (
	"fmt"

	"github.com/pierrec/lz4/v4"
)

// frameWriter cuts regions into frames: a uvarint length and one raw LZ4 block, each block 1…block
// bytes long and decoding to 1…block bytes, as the device requires. The codec is the one that writes
// what the reference LZ4_compress_fast writes: it ends blocks with 5 literal bytes where the package's
// default keeps 14, which halves the cost of a frame of unchanged bytes (2.6 % against 5 % of an
// unchanged image at block 512; Arm's generator: 2.6 %).
type frameWriter struct {
	block    int
	lz4      lz4.CompressorCCompat
	out      []byte // room for the worst case of a block's worth of input
	maxFrame int    // the largest block written, for header offset 32
}

func newFrameWriter(block int) *frameWriter {
	return &frameWriter{block: block, out: make([]byte, lz4.CompressBlockBound(block))}
}

// appendRegion appends the frames of a region of n > 0 bytes; chunk(off, size) returns the region's
// bytes [off, off+size), valid until the next call.
func (w *frameWriter) appendRegion(dst []byte, n int, chunk func(off, size int) []byte) ([]byte, error) {
	for off := 0; off < n; {
		frame, used, err := w.compressPrefix(chunk(off, min(n-off, w.block)))
		if err != nil {
			return nil, err
		}
		dst = appendUvarint(dst, uint64(len(frame)))
		dst = append(dst, frame...)
		w.maxFrame = max(w.maxFrame, len(frame))
		off += used
	}
	return dst, nil
}

// compressPrefix compresses the longest prefix of src (at most one block) whose LZ4 block fits in
// one block, as LZ4_compress_destSize does for Arm's generator: incompressible input shrinks by the
// overshoot until it fits (509 bytes in a 512-byte block), which a few tries reach.
func (w *frameWriter) compressPrefix(src []byte) ([]byte, int, error) {
	for {
		n, err := w.lz4.CompressBlock(src, w.out)
		if err != nil { // not expected: the output has room for the worst case
			return nil, 0, fmt.Errorf("lz4: %w", err)
		}
		if n <= w.block {
			return w.out[:n], len(src), nil
		}
		src = src[:len(src)-(n-w.block)]
	}
}
