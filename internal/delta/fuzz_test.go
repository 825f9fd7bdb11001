package delta

import (
	"bytes"
	"errors"
	"testing"
)

// The seed corpora run in every `go test`; run a target longer with e.g.
// `go test ./internal/delta -run '^$' -fuzz FuzzApply -fuzztime 5m`.

// fuzzMaxNew bounds the images the fuzz targets let a patch claim, so each run stays small.
const fuzzMaxNew = 1 << 16

var patchReasons = []error{
	ErrMagic, ErrNewSize, ErrBlockSize, ErrTooLarge, ErrBlockTooLarge, ErrTruncated, ErrVarint,
	ErrRegion, ErrFrameLength, ErrLZ4, ErrOvershoot, ErrOldBounds, ErrTrailingData,
}

// countingWriter counts what it is given.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// FuzzApply: on any patch and old image, Apply never panics, never writes more than the header's new
// size, and either produces exactly that many bytes or fails with a *PatchError naming a reason.
func FuzzApply(f *testing.F) {
	f.Add([]byte{1}, hexBytes(f, armExample))
	old := firmwareImage(50, 2048)
	for i, block := range []int{64, 512} {
		f.Add(old, mustCreate(f, old, edited(uint64(51+i), old, 4), block))
	}
	f.Add([]byte{1}, newPatch(3, 64).record(1, 2, -1).literals(0).literals(2, 3).raw(0).b)
	f.Add([]byte{1}, newPatch(300, 64).record(0, 300, 0).frame([]byte{0x1f, 'a', 1, 0, 255, 0x50, 1, 2, 3, 4, 5}).b)
	f.Fuzz(func(t *testing.T, old, patch []byte) {
		out := &countingWriter{}
		h, err := Apply(bytes.NewReader(old), bytes.NewReader(patch), out, fuzzMaxNew)
		if out.n > max(h.NewSize, 0) {
			t.Fatalf("wrote %d bytes for a new size of %d", out.n, h.NewSize)
		}
		if err == nil {
			if out.n != h.NewSize {
				t.Fatalf("applied without error but wrote %d of %d bytes", out.n, h.NewSize)
			}
			return
		}
		var pe *PatchError
		if !errors.As(err, &pe) || !isPatchReason(pe.Err) {
			t.Fatalf("error %v is not a *PatchError with a known reason", err)
		}
		if pe.Offset < 0 || pe.Offset > int64(len(patch)) {
			t.Fatalf("offset %d outside a %d-byte patch", pe.Offset, len(patch))
		}
	})
}

func isPatchReason(err error) bool {
	for _, reason := range patchReasons {
		if err == reason { //nolint:errorlint // PatchError.Err is the sentinel itself
			return true
		}
	}
	return false
}

// FuzzRoundTrip: for any two non-empty images and block size, the patch applies to the new image
// and its frames keep to the format.
func FuzzRoundTrip(f *testing.F) {
	base := firmwareImage(60, 3000)
	f.Add([]byte{1}, []byte{1, 2, 3}, uint16(512))
	f.Add(base, edited(61, base, 5), uint16(64))
	f.Add(base, base, uint16(128))
	f.Add(bytes.Repeat([]byte{0}, 500), bytes.Repeat([]byte{0, 1}, 300), uint16(4096))
	f.Fuzz(func(t *testing.T, old, new []byte, block uint16) {
		if len(old) == 0 || len(new) == 0 {
			return
		}
		blockSize := MinBlockSize + int(block)%(4096-MinBlockSize+1)
		patch := mustCreate(t, old, new, blockSize)
		got, err := ApplyBytes(old, patch, 0)
		if err != nil {
			t.Fatalf("block %d: applying: %v", blockSize, err)
		}
		if !bytes.Equal(got, new) {
			t.Fatalf("block %d: applied image differs from the new image", blockSize)
		}
		auditFrames(t, patch)
	})
}
