package sim

import (
	"context"
	"encoding/hex"
	"io"
	"sync"

	"github.com/fleetwave/fleetwave/internal/delta"
	"github.com/fleetwave/fleetwave/internal/manifest"
)

// This file is the device side of delta payloads (arm-patch-stream): the precursor check, and the
// patch applied to the bytes of the image the device runs.

// imageLookup finds the bytes of an image by its SHA-256.
type imageLookup func(digest [32]byte) (delta.OldImage, bool)

// uploadedImage returns the bytes of an uploaded image with this SHA-256. The simulator knows the
// bytes of a device's image only when that image was uploaded (a factory image never is).
func (s *Server) uploadedImage(digest [32]byte) (delta.OldImage, bool) {
	want := hex.EncodeToString(digest[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, img := range s.images.items {
		if img.obj.DatafileChecksum == want {
			return io.NewSectionReader(img.data, 0, img.obj.DatafileSize), true
		}
	}
	return nil, false
}

// patchPlan is what a delta manifest asks of a device: the image the patch applies to, and the image
// it must give.
type patchPlan struct {
	precursor       [32]byte
	installedDigest [32]byte
	installedSize   uint64
}

// planPatch checks a verified arm-patch-stream manifest's precursor against the image the device runs,
// as the FOTA client does before it downloads (fota.c handle_manifest), and reads the installed image's
// digest and size from the payload metadata. It returns the event of a device that refuses.
func planPatch(sum *manifest.Summary, running [32]byte) (*patchPlan, string) {
	if string(sum.PrecursorDigest) != string(running[:]) {
		return nil, manifest.FailurePrecursorMismatch.EventType()
	}
	plan := &patchPlan{precursor: running, installedSize: sum.InstalledSize}
	copy(plan.installedDigest[:], sum.InstalledDigest)
	return plan, ""
}

// patchKey names one patching: a patch URI, the image it applies to, and how many bytes the manifest
// lets the device download.
type patchKey struct {
	uri       string
	precursor [32]byte
	limit     uint64
}

// patchResult is a delta downloaded and applied to one precursor.
type patchResult struct {
	once       sync.Once
	patch      payload // the patch as downloaded
	image      payload // the image it gave
	fetchEvent string  // the download failed, or the precursor's bytes are unknown
	applyEvent string  // the patcher refused the patch
}

// patch downloads the delta sum names and applies it to the image precursor, once per campaign, patch
// and precursor: every device on that image checks the same result against its manifest.
func (c *downloadCache) patch(ctx context.Context, sum *manifest.Summary, precursor [32]byte) *patchResult {
	key := patchKey{uri: sum.PayloadURI, precursor: precursor, limit: sum.PayloadSize}
	c.mu.Lock()
	p := c.byPair[key]
	if p == nil {
		p = &patchResult{}
		c.byPair[key] = p
	}
	c.mu.Unlock()
	p.once.Do(func() { c.applyPatch(ctx, key, p) })
	return p
}

// applyPatch streams the download into the patcher and the image it gives into a digest, so memory
// stays at the patcher's block buffers. The download stops one byte past the manifest's payload size:
// the device refuses more bytes than that, and the size check then fails. A device whose image bytes
// the simulator does not know cannot be the precursor.
func (c *downloadCache) applyPatch(ctx context.Context, key patchKey, into *patchResult) {
	old, ok := c.images(key.precursor)
	if !ok {
		into.fetchEvent = manifest.FailurePrecursorMismatch.EventType()
		return
	}
	body, event := c.open(ctx, key.uri)
	if event != "" {
		into.fetchEvent = event
		return
	}
	defer body.Close()
	src := &errorRecorder{r: body}
	received, image := newDigester(), newDigester()
	in := io.TeeReader(io.LimitReader(src, int64(key.limit)+1), received)
	_, applyErr := delta.Apply(old, in, image, 0)
	// Digest the rest of a refused patch too, so its integrity check covers all that was downloaded.
	if _, err := io.Copy(io.Discard, in); err != nil || src.err != nil {
		into.fetchEvent = EventNetworkError
		return
	}
	into.patch, into.image = received.payload(), image.payload()
	if applyErr != nil {
		into.applyEvent = EventPatchRefused
	}
}

// errorRecorder keeps the first error other than io.EOF its reader returns, to tell a failed download
// from a refused patch.
type errorRecorder struct {
	r   io.Reader
	err error
}

func (e *errorRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
