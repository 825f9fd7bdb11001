package sim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// releaseDependent uploads payload and a SUIT manifest for it signed by depKey, then a dependent
// envelope signed by the fleet's key that integrates that manifest, and returns the dependent's
// manifest id and bytes.
func (e *churnEnv) releaseDependent(name string, payload []byte, version string, depKey crypto.Signer) (string, []byte) {
	e.t.Helper()
	ctx := context.Background()
	uri, digest := e.uploadImage(name, payload)
	dep, err := manifest.Build(manifest.Spec{Format: manifest.FormatSUIT, VendorID: e.vendor, ClassID: e.class, Version: version,
		PayloadDigest: digest[:], PayloadSize: uint64(len(payload)), PayloadURI: uri}, depKey)
	if err != nil {
		e.t.Fatal(err)
	}
	seq := mustEncodeVersion(e.t, version)
	data, err := manifest.BuildDependent(manifest.DependentSpec{Dependency: dep, Name: "#" + name, SequenceNumber: seq}, e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.client.CreateFirmwareManifest(ctx, pelion.ManifestUpload{Name: name, Data: data})
	if err != nil {
		e.t.Fatal(err)
	}
	return m.ID, data
}

// A campaign whose manifest is a dependent envelope with an integrated dependency installs the
// dependency's image on every device, under the dependent's sequence number; the interpreter the
// devices run completes the dependency's install before the dependent's. A dependency its devices do
// not trust is refused (INVALID_SIGNATURE) although the dependent's own signature is fine.
func TestSUITDevicesProcessIntegratedDependencies(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 3})
	payload := []byte("firmware 2.0.0 with its radio")
	id, data := e.releaseDependent("fw-2.0.0", payload, "2.0.0", e.key)

	d, err := manifest.DecodeSUIT(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dependency 0/install", "root/install"}; !slices.Equal(d.Manifest.Processed, want) {
		t.Errorf("processed %q, want %q", d.Manifest.Processed, want)
	}
	events := e.rollOut("with-dependency", id)
	if len(events) != 3 {
		t.Fatalf("the campaign reached %d devices, want 3", len(events))
	}
	for dev, event := range events {
		state, ok := e.sim.Device(dev)
		switch {
		case event != EventSucceeded:
			t.Errorf("device %s reported %q, want %s", dev, event, EventSucceeded)
		case !ok || state.FirmwareDigest != sha256.Sum256(payload) || state.InstalledVersion != mustEncodeVersion(t, "2.0.0"):
			t.Errorf("device %s: firmware %x version %#x, want the dependency's image under 2.0.0", dev, state.FirmwareDigest, state.InstalledVersion)
		}
	}

	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	untrusted, _ := e.releaseDependent("fw-2.1.0", []byte("firmware 2.1.0"), "2.1.0", stranger)
	for dev, event := range e.rollOut("untrusted-dependency", untrusted) {
		state, _ := e.sim.Device(dev)
		if event != manifest.FailureSignatureInvalid.EventType() || state.FirmwareDigest != sha256.Sum256(payload) {
			t.Errorf("device %s: %q with firmware %x, want %s and the 2.0.0 image kept", dev, event, state.FirmwareDigest,
				manifest.FailureSignatureInvalid.EventType())
		}
	}
}
