// Package delta makes and applies arm-patch-stream patches: the delta-update payload of Pelion/Izuma
// Device Management (manifest payload format arm-patch-stream(5), bsdiff-stream in manifest v1), a
// bsdiff diff whose control records are varints and whose data is cut into raw LZ4 blocks.
//
// Create writes a patch that Arm's device patcher (mbed-cloud-client fota/bspatch) accepts: the 40-byte
// header, records of an unsigned x, an unsigned y and a sign-magnitude z varint, each non-empty region
// as frames of one raw LZ4 block of 1…block size bytes that decodes to 1…block size bytes, and nothing
// after the record that completes the image. Apply is the device side, for simulated devices: it reads
// a patch strictly front to back as the device does, refuses everything the device refuses, and,
// stricter than the device, also refuses frames that decode past their region, reads and seeks outside
// the old image, bytes after the last record, and LZ4 blocks that break the block format's end rules
// in ways LZ4 1.8.3 lets through; Arm's generator writes none of these. Its errors are *PatchError
// values wrapping one of the Err* reasons.
//
// Limits. Images are at most MaxImageSize bytes and never empty (Arm's generator refuses empty
// images and a device never finishes a patch for an empty one). Besides the two images, Create holds
// the suffix sort of the old image (two int32 arrays of len(old)+1 entries, up to 8 MiB of sort keys)
// and the patch: about 8 × len(old) + len(patch) bytes, so under 300 MiB for the largest images. Apply
// streams: besides what its caller passes, it holds three buffers of at most the block size each,
// and block sizes are at most MaxBlockSize.
//
// The diff is bsdiff 4's (Percival; the scan as in Arm's generator), over a Larsson–Sadakane suffix
// sort written here: no maintained Go module exposes a suffix array, and the Go bsdiff modules emit the
// BSDIFF40/bzip2 container rather than the control records this format needs. The LZ4 block codec is
// github.com/pierrec/lz4/v4.
package delta
