package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// firmwareImage is a deterministic stand-in for a firmware image: mostly code-like bytes with repeats
// (so LZ4 and the suffix search have work to do), a table of 32-bit pointers, and 0xFF padding.
func firmwareImage(seed uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seed, 0))
	img := make([]byte, 0, size)
	for len(img) < size {
		switch rng.IntN(4) {
		case 0: // a pointer table
			base := rng.Uint32() &^ 0xfff
			for range rng.IntN(64) + 1 {
				img = binary.LittleEndian.AppendUint32(img, base+uint32(rng.IntN(1<<16)))
			}
		case 1: // a repeat of earlier bytes
			if len(img) > 64 {
				start := rng.IntN(len(img) - 32)
				img = append(img, img[start:start+rng.IntN(32)+1]...)
			}
		case 2: // padding
			img = append(img, bytes.Repeat([]byte{0xff}, rng.IntN(16))...)
		default: // fresh bytes
			for range rng.IntN(48) + 1 {
				img = append(img, byte(rng.Uint32()))
			}
		}
	}
	return img[:size]
}

// edited returns a copy of img with n small edits: bytes changed, inserted or removed at random
// places, as a rebuild after a small source change shifts code and patches pointers.
func edited(seed uint64, img []byte, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := bytes.Clone(img)
	for range n {
		at := rng.IntN(len(out))
		length := rng.IntN(16) + 1
		switch rng.IntN(3) {
		case 0:
			for i := at; i < min(at+length, len(out)); i++ {
				out[i] = byte(rng.Uint32())
			}
		case 1:
			ins := make([]byte, length)
			for i := range ins {
				ins[i] = byte(rng.Uint32())
			}
			out = append(out[:at], append(ins, out[at:]...)...)
		default:
			if len(out) > length {
				out = append(out[:at], out[min(at+length, len(out)):]...)
			}
		}
	}
	return out
}

// randomBytes returns n deterministic random bytes.
func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// mustCreate makes a patch or fails the test.
func mustCreate(tb testing.TB, old, new []byte, block int) []byte {
	tb.Helper()
	patch, err := Create(context.Background(), old, new, block)
	if err != nil {
		tb.Fatalf("Create(%d bytes, %d bytes, block %d): %v", len(old), len(new), block, err)
	}
	return patch
}

// patchBuilder writes patches by hand, for the reader's tests.
type patchBuilder struct{ b []byte }

func newPatch(newSize, block int64) *patchBuilder {
	return &patchBuilder{b: appendHeader(nil, Header{NewSize: newSize, BlockSize: block})}
}

func (p *patchBuilder) record(x, y uint64, z int64) *patchBuilder {
	p.b = appendSvarint(appendUvarint(appendUvarint(p.b, x), y), z)
	return p
}

// frame appends a frame holding block as it is.
func (p *patchBuilder) frame(block []byte) *patchBuilder {
	p.b = append(appendUvarint(p.b, uint64(len(block))), block...)
	return p
}

// literals appends a frame of one LZ4 sequence of literals only.
func (p *patchBuilder) literals(data ...byte) *patchBuilder {
	return p.frame(literalBlock(data))
}

func (p *patchBuilder) raw(b ...byte) *patchBuilder {
	p.b = append(p.b, b...)
	return p
}

// literalBlock is the LZ4 block of data as a single literal run.
func literalBlock(data []byte) []byte {
	n := len(data)
	if n < 15 {
		return append([]byte{byte(n << 4)}, data...)
	}
	block := []byte{0xf0}
	for n -= 15; n >= 255; n -= 255 {
		block = append(block, 255)
	}
	return append(append(block, byte(n)), data...)
}
