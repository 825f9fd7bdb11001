package delta

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// OldImage is the image a patch applies to: random access and its size (*bytes.Reader,
// *io.SectionReader).
type OldImage interface {
	io.ReaderAt
	Size() int64
}

// Apply applies patch to old as the device does, writing the new image to out as it is produced, and
// returns the patch header. It refuses a new image above maxNewSize bytes (at most MaxImageSize when
// maxNewSize is 0 or larger) before writing anything.
//
// The patch is untrusted: every length is checked before use, and a refused patch gives a *PatchError
// wrapping one of the Err* reasons. Output written before an error is not the new image: a device
// discards it, and so must the caller. Errors of old, out or the patch reader come back wrapped as they
// are (an early end of the patch is ErrTruncated). The patch is read to its end, to refuse trailing
// bytes: bound an unbounded reader with io.LimitReader.
func Apply(old OldImage, patch io.Reader, out io.Writer, maxNewSize int64) (Header, error) {
	if maxNewSize <= 0 || maxNewSize > MaxImageSize {
		maxNewSize = MaxImageSize
	}
	p := &patcher{old: old, in: &patchReader{r: bufio.NewReader(patch)}, out: out}
	if err := p.readHeader(maxNewSize); err != nil {
		return p.hdr, err
	}
	return p.hdr, p.run()
}

// ApplyBytes applies patch to old and returns the new image, of at most maxNewSize bytes (see Apply).
func ApplyBytes(old, patch []byte, maxNewSize int64) ([]byte, error) {
	var out bytes.Buffer
	if _, err := Apply(bytes.NewReader(old), bytes.NewReader(patch), &out, maxNewSize); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// patcher is the state of one patch application, after the device's engine.
type patcher struct {
	old    OldImage
	in     *patchReader
	out    io.Writer
	hdr    Header
	newPos int64
	cursor int64 // the old-image cursor
	// Work buffers, allocated when first needed, of at most the block size (and the new size).
	frame, decoded, oldBytes []byte
}

func (p *patcher) readHeader(maxNewSize int64) error {
	var b [HeaderSize]byte
	if err := p.in.readFull(b[:]); err != nil {
		return p.readError(0, err)
	}
	h, err := parseHeader(b[:], maxNewSize)
	p.hdr = h
	if err != nil {
		return &PatchError{Offset: 0, Err: err}
	}
	return nil
}

// run applies the records until the new image is complete, then checks that the patch ends there.
func (p *patcher) run() error {
	for p.newPos < p.hdr.NewSize {
		if err := p.applyRecord(); err != nil {
			return err
		}
	}
	at := p.in.off
	if _, err := p.in.ReadByte(); !errors.Is(err, io.EOF) {
		if err != nil {
			return fmt.Errorf("reading patch: %w", err)
		}
		return &PatchError{Offset: at, Err: ErrTrailingData}
	}
	return nil
}

// applyRecord reads x, y and z, applies the diff region, then (unless the image is complete, when the
// device stops reading) the extra region and the seek.
func (p *patcher) applyRecord() error {
	at := p.in.off
	x, err := readUvarint(p.in)
	if err != nil {
		return p.readError(at, err)
	}
	at = p.in.off
	y, err := readUvarint(p.in)
	if err != nil {
		return p.readError(at, err)
	}
	seekAt := p.in.off
	z, err := readSvarint(p.in)
	if err != nil {
		return p.readError(seekAt, err)
	}
	if err := p.region(x, true); err != nil || p.newPos == p.hdr.NewSize {
		return err
	}
	if err := p.region(y, false); err != nil || p.newPos == p.hdr.NewSize {
		return err
	}
	return p.seek(seekAt, z)
}

// region applies a diff region (old bytes plus decoded bytes) or an extra region (decoded bytes) of
// n bytes, frame by frame.
func (p *patcher) region(n uint64, diff bool) error {
	if n > uint64(p.hdr.NewSize-p.newPos) {
		return &PatchError{Offset: p.in.off, Err: ErrRegion}
	}
	for remaining := int64(n); remaining > 0; {
		data, err := p.readFrame(remaining)
		if err != nil {
			return err
		}
		if diff {
			if err := p.addOld(data); err != nil {
				return err
			}
		}
		if _, err := p.out.Write(data); err != nil {
			return fmt.Errorf("writing new image: %w", err)
		}
		p.newPos += int64(len(data))
		remaining -= int64(len(data))
	}
	return nil
}

// readFrame reads one frame of a region with remaining bytes still to come and returns its decoded
// bytes.
func (p *patcher) readFrame(remaining int64) ([]byte, error) {
	at := p.in.off
	length, err := readUvarint(p.in)
	if err != nil {
		return nil, p.readError(at, err)
	}
	if length == 0 || length > uint64(p.hdr.BlockSize) {
		return nil, &PatchError{Offset: at, Err: ErrFrameLength}
	}
	p.frame = grow(p.frame, int(length))
	if err := p.in.readFull(p.frame); err != nil {
		return nil, p.readError(at, err)
	}
	size, ok := lz4DecodedLen(p.frame, int(p.hdr.BlockSize))
	switch {
	case !ok || size == 0:
		return nil, &PatchError{Offset: at, Err: ErrLZ4}
	case int64(size) > remaining:
		return nil, &PatchError{Offset: at, Err: ErrOvershoot}
	}
	p.decoded = grow(p.decoded, size)
	if n, err := lz4.UncompressBlock(p.frame, p.decoded); err != nil || n != size {
		return nil, &PatchError{Offset: at, Err: ErrLZ4}
	}
	return p.decoded, nil
}

// addOld adds the old bytes under the cursor to data, byte-wise modulo 256, and advances the cursor.
func (p *patcher) addOld(data []byte) error {
	if p.cursor+int64(len(data)) > p.old.Size() {
		return &PatchError{Offset: p.in.off, Err: ErrOldBounds}
	}
	p.oldBytes = grow(p.oldBytes, len(data))
	// A ReaderAt may report io.EOF along with a full read that ends the input.
	if n, err := p.old.ReadAt(p.oldBytes, p.cursor); n < len(p.oldBytes) {
		return fmt.Errorf("reading old image: %w", err)
	}
	for i, b := range p.oldBytes {
		data[i] += b
	}
	p.cursor += int64(len(data))
	return nil
}

// seek moves the old-image cursor by z. Arm's generator only ever moves it to a place in the old
// image (the start of the next match, or its end), so a seek outside is refused, not remembered.
func (p *patcher) seek(at, z int64) error {
	if c := p.cursor + z; c >= 0 && c <= p.old.Size() {
		p.cursor = c
		return nil
	}
	return &PatchError{Offset: at, Err: ErrOldBounds}
}

// readError turns a failed patch read at offset at into ErrTruncated when the patch ended, or
// ErrVarint; other errors pass through.
func (p *patcher) readError(at int64, err error) error {
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return &PatchError{Offset: at, Err: ErrTruncated}
	case errors.Is(err, ErrVarint):
		return &PatchError{Offset: at, Err: ErrVarint}
	}
	return fmt.Errorf("reading patch: %w", err)
}

// grow returns buf resized to n bytes, reallocating only when it is too small.
func grow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n)
	}
	return buf[:n]
}

// patchReader counts the patch bytes read, for error offsets.
type patchReader struct {
	r   *bufio.Reader
	off int64
}

func (r *patchReader) ReadByte() (byte, error) {
	b, err := r.r.ReadByte()
	if err == nil {
		r.off++
	}
	return b, err
}

func (r *patchReader) readFull(buf []byte) error {
	n, err := io.ReadFull(r.r, buf)
	r.off += int64(n)
	return err
}
