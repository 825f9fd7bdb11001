package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync"
)

// blob holds an image's bytes once: in memory as fixed-size segments (growing never copies what is
// already stored), or in a file when the simulator has a data directory.
type blob struct {
	mu       sync.RWMutex // readers (downloads) against release
	segments [][]byte
	file     *os.File
	size     int64
}

const segmentSize = 1 << 20

func newBlob(dir string) (*blob, error) {
	if dir == "" {
		return &blob{}, nil
	}
	f, err := os.CreateTemp(dir, "image-*.bin")
	if err != nil {
		return nil, err
	}
	return &blob{file: f}, nil
}

// Write appends p.
func (b *blob) Write(p []byte) (int, error) {
	if b.file != nil {
		n, err := b.file.WriteAt(p, b.size)
		b.size += int64(n)
		return n, err
	}
	written := 0
	for written < len(p) {
		off := int(b.size % segmentSize)
		if off == 0 {
			b.segments = append(b.segments, make([]byte, 0, segmentSize))
		}
		last := &b.segments[len(b.segments)-1]
		n := min(len(p)-written, segmentSize-off)
		*last = append(*last, p[written:written+n]...)
		written += n
		b.size += int64(n)
	}
	return written, nil
}

// truncate drops everything after the first n bytes (a rejected chunk).
func (b *blob) truncate(n int64) error {
	if n >= b.size {
		return nil
	}
	b.size = n
	if b.file != nil {
		return b.file.Truncate(n)
	}
	keep := int((n + segmentSize - 1) / segmentSize)
	b.segments = b.segments[:keep]
	if keep > 0 {
		b.segments[keep-1] = b.segments[keep-1][:n-int64(keep-1)*segmentSize]
	}
	return nil
}

// ReadAt implements io.ReaderAt over the stored bytes.
func (b *blob) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if off >= b.size {
		return 0, io.EOF
	}
	if b.file != nil {
		n, err := b.file.ReadAt(p[:min(int64(len(p)), b.size-off)], off)
		if err == nil && n < len(p) {
			err = io.EOF
		}
		return n, err
	}
	n := 0
	for n < len(p) && off < b.size {
		seg := b.segments[off/segmentSize]
		c := copy(p[n:], seg[off%segmentSize:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// sha256Hex digests the stored bytes.
func (b *blob) sha256Hex() (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(b, 0, b.size)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// release frees the bytes.
func (b *blob) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.size = 0
	b.segments = nil
	if b.file != nil {
		b.file.Close()
		os.Remove(b.file.Name()) //nolint:gosec // the simulator's own temporary file, not a path from a request
	}
}
