package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// withHeaderField returns patch with the 8 bytes at offset replaced by the raw value v.
func withHeaderField(patch []byte, offset int, v uint64) []byte {
	out := bytes.Clone(patch)
	binary.LittleEndian.PutUint64(out[offset:], v)
	return out
}

func TestApplyRefusesMalformedPatches(t *testing.T) {
	arm := hexBytes(t, armExample) // old 01 → new 01 02 03
	one := []byte{1}
	cases := []struct {
		name       string
		old, patch []byte
		maxNew     int64
		want       error
		offset     int64
	}{
		{"empty patch", one, nil, 0, ErrTruncated, 0},
		{"header cut short", one, arm[:HeaderSize-1], 0, ErrTruncated, 0},
		{"wrong magic", one, append([]byte("PELION/BSDIFF002"), arm[16:]...), 0, ErrMagic, 0},
		{"new size 0", one, withHeaderField(arm, 16, 0), 0, ErrNewSize, 0},
		{"negative new size", one, withHeaderField(arm, 16, 1<<63|3), 0, ErrNewSize, 0},
		{"new size above 2^32-1", one, withHeaderField(arm, 16, 1<<32), 0, ErrNewSize, 0},
		{"block size below 64", one, withHeaderField(arm, 24, 63), 0, ErrBlockSize, 0},
		{"negative block size", one, withHeaderField(arm, 24, 1<<63|512), 0, ErrBlockSize, 0},
		{"block size above 2^32-1", one, withHeaderField(arm, 24, 1<<32), 0, ErrBlockSize, 0},
		{"new size above the caller's limit", one, arm, 2, ErrTooLarge, 0},
		{"block size above MaxBlockSize", one, withHeaderField(arm, 24, MaxBlockSize+1), 0, ErrBlockTooLarge, 0},
		{"no records", one, arm[:HeaderSize], 0, ErrTruncated, 40},
		{"record cut short", one, arm[:HeaderSize+2], 0, ErrTruncated, 42},
		{"8-byte varint", one, newPatch(3, 64).raw(0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00).b, 0, ErrVarint, 40},
		{"diff region past the new size", one, newPatch(3, 64).record(4, 0, 0).b, 0, ErrRegion, 43},
		{"extra region past the new size", one, newPatch(3, 64).record(1, 3, 0).literals(0).b, 0, ErrRegion, 46},
		{"frame length 0", one, newPatch(3, 64).record(0, 3, 0).frame(nil).b, 0, ErrFrameLength, 43},
		{"frame longer than the block", one, newPatch(3, 64).record(0, 3, 0).frame(make([]byte, 65)).b, 0, ErrFrameLength, 43},
		{"frame cut short", one, newPatch(3, 64).record(0, 3, 0).raw(4, 0x30, 1).b, 0, ErrTruncated, 43},
		{"frame decodes to nothing", one, newPatch(3, 64).record(0, 3, 0).frame([]byte{0}).b, 0, ErrLZ4, 43},
		{"frame ends with a match", one, newPatch(9, 64).record(0, 9, 0).frame([]byte{0x10, 'a', 1, 0}).b, 0, ErrLZ4, 43},
		{"match offset 0", one, newPatch(10, 64).record(0, 10, 0).frame([]byte{0x10, 'a', 0, 0, 0x50, 1, 2, 3, 4, 5}).b, 0, ErrLZ4, 43},
		{"match before the block", one, newPatch(10, 64).record(0, 10, 0).frame([]byte{0x10, 'a', 2, 0, 0x50, 1, 2, 3, 4, 5}).b, 0, ErrLZ4, 43},
		{"frame decodes past the block", one, newPatch(200, 64).record(0, 200, 0).frame([]byte{0x1f, 'a', 1, 0, 100, 0x50, 1, 2, 3, 4, 5}).b, 0, ErrLZ4, 44},
		{"frame decodes past its region", one, newPatch(3, 64).record(0, 2, 0).literals(1, 2, 3).b, 0, ErrOvershoot, 43},
		{"diff reads past the old image", one, newPatch(3, 64).record(2, 1, 0).literals(0, 0).b, 0, ErrOldBounds, 47},
		{"seek before the old image", one, newPatch(3, 64).record(1, 1, -2).literals(0).literals(2).b, 0, ErrOldBounds, 42},
		{"seek past the old image", one, newPatch(3, 64).record(1, 1, 1).literals(0).literals(2).b, 0, ErrOldBounds, 42},
		{"image incomplete at the end", one, newPatch(3, 64).record(1, 0, 0).literals(0).b, 0, ErrTruncated, 46},
		{"trailing byte", one, append(bytes.Clone(arm), 0), 0, ErrTrailingData, 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := Apply(bytes.NewReader(c.old), bytes.NewReader(c.patch), &out, c.maxNew)
			var pe *PatchError
			if !errors.Is(err, c.want) || !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PatchError wrapping %v", err, c.want)
			}
			if pe.Offset != c.offset {
				t.Errorf("offset = %d, want %d (%v)", pe.Offset, c.offset, err)
			}
			if pe.Offset == 0 && out.Len() != 0 {
				t.Errorf("wrote %d bytes for a patch refused in its header", out.Len())
			}
		})
	}
}

