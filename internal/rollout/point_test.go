package rollout

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// deviceIDs makes n Pelion-style device ids (32 lower-case hex digits) from a seed.
func deviceIDs(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
	}
	return ids
}

func TestPointFollowsItsDefinition(t *testing.T) {
	const uid = "3f0c1f8e-5a2b-4c8e-9d3a-1b2c3d4e5f60"
	for _, id := range deviceIDs(1, 20) {
		sum := sha256.Sum256([]byte(uid + "\x00" + id))
		want := binary.BigEndian.Uint64(sum[:8]) >> 1
		if got := Point(uid, id); got != want {
			t.Errorf("Point(%q) = %#x, want %#x", id, got, want)
		}
	}
}

func TestPointNormalisesDeviceIDs(t *testing.T) {
	const uid = "campaign-uid"
	const id = "016e8f3a1b2c00000000000100100217"
	want := Point(uid, id)
	for _, variant := range []string{
		strings.ToUpper(id),
		"016e8f3a-1b2c-0000-0000-000100100217",
		"016E8F3A-1B2C-0000-0000-000100100217",
		"016e8F3a1B2c00000000000100100217",
	} {
		if got := Point(uid, variant); got != want {
			t.Errorf("Point(%q) = %#x, want %#x as for %q", variant, got, want, id)
		}
	}
	if Point(uid, id) != want {
		t.Error("Point is not deterministic")
	}
	if Point("another-campaign", id) == want {
		t.Error("the same device lands on the same point for another campaign")
	}
	if Point(uid, "016e8f3a1b2c00000000000100100218") == want {
		t.Error("two devices land on the same point")
	}
	// The separator keeps uid and device id apart: "ab"+"c" and "a"+"bc" differ.
	if Point("ab", "c") == Point("a", "bc") {
		t.Error("uid and device id run into each other")
	}
}

// TestPointIsUniform bins the points of 100,000 fixed ids into 64 equal ranges and checks the
// chi-square statistic (63 degrees of freedom). The ids are fixed, so the result is too; the bound,
// 120, is far in the tail (p < 1e-4), so any real bias would fail it.
func TestPointIsUniform(t *testing.T) {
	const n, bins = 100_000, 64
	var counts [bins]int
	for _, id := range deviceIDs(2, n) {
		p := Point("7d1e0a5c-2f4b-4e8a-b6c3-0d9e8f7a6b5c", id)
		if p > MaxPoint {
			t.Fatalf("Point(%q) = %#x, above 63 bits", id, p)
		}
		counts[p>>(63-6)]++
	}
	expected := float64(n) / bins
	var chi2 float64
	for _, c := range counts {
		d := float64(c) - expected
		chi2 += d * d / expected
	}
	if chi2 > 120 {
		t.Errorf("chi-square over %d bins = %.1f, want below 120: %v", bins, chi2, counts)
	}
}

func BenchmarkPoint(b *testing.B) {
	ids := deviceIDs(3, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Point("3f0c1f8e-5a2b-4c8e-9d3a-1b2c3d4e5f60", ids[i%len(ids)])
	}
}
