package delta

import "testing"

func TestWorthIt(t *testing.T) {
	cases := []struct {
		patch, full int64
		threshold   int
		want        bool
	}{
		{59, 100, 60, true},
		{60, 100, 60, false}, // manifest-delta-tool fails at exactly the threshold
		{61, 100, 60, false},
		{599, 1000, 60, true},
		{600, 1000, 60, false},
		{0, 100, 60, true},
		{29, 100, MinThreshold, true},
		{98, 100, MaxThreshold, true},
		{99, 100, MaxThreshold, false},
		{150, 100, 60, false},
		{1, 0, 60, false}, // no full image to compare with
	}
	for _, c := range cases {
		if got := WorthIt(c.patch, c.full, c.threshold); got != c.want {
			t.Errorf("WorthIt(%d, %d, %d) = %v, want %v", c.patch, c.full, c.threshold, got, c.want)
		}
	}
}

// A rebuild with small edits is worth a delta at the default threshold; unrelated images are not.
func TestWorthItOnPatches(t *testing.T) {
	base := firmwareImage(70, 64<<10)
	for _, c := range []struct {
		name string
		new  []byte
		want bool
	}{
		{"small edits", edited(71, base, 8), true},
		{"unrelated", firmwareImage(72, 64<<10), false},
	} {
		patch := mustCreate(t, base, c.new, DefaultBlockSize)
		if got := WorthIt(int64(len(patch)), int64(len(c.new)), DefaultThreshold); got != c.want {
			t.Errorf("%s: patch %d of %d bytes: WorthIt = %v, want %v", c.name, len(patch), len(c.new), got, c.want)
		}
	}
}
