package delta

import (
	"encoding/binary"
	"math"
)

// Magic opens every patch; it doubles as the format version (Arm's bsdiff_get_version).
const Magic = "PELION/BSDIFF001"

// HeaderSize is the length of the fixed header: magic, new size, block size, largest frame.
const HeaderSize = 40

// Limits of the format and of this package.
const (
	// MinBlockSize is the smallest block size the device accepts.
	MinBlockSize = 64
	// DefaultBlockSize is manifest-delta-tool's default; legacy Update Client devices accept at most
	// 512 (their two work buffers share a 1 KiB pool).
	DefaultBlockSize = 512
	// MaxBlockSize bounds the block size here (the device's bound is 2^32−1): a device holds two
	// buffers of the block size, and LZ4 matches reach back at most 64 KiB, so larger blocks would
	// save only per-frame overhead.
	MaxBlockSize = 1 << 20
	// MaxImageSize bounds the old and the new image. The device's own bound is 2^32−1 bytes; this one
	// keeps Create's suffix array (4 bytes per old byte, twice while sorting) within a few hundred MiB.
	MaxImageSize = 32 << 20
)

// maxDeviceHeaderValue is the largest header size or block size the device accepts (2^32−1).
const maxDeviceHeaderValue = math.MaxUint32

// Header is the decoded fixed header of a patch.
type Header struct {
	// NewSize is the size of the image the patch produces.
	NewSize int64
	// BlockSize is the largest frame, compressed or decoded, and the size of each device work buffer.
	BlockSize int64
	// MaxFrame is the largest compressed frame the generator wrote. Devices never read it.
	MaxFrame int64
}

// appendHeader appends the encoded header.
func appendHeader(dst []byte, h Header) []byte {
	dst = append(dst, Magic...)
	dst = appendHeaderInt(dst, h.NewSize)
	dst = appendHeaderInt(dst, h.BlockSize)
	return appendHeaderInt(dst, h.MaxFrame)
}

// parseHeader decodes and checks the 40 header bytes as the device does; maxNewSize is this side's
// own bound on the new image. It returns the error reason, or nil.
func parseHeader(b []byte, maxNewSize int64) (Header, error) {
	if string(b[:len(Magic)]) != Magic {
		return Header{}, ErrMagic
	}
	h := Header{
		NewSize:   headerInt(b[16:24]),
		BlockSize: headerInt(b[24:32]),
		MaxFrame:  headerInt(b[32:40]),
	}
	switch {
	case h.NewSize <= 0 || h.NewSize > maxDeviceHeaderValue:
		return h, ErrNewSize
	case h.BlockSize < MinBlockSize || h.BlockSize > maxDeviceHeaderValue:
		return h, ErrBlockSize
	case h.NewSize > maxNewSize:
		return h, ErrTooLarge
	case h.BlockSize > MaxBlockSize:
		return h, ErrBlockTooLarge
	}
	return h, nil
}

// appendHeaderInt appends v as bsdiff's 8-byte sign-magnitude integer: |v| little-endian in bits 0–62,
// the sign in bit 63 (not two's complement). Header values are sizes, so the sign bit stays clear.
func appendHeaderInt(dst []byte, v int64) []byte {
	return binary.LittleEndian.AppendUint64(dst, uint64(v))
}

// headerInt decodes an 8-byte sign-magnitude integer.
func headerInt(b []byte) int64 {
	u := binary.LittleEndian.Uint64(b)
	magnitude := int64(u &^ (1 << 63))
	if u&(1<<63) != 0 {
		return -magnitude
	}
	return magnitude
}
