package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
)

// imagePair is an old and a new image, and the largest patch, in percent of the new image at block
// 512, that a working diff gives for it (0: not checked, for pairs with nothing in common).
type imagePair struct {
	name       string
	old, new   []byte
	maxPercent int
}

func imagePairs() []imagePair {
	base := firmwareImage(10, 64<<10)
	random := randomBytes(11, 64<<10)
	pointers := pointerTable(0x08000000, 4096)
	return []imagePair{
		{"identical", base, base, 3},
		{"identical random", random, random, 3},
		{"small edits", base, edited(12, base, 8), 4},
		{"many edits", base, edited(13, base, 200), 10},
		{"random with edits", random, edited(14, random, 8), 4},
		{"appended", base, append(bytes.Clone(base), firmwareImage(15, 4096)...), 10},
		{"prepended", base, append(firmwareImage(16, 4096), base...), 10},
		{"grown by half", base, append(bytes.Clone(base), base[:32<<10]...), 3},
		{"shrunk to a half", base, base[16<<10 : 48<<10], 3},
		{"truncated", base, base[:1000], 8},
		{"shifted pointer table", pointers, pointerTable(0x08000100, 4096), 4},
		{"unrelated", base, firmwareImage(17, 64<<10), 0},
		{"old one byte", []byte{1}, []byte{1, 2, 3}, 0},
		{"new one byte", base, []byte{0x42}, 0},
		{"both one byte", []byte{1}, []byte{2}, 0},
		{"zero runs", make([]byte, 20000), append(make([]byte, 10000), append([]byte{1}, make([]byte, 9999)...)...), 3},
	}
}

// pointerTable is n little-endian 32-bit pointers from base: a rebuild that moves base changes every
// word, which bsdiff's diff region turns into repeated small differences.
func pointerTable(base uint32, n int) []byte {
	b := make([]byte, 0, 4*n)
	for i := range n {
		b = binary.LittleEndian.AppendUint32(b, base+uint32(16*i))
	}
	return b
}

var blockSizes = []int{MinBlockSize, 128, 512, 1024, 4096}

func TestRoundTrip(t *testing.T) {
	for _, pair := range imagePairs() {
		for _, block := range blockSizes {
			patch := mustCreate(t, pair.old, pair.new, block)
			got, err := ApplyBytes(pair.old, patch, 0)
			if err != nil {
				t.Fatalf("%s, block %d: applying: %v", pair.name, block, err)
			}
			if !bytes.Equal(got, pair.new) {
				t.Fatalf("%s, block %d: applied image differs from the new image", pair.name, block)
			}
			auditFrames(t, patch)
		}
	}
}

// A working diff finds what the images share: the patch is far smaller than the new image.
func TestPatchSizes(t *testing.T) {
	for _, pair := range imagePairs() {
		if pair.maxPercent == 0 {
			continue
		}
		patch := mustCreate(t, pair.old, pair.new, DefaultBlockSize)
		if percent := 100 * len(patch) / len(pair.new); percent > pair.maxPercent {
			t.Errorf("%s: patch is %d%% of the new image (%d bytes), want at most %d%%",
				pair.name, percent, len(patch), pair.maxPercent)
		}
	}
}

func TestCreateIsDeterministic(t *testing.T) {
	old := firmwareImage(20, 32<<10)
	new := edited(21, old, 20)
	if !bytes.Equal(mustCreate(t, old, new, 512), mustCreate(t, old, new, 512)) {
		t.Fatal("two patches of the same images differ")
	}
}

func TestCreateRefuses(t *testing.T) {
	img := []byte{1, 2, 3}
	cases := []struct {
		name     string
		old, new []byte
		block    int
		want     error
	}{
		{"empty old", nil, img, 512, ErrEmptyImage},
		{"empty new", img, []byte{}, 512, ErrEmptyImage},
		{"old too large", make([]byte, MaxImageSize+1), img, 512, ErrImageTooLarge},
		{"new too large", img, make([]byte, MaxImageSize+1), 512, ErrImageTooLarge},
		{"block too small", img, img, MinBlockSize - 1, ErrBadBlockSize},
		{"block too large", img, img, MaxBlockSize + 1, ErrBadBlockSize},
	}
	for _, c := range cases {
		if _, err := Create(context.Background(), c.old, c.new, c.block); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestCreateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	old := firmwareImage(30, 1<<20)
	if _, err := Create(ctx, old, edited(31, old, 5), 512); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// auditFrames walks a patch independently of Apply and checks the writer's side of the format: every
// frame's LZ4 block is 1…block bytes and decodes to 1…block bytes, regions are covered exactly,
// header offset 32 holds the largest block, and nothing follows the record that completes the image.
func auditFrames(t *testing.T, patch []byte) {
	t.Helper()
	h, err := parseHeader(patch[:HeaderSize], MaxImageSize)
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	r := bytes.NewReader(patch[HeaderSize:])
	largest, produced := 0, int64(0)
	for produced < h.NewSize {
		x, _ := readUvarint(r)
		y, _ := readUvarint(r)
		if _, err := readSvarint(r); err != nil {
			t.Fatalf("record at new byte %d: %v", produced, err)
		}
		for _, n := range []uint64{x, y} {
			largest = max(largest, auditRegion(t, r, n, int(h.BlockSize)))
			produced += int64(n)
			if produced == h.NewSize {
				break
			}
		}
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes after the last record", r.Len())
	}
	if h.MaxFrame != int64(largest) {
		t.Fatalf("header offset 32 = %d, largest frame %d", h.MaxFrame, largest)
	}
}

// auditRegion reads the frames of a region of n bytes and returns the largest block length.
func auditRegion(t *testing.T, r *bytes.Reader, n uint64, block int) int {
	t.Helper()
	largest := 0
	for covered := uint64(0); covered < n; {
		length, err := readUvarint(r)
		if err != nil || length == 0 || length > uint64(block) {
			t.Fatalf("frame length %d (block %d): %v", length, block, err)
		}
		frame := make([]byte, length)
		if _, err := r.Read(frame); err != nil {
			t.Fatal(err)
		}
		size, ok := lz4DecodedLen(frame, block)
		if !ok || size == 0 || size > block {
			t.Fatalf("frame decodes to %d bytes (valid %v), block %d", size, ok, block)
		}
		covered += uint64(size)
		if covered > n {
			t.Fatalf("frames cover %d bytes of a %d-byte region", covered, n)
		}
		largest = max(largest, len(frame))
	}
	return largest
}
