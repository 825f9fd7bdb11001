package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/fleetwave/fleetwave/internal/delta"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// Simulated devices patch arm-patch-stream payloads against the bytes of the image they run and
// install only the image the manifest names.

// releaseV3 uploads payload and a Pelion v3 manifest for it built from spec (identity and payload
// filled in), and returns the manifest id.
func (e *churnEnv) releaseV3(name string, payload []byte, spec manifest.Spec) string {
	e.t.Helper()
	return e.releaseNaming(name, payload, payload, spec)
}

// releaseNaming is releaseV3 whose manifest names the digest and size of named, whatever is served.
func (e *churnEnv) releaseNaming(name string, served, named []byte, spec manifest.Spec) string {
	e.t.Helper()
	uri, _ := e.uploadImage(name, served)
	digest := sha256.Sum256(named)
	spec.Format, spec.VendorID, spec.ClassID = manifest.FormatPelionV3, e.vendor, e.class
	spec.PayloadDigest, spec.PayloadSize, spec.PayloadURI = digest[:], uint64(len(named)), uri
	data, err := manifest.Build(spec, e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.client.CreateFirmwareManifest(context.Background(), pelion.ManifestUpload{Name: name, Data: data})
	if err != nil {
		e.t.Fatal(err)
	}
	return m.ID
}

// deltaSpec is the manifest of a patch that turns precursor into installed.
func deltaSpec(version string, precursor, installed []byte) manifest.Spec {
	pre, inst := sha256.Sum256(precursor), sha256.Sum256(installed)
	return manifest.Spec{Version: version, PayloadFormat: manifest.PayloadArmPatchStream,
		PrecursorDigest: pre[:], InstalledDigest: inst[:], InstalledSize: uint64(len(installed))}
}

// testImages returns a 64 KiB image and a copy with a few bytes changed and inserted.
func testImages(seed uint64) (old, updated []byte) {
	rng := rand.New(rand.NewPCG(seed, 0))
	old = make([]byte, 64<<10)
	for i := range old {
		old[i] = byte(rng.IntN(16)) // few symbols, so LZ4 and the diff have something to find
	}
	updated = bytes.Clone(old)
	for i := 1000; i < len(updated); i += 9000 {
		updated[i] ^= 0x5a
	}
	updated = append(updated[:30000:30000], append([]byte("inserted in 1.1.0"), updated[30000:]...)...)
	return old, updated
}

func mustPatch(t *testing.T, old, updated []byte) []byte {
	t.Helper()
	patch, err := delta.Create(context.Background(), old, updated, delta.DefaultBlockSize)
	if err != nil {
		t.Fatal(err)
	}
	return patch
}

// onFullImage rolls image out in full at version to the devices of the region and checks they
// install it.
func (e *churnEnv) onFullImage(image []byte, version, region string) {
	e.t.Helper()
	name := region + "-" + version
	id := e.campaign(name, "custom_attributes__region__eq="+region, e.releaseV3(name, image, manifest.Spec{Version: version}))
	e.start(id)
	e.awaitPhase(id, pelion.PhaseStopped)
	for dev, got := range e.targets(id) {
		if got.EventType != EventSucceeded || got.Payload != PayloadFull {
			e.t.Fatalf("device %s reported %q with payload %q installing the full image", dev, got.EventType, got.Payload)
		}
	}
}

// wantImage fails unless the device runs the image at the version.
func (e *churnEnv) wantImage(id string, image []byte, version string) {
	e.t.Helper()
	d, ok := e.sim.Device(id)
	if !ok {
		e.t.Fatalf("device %s is gone", id)
	}
	if d.FirmwareDigest != sha256.Sum256(image) || d.InstalledVersion != mustEncodeVersion(e.t, version) {
		e.t.Errorf("device %s runs %x at %#x, want the %s image", id, d.FirmwareDigest[:4], d.InstalledVersion, version)
	}
}

// Devices on the precursor get the delta and end on the new image; devices on another uploaded image
// (whose bytes the simulator knows) refuse it with WRONG_DELTA_PRECURSOR before downloading, and keep
// theirs.
func TestDevicesOnThePrecursorPatchToTheNewImage(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 3, DeviceAttributes: map[string]string{"region": "main"}})
	onOld := e.sim.DeviceIDs()
	others, err := e.sim.AddDevices(DeviceSpec{Count: 2, VendorID: e.vendor, ClassID: e.class, Attributes: map[string]string{"region": "lab"}})
	if err != nil {
		t.Fatal(err)
	}
	old, updated := testImages(1)
	otherImage, _ := testImages(4)
	e.onFullImage(old, "1.0.0", "main")
	e.onFullImage(otherImage, "1.0.0", "lab")
	patch := mustPatch(t, old, updated)
	if !delta.WorthIt(int64(len(patch)), int64(len(updated)), delta.DefaultThreshold) {
		t.Fatalf("a %d-byte patch for a %d-byte image", len(patch), len(updated))
	}
	id := e.campaign("delta-1.1.0", "state__eq=registered", e.releaseV3("delta-1.1.0", patch, deltaSpec("1.1.0", old, updated)))
	e.start(id)
	e.awaitPhase(id, pelion.PhaseStopped)
	targets := e.targets(id)
	for _, dev := range onOld {
		if got := targets[dev]; got.EventType != EventSucceeded || got.Payload != PayloadDelta {
			t.Errorf("device on the precursor: %q with payload %q, want %s with a delta", got.EventType, got.Payload, EventSucceeded)
		}
		e.wantImage(dev, updated, "1.1.0")
	}
	for _, dev := range others {
		if got := targets[dev]; got.EventType != "UPD4_FAIL_229" || got.Payload != "" {
			t.Errorf("device on another image: %q with payload %q, want UPD4_FAIL_229 before any download", got.EventType, got.Payload)
		}
		e.wantImage(dev, otherImage, "1.0.0")
	}
}

