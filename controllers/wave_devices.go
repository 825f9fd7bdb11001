package controllers

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"slices"

	"github.com/fleetwave/fleetwave/internal/rollout"
)

// waveDevices are devices of a wave as a walk of the fleet met them, held compactly: a wave start may
// hold half a million. Each is a 32-byte record without pointers, which the garbage collector need
// not scan; its id becomes a string again only when its chunk is sent.
type waveDevices struct {
	list    []waveDevice
	odd     []string // ids not in the service's 32-hex form, which a record cannot hold
	trimmed int      // len(list) after the last trim
}

// waveDevice is a device of a wave's range of points.
type waveDevice struct {
	point uint64
	// id is the device id's 32 hex digits as the 16 bytes they spell; when odd, its first 4 bytes
	// are the id's index in odd.
	id      [16]byte
	odd     bool
	updated bool  // it runs the payload already
	delta   int16 // the index in the Manifest's status.deltas of the delta whose precursor it runs, or -1
}

func (ws *waveDevices) add(id string, point uint64, updated bool, delta int) {
	d := waveDevice{point: point, updated: updated, delta: int16(delta)}
	if !packHexID(&d.id, id) {
		d.odd = true
		binary.LittleEndian.PutUint32(d.id[:], uint32(len(ws.odd)))
		ws.odd = append(ws.odd, id)
	}
	ws.list = append(ws.list, d)
}

// packHexID packs an id of 32 lower-case hex digits into the bytes they spell, or reports false.
func packHexID(dst *[16]byte, id string) bool {
	if len(id) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := hexDigit(id[2*i])
		lo, ok2 := hexDigit(id[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// appendID appends d's id to b.
func (ws *waveDevices) appendID(b []byte, d waveDevice) []byte {
	if d.odd {
		return append(b, ws.odd[binary.LittleEndian.Uint32(d.id[:])]...)
	}
	return hex.AppendEncode(b, d.id[:])
}

func (ws *waveDevices) id(d waveDevice) string { return string(ws.appendID(nil, d)) }

// trim drops the devices whose points keep no longer wants, once the list has doubled since the last
// trim, so it stays near the size of what is wanted at a cost per device that does not grow.
func (ws *waveDevices) trim(keep func(point uint64) bool) {
	const least = 1024
	if len(ws.list) < 2*max(ws.trimmed, least) {
		return
	}
	ws.list = slices.DeleteFunc(ws.list, func(d waveDevice) bool { return !keep(d.point) })
	ws.trimmed = len(ws.list)
}

// keepRange drops the devices outside [lo, hi).
func (ws *waveDevices) keepRange(lo, hi uint64) {
	ws.list = slices.DeleteFunc(ws.list, func(d waveDevice) bool { return d.point < lo || d.point >= hi })
}

// byChunk groups the devices by their chunk (the result's index), in the order of their points;
// devices in no chunk are left out.
func (ws *waveDevices) byChunk(chunks rollout.Chunks) [][]waveDevice {
	slices.SortFunc(ws.list, func(a, b waveDevice) int { return cmp.Compare(a.point, b.point) })
	out := make([][]waveDevice, chunks.Len())
	// Chunks are consecutive sub-ranges of points, so each chunk's devices are one run of the list.
	for rest := ws.list; len(rest) > 0; {
		c, n := chunks.Of(rest[0].point), 1
		for n < len(rest) && chunks.Of(rest[n].point) == c {
			n++
		}
		if c >= 0 {
			out[c] = rest[:n:n]
		}
		rest = rest[n:]
	}
	return out
}
