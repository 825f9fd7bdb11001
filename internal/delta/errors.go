package delta

import (
	"errors"
	"fmt"
)

// Why Apply refuses a patch. Each comes wrapped in a *PatchError that says where; test with errors.Is.
var (
	ErrMagic         = errors.New("not an arm-patch-stream patch: wrong magic")
	ErrNewSize       = errors.New("new image size out of range")
	ErrBlockSize     = errors.New("block size out of range")
	ErrTooLarge      = errors.New("new image larger than allowed")
	ErrBlockTooLarge = errors.New("block size larger than allowed")
	ErrTruncated     = errors.New("patch ends early")
	ErrVarint        = errors.New("varint longer than 7 bytes")
	ErrRegion        = errors.New("region runs past the new image size")
	ErrFrameLength   = errors.New("frame length is 0 or above the block size")
	ErrLZ4           = errors.New("frame is not a valid LZ4 block")
	ErrOvershoot     = errors.New("frames decode past the end of their region")
	ErrOldBounds     = errors.New("old-image cursor outside the old image")
	ErrTrailingData  = errors.New("bytes after the last record")
)

// PatchError is a refused patch: the reason (one of the Err* values) and the patch offset at which it
// was found.
type PatchError struct {
	Offset int64
	Err    error
}

func (e *PatchError) Error() string {
	return fmt.Sprintf("arm-patch-stream: at patch byte %d: %v", e.Offset, e.Err)
}

func (e *PatchError) Unwrap() error { return e.Err }

// Why Create refuses its inputs.
var (
	ErrEmptyImage    = errors.New("image is empty")
	ErrImageTooLarge = fmt.Errorf("image larger than %d MiB", MaxImageSize>>20)
	ErrBadBlockSize  = fmt.Errorf("block size must be %d to %d bytes", MinBlockSize, MaxBlockSize)
)
