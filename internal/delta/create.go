package delta

import (
	"context"
	"encoding/binary"
)

// Create returns the arm-patch-stream patch that turns old into new, with frames of at most blockSize
// bytes (MinBlockSize…MaxBlockSize; DefaultBlockSize is manifest-delta-tool's). Neither image may be
// empty or larger than MaxImageSize. The same inputs always give the same bytes. ctx cancels the work,
// which for images of many MiB takes seconds.
func Create(ctx context.Context, old, new []byte, blockSize int) ([]byte, error) {
	if err := checkCreateInputs(old, new, blockSize); err != nil {
		return nil, err
	}
	sa, err := suffixArray(ctx, old)
	if err != nil {
		return nil, err
	}
	w := &patchWriter{old: old, new: new, frames: newFrameWriter(blockSize), diff: make([]byte, blockSize)}
	w.patch = appendHeader(nil, Header{NewSize: int64(len(new)), BlockSize: int64(blockSize)})
	d := &differ{old: old, new: new, sa: sa}
	if err := d.scan(ctx, w.appendRecord); err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint64(w.patch[32:40], uint64(w.frames.maxFrame))
	return w.patch, nil
}

func checkCreateInputs(old, new []byte, blockSize int) error {
	switch {
	case len(old) == 0 || len(new) == 0:
		return ErrEmptyImage
	case len(old) > MaxImageSize || len(new) > MaxImageSize:
		return ErrImageTooLarge
	case blockSize < MinBlockSize || blockSize > MaxBlockSize:
		return ErrBadBlockSize
	}
	return nil
}

// patchWriter appends records to a patch.
type patchWriter struct {
	old, new []byte
	frames   *frameWriter
	diff     []byte // one block of diff bytes
	patch    []byte
}

// appendRecord appends x, y and z, then the diff region's frames, then the extra region's.
func (w *patchWriter) appendRecord(r record) error {
	w.patch = appendUvarint(w.patch, uint64(r.diffLen))
	w.patch = appendUvarint(w.patch, uint64(r.extraLen))
	w.patch = appendSvarint(w.patch, int64(r.seek))
	var err error
	if r.diffLen > 0 {
		if w.patch, err = w.frames.appendRegion(w.patch, r.diffLen, w.diffChunk(r)); err != nil {
			return err
		}
	}
	if r.extraLen > 0 {
		extra := w.new[r.newStart+r.diffLen:]
		w.patch, err = w.frames.appendRegion(w.patch, r.extraLen, func(off, size int) []byte {
			return extra[off : off+size]
		})
	}
	return err
}

// diffChunk returns the chunk function of r's diff region: new − old, byte by byte, modulo 256.
func (w *patchWriter) diffChunk(r record) func(off, size int) []byte {
	newRegion, oldRegion := w.new[r.newStart:], w.old[r.oldStart:]
	return func(off, size int) []byte {
		for i := range size {
			w.diff[i] = newRegion[off+i] - oldRegion[off+i]
		}
		return w.diff[:size]
	}
}