// A device whose image matches the precursor digest but was never uploaded (its factory image) cannot
// be patched: the simulator does not know its bytes, so it refuses as on a precursor mismatch.
func TestDeltaForAnImageNeverUploadedIsRefused(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 2})
	ids := e.sim.DeviceIDs()
	factory, _ := e.sim.Device(ids[0])
	old, updated := testImages(2)
	spec := deltaSpec("1.1.0", old, updated)
	spec.PrecursorDigest = factory.FirmwareDigest[:]
	for dev, event := range e.rollOut("factory-delta", e.releaseV3("factory-delta", mustPatch(t, old, updated), spec)) {
		if event != manifest.FailurePrecursorMismatch.EventType() {
			t.Errorf("device %s reported %q, want %s", dev, event, manifest.FailurePrecursorMismatch.EventType())
		}
	}
}

// A patch that does not give the manifest's image is refused, and the device keeps its image: a
// truncated patch (the patcher refuses it), a patch to another image (the patched digest differs), and
// a served patch that differs from the one the manifest names (the download's integrity check).
func TestDevicesRefuseAPatchThatDoesNotGiveTheirImage(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 2, DeviceAttributes: map[string]string{"region": "main"}})
	old, updated := testImages(3)
	e.onFullImage(old, "1.0.0", "main")
	onOld := e.sim.DeviceIDs()
	patch := mustPatch(t, old, updated)
	elsewhere := bytes.Clone(updated)
	elsewhere[len(elsewhere)/2] ^= 1
	tests := []struct {
		name   string
		served []byte
		named  []byte // the patch the manifest names, when it differs from the served one
		want   string
	}{
		{"truncated", patch[:len(patch)-3], nil, EventPatchRefused},
		{"to another image", mustPatch(t, old, elsewhere), nil, EventPatchedIntegrity},
		{"not the named patch", patch[:len(patch)-3], patch, EventIntegrity},
	}
	for _, tt := range tests {
		named := tt.named
		if named == nil {
			named = tt.served
		}
		id := e.releaseNaming(tt.name, tt.served, named, deltaSpec("1.1.0", old, updated))
		for dev, event := range e.rollOut(tt.name, id) {
			if event != tt.want {
				t.Errorf("%s: device %s reported %q, want %q", tt.name, dev, event, tt.want)
			}
		}
		for _, dev := range onOld {
			e.wantImage(dev, old, "1.0.0")
		}
	}
}
