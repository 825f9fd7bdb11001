package controllers

import (
	"slices"
	"testing"
	"unsafe"

	"github.com/fleetwave/fleetwave/internal/rollout"
)

// TestWaveDevicesHoldIDs checks that every id comes back as it went in, the service's 32-hex ids
// packed into the record and any other kept aside, and that a record stays 32 bytes.
func TestWaveDevicesHoldIDs(t *testing.T) {
	ids := []string{
		"0123456789abcdef0123456789abcdef",
		"0123456789ABCDEF0123456789ABCDEF",     // upper case: kept as it is
		"01234567-89ab-cdef-0123-456789abcdef", // dashed
		"0123456789abcdef0123456789abcdeg",     // not hex
		"short",
		"",
		"ffffffffffffffffffffffffffffffff",
	}
	var ws waveDevices
	for i, id := range ids {
		ws.add(id, uint64(i), i%2 == 0, i-1)
	}
	for i, d := range ws.list {
		if got := ws.id(d); got != ids[i] {
			t.Errorf("id %d: got %q, want %q", i, got, ids[i])
		}
		if d.point != uint64(i) || d.updated != (i%2 == 0) || int(d.delta) != i-1 {
			t.Errorf("device %d: %+v", i, d)
		}
	}
	if len(ws.odd) != 5 {
		t.Errorf("%d ids kept aside, want the 5 not in lower-case 32-hex form", len(ws.odd))
	}
	if size := unsafe.Sizeof(waveDevice{}); size != 32 {
		t.Errorf("a record is %d bytes, want 32", size)
	}
}

// TestWaveDevicesTrimAndGroup checks trimming (only once the list doubled), keeping a range, and
// grouping by chunk in point order with the devices of no chunk left out.
func TestWaveDevicesTrimAndGroup(t *testing.T) {
	var ws waveDevices
	for p := range uint64(3000) {
		ws.add("0123456789abcdef0123456789abcdef", 2999-p, false, -1)
		ws.trim(func(point uint64) bool { return point < 2500 })
	}
	// Trimmed at 2048 devices (dropping the 500 at or above 2500), not since: the list has not doubled.
	if len(ws.list) != 2500 {
		t.Fatalf("%d devices after trimming, want 2500", len(ws.list))
	}
	ws.keepRange(100, 2200)
	if len(ws.list) != 2100 {
		t.Fatalf("%d devices in [100, 2200), want 2100", len(ws.list))
	}
	chunker := rollout.NewChunker(0, 2000, 500, 2000)
	for p := range uint64(2000) {
		chunker.Count(p)
	}
	chunks := chunker.Chunks()
	byChunk := ws.byChunk(chunks)
	var grouped []uint64
	for c, devices := range byChunk {
		for _, d := range devices {
			if chunks.Of(d.point) != c {
				t.Fatalf("point %d grouped in chunk %d, belongs to %d", d.point, c, chunks.Of(d.point))
			}
			grouped = append(grouped, d.point)
		}
	}
	if len(grouped) != 1900 || !slices.IsSorted(grouped) || grouped[0] != 100 {
		t.Fatalf("grouped %d devices from %d, sorted %v; want the 1900 of [100, 2000) in order", len(grouped), grouped[0], slices.IsSorted(grouped))
	}
}
