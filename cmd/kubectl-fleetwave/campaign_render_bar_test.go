package main

import (
	"math/rand/v2"
	"slices"
	"testing"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

func TestBarCells(t *testing.T) {
	tests := []struct {
		name   string
		counts []int64
		width  int
		want   []int
	}{
		{"in proportion", []int64{50, 25, 25}, 20, []int{10, 5, 5}},
		{"largest remainders get the spare columns", []int64{1, 1, 1}, 10, []int{4, 3, 3}},
		{"one failure among thousands still shows", []int64{9999, 1, 0}, 20, []int{19, 1, 0}},
		{"every outcome shows in a narrow bar", []int64{1000, 1, 1, 1, 1, 0}, 5, []int{1, 1, 1, 1, 1, 0}},
		{"nothing counted yet: all columns to the last part", []int64{0, 0, 0}, 7, []int{0, 0, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := barCells(tt.counts, tt.width); !slices.Equal(got, tt.want) {
				t.Errorf("barCells(%v, %d) = %v, want %v", tt.counts, tt.width, got, tt.want)
			}
		})
	}
}

// Whatever the counts, the columns fill the bar exactly, and no non-zero count is left out while
// the bar has room for every part.
func TestBarCellsFillTheBar(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		counts := make([]int64, len(barParts))
		for i := range counts {
			if rng.IntN(3) > 0 {
				counts[i] = rng.Int64N(100_000)
			}
		}
		width := len(barParts) + rng.IntN(120)
		cells := barCells(counts, width)
		sum := 0
		for i, c := range cells {
			sum += c
			if counts[i] > 0 && c == 0 {
				t.Fatalf("barCells(%v, %d) = %v: count %d got no column", counts, width, cells, counts[i])
			}
		}
		if sum != width {
			t.Fatalf("barCells(%v, %d) = %v: %d columns", counts, width, cells, sum)
		}
	}
}

func TestProgressBar(t *testing.T) {
	c := v1.DeviceCounts{Targeted: 40, Succeeded: 20, Skipped: 10, Failed: 5, TimedOut: 5, Pending: 10}
	for color, want := range map[bool]string{
		false: "#####+++x!~~~..",     // 5, 2.5, 1.25, 1.25, 2.5, 2.5: the first two halves round up
		true:  "██████▓▓▓████▒▒▒░░░", // 6.33, 3.17, 1.58, 1.58, 3.17, 3.17: the two .58 round up
	} {
		bar := progressBar(60, c, map[bool]int{false: 15, true: 19}[color], color)
		got := ""
		for _, s := range bar {
			got += s.text
		}
		if got != want {
			t.Errorf("color %v: bar %q, want %q", color, got, want)
		}
	}
}
