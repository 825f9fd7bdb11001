package main

import (
	"strings"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// barPart is one kind of segment of a wave's progress bar. Its glyphs differ in both glyph sets, so
// the bar reads without colour too (NO_COLOR, or a terminal without it).
type barPart struct {
	name       string
	glyph      rune // on a colour terminal
	plainGlyph rune // without colour
	style      style
	count      func(planned int64, c v1.DeviceCounts) int64
}

// barParts are the bar's segments, left to right; the legend lists them in the same order. A new
// device outcome is one more entry here.
var barParts = []barPart{
	{name: "succeeded", glyph: '█', plainGlyph: '#', style: green,
		count: func(_ int64, c v1.DeviceCounts) int64 { return c.Succeeded }},
	{name: "skipped", glyph: '▓', plainGlyph: '+', style: green,
		count: func(_ int64, c v1.DeviceCounts) int64 { return c.Skipped }},
	{name: "failed", glyph: '█', plainGlyph: 'x', style: red,
		count: func(_ int64, c v1.DeviceCounts) int64 { return c.Failed }},
	{name: "timed out", glyph: '█', plainGlyph: '!', style: yellow,
		count: func(_ int64, c v1.DeviceCounts) int64 { return c.TimedOut }},
	{name: "updating", glyph: '▒', plainGlyph: '~', style: cyan,
		count: func(_ int64, c v1.DeviceCounts) int64 { return c.Pending }},
	{name: "not started", glyph: '░', plainGlyph: '.', style: faint,
		count: func(planned int64, c v1.DeviceCounts) int64 {
			return max(0, planned-(c.Succeeded+c.Skipped+c.Failed+c.TimedOut+c.Pending))
		}},
}

func (p barPart) glyphFor(color bool) rune {
	if color {
		return p.glyph
	}
	return p.plainGlyph
}

// progressBar draws a wave of planned devices with counts c in width columns.
func progressBar(planned int64, c v1.DeviceCounts, width int, color bool) textLine {
	counts := make([]int64, len(barParts))
	for i, p := range barParts {
		counts[i] = p.count(planned, c)
	}
	var bar textLine
	for i, cells := range barCells(counts, width) {
		if cells > 0 {
			bar = append(bar, span{text: strings.Repeat(string(barParts[i].glyphFor(color)), cells), style: barParts[i].style})
		}
	}
	return bar
}

// barCells shares width columns among counts in proportion (largest remainder), giving every
// non-zero count at least one column so a single failure among thousands still shows. All columns
// go to the last count when every count is zero.
func barCells(counts []int64, width int) []int {
	cells := make([]int, len(counts))
	var total int64
	for _, n := range counts {
		total += n
	}
	if total == 0 || width <= 0 {
		if len(cells) > 0 {
			cells[len(cells)-1] = max(width, 0)
		}
		return cells
	}
	remainders := make([]int64, len(counts))
	used := 0
	for i, n := range counts {
		share := n * int64(width)
		cells[i], remainders[i] = int(share/total), share%total
		used += cells[i]
	}
	for ; used < width; used++ {
		cells[largestRemainder(remainders)]++
	}
	for i, n := range counts {
		if n > 0 && cells[i] == 0 {
			if widest := widestCell(cells); cells[widest] > 1 {
				cells[widest]--
				cells[i]++
			}
		}
	}
	return cells
}

// largestRemainder returns the index of the largest remainder and spends it.
func largestRemainder(remainders []int64) int {
	best := 0
	for i, r := range remainders {
		if r > remainders[best] {
			best = i
		}
	}
	remainders[best] = -1
	return best
}

func widestCell(cells []int) int {
	best := 0
	for i, c := range cells {
		if c > cells[best] {
			best = i
		}
	}
	return best
}

// barLegend names the glyphs of the bar.
func barLegend(color bool) textLine {
	var l textLine
	for i, p := range barParts {
		if i > 0 {
			l = append(l, span{text: "  "})
		}
		l = append(l, span{text: string(p.glyphFor(color)), style: p.style}, span{text: " " + p.name, style: faint})
	}
	return l
}