// Forms Arm's generator does not write but the device applies: Apply takes them too.
func TestApplyAcceptsDeviceForms(t *testing.T) {
	want := []byte{1, 2, 3}
	cases := []struct {
		name       string
		old, patch []byte
	}{
		{"header offset 32 ignored", []byte{1}, withHeaderField(hexBytes(t, armExample), 32, ^uint64(0))},
		{"non-minimal varints", []byte{1}, newPatch(3, 64).raw(0x81, 0x00, 0x82, 0x80, 0x00, 0x83, 0x00).literals(0).literals(2, 3).b},
		{"negative-zero seek", []byte{1}, newPatch(3, 64).raw(0x01, 0x01, 0x01).literals(0).literals(2).record(0, 1, 0).literals(3).b},
		{"seek-only records", []byte{1}, newPatch(3, 64).record(0, 0, 1).record(0, 0, -1).record(1, 2, 0).literals(0).literals(2, 3).b},
		{"one-byte frames", []byte{1}, newPatch(3, 64).record(1, 2, 0).literals(0).literals(2).literals(3).b},
		{"extra region only", []byte{9}, newPatch(3, 64).record(0, 3, 0).literals(1, 2, 3).b},
		// The device stops once the diff region completes the image: y is never checked or read.
		{"y unread after a completing diff", []byte{1, 2, 3}, newPatch(3, 64).record(3, 99, 0).literals(0, 0, 0).b},
	}
	for _, c := range cases {
		got, err := ApplyBytes(c.old, c.patch, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %x, %v; want %x", c.name, got, err, want)
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// failingOld is an old image whose reads fail.
type failingOld struct{ err error }

func (o failingOld) ReadAt([]byte, int64) (int, error) { return 0, o.err }
func (failingOld) Size() int64                         { return 1 }

// Errors of the patch reader, the old image and the output are not the patch's fault: they come back
// as they are, not as a *PatchError.
func TestApplyPassesIOErrors(t *testing.T) {
	arm := hexBytes(t, armExample)
	cause := errors.New("disk on fire")
	cases := []struct {
		name  string
		old   OldImage
		patch io.Reader
		out   io.Writer
	}{
		{"patch read", bytes.NewReader([]byte{1}), io.MultiReader(bytes.NewReader(arm[:HeaderSize+1]), iotest.ErrReader(cause)), io.Discard},
		{"old read", failingOld{cause}, bytes.NewReader(arm), io.Discard},
		{"output write", bytes.NewReader([]byte{1}), bytes.NewReader(arm), failingWriter{cause}},
	}
	for _, c := range cases {
		_, err := Apply(c.old, c.patch, c.out, 0)
		var pe *PatchError
		if !errors.Is(err, cause) || errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want the cause, not a *PatchError", c.name, err)
		}
	}
}
