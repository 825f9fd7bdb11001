package sim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// Simulated devices run SUIT's extension commands through the device-side verifier: the version
// condition and delegation chains from the keys they trust.

// releaseSUIT uploads payload and a SUIT manifest for it built from spec (identity, payload and
// format filled in) and signed by key.
func (e *churnEnv) releaseSUIT(name string, payload []byte, spec manifest.Spec, key crypto.Signer) string {
	e.t.Helper()
	ctx := context.Background()
	uri, digest := e.uploadImage(name, payload)
	spec.Format, spec.VendorID, spec.ClassID = manifest.FormatSUIT, e.vendor, e.class
	spec.PayloadDigest, spec.PayloadSize, spec.PayloadURI = digest[:], uint64(len(payload)), uri
	data, err := manifest.Build(spec, key)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.client.CreateFirmwareManifest(ctx, pelion.ManifestUpload{Name: name, Data: data})
	if err != nil {
		e.t.Fatal(err)
	}
	return m.ID
}

// rollOut runs a campaign of the manifest over every device and returns each device's event.
func (e *churnEnv) rollOut(name, manifestID string) map[string]string {
	e.t.Helper()
	id := e.campaign(name, "state__eq=registered", manifestID)
	e.start(id)
	e.awaitPhase(id, pelion.PhaseStopped)
	events := map[string]string{}
	for dev, rec := range e.targets(id) {
		events[dev] = rec.EventType
	}
	return events
}

func mustEncodeVersion(t *testing.T, v string) uint64 {
	t.Helper()
	n, err := manifest.EncodeVersion(v)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A device on 2.0.0 refuses a SUIT manifest for 1.9.0 whose sequence number is higher, with
// ROLLBACK_PROTECTION; a device on 1.8.0 installs it.
func TestSUITDevicesRefuseALowerSemanticVersion(t *testing.T) {
	e := newChurnEnv(t, Config{})
	onTwo, err := e.sim.AddDevices(DeviceSpec{Count: 2, VendorID: e.vendor, ClassID: e.class, InstalledVersion: mustEncodeVersion(t, "2.0.0")})
	if err != nil {
		t.Fatal(err)
	}
	onOld, err := e.sim.AddDevices(DeviceSpec{Count: 2, VendorID: e.vendor, ClassID: e.class, InstalledVersion: mustEncodeVersion(t, "1.8.0")})
	if err != nil {
		t.Fatal(err)
	}
	seq := mustEncodeVersion(t, "2.0.0") + 1
	id := e.releaseSUIT("fw-1.9.0", []byte("firmware 1.9.0"), manifest.Spec{Version: "1.9.0", SequenceNumber: &seq}, e.key)
	events := e.rollOut("downgrade", id)
	for _, dev := range onTwo {
		if events[dev] != manifest.FailureVersionRejected.EventType() || events[dev] != "UPD4_FAIL_221" {
			t.Errorf("device on 2.0.0: %q, want UPD4_FAIL_221", events[dev])
		}
	}
	for _, dev := range onOld {
		if events[dev] != EventSucceeded {
			t.Errorf("device on 1.8.0: %q, want %s", events[dev], EventSucceeded)
		}
	}
}

// Devices that trust only a root key install a manifest its delegate signs, and refuse one whose
// chain starts at another key (INVALID_CERTIFICATE).
func TestSUITDevicesFollowDelegationChains(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 3})
	_, delegate, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := manifest.NewDelegation(nil, e.key, manifest.AlgorithmES256, delegate.Public(), manifest.DelegationClaims{Subject: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	stranger := newChurnEnv(t, Config{}).key
	forged, err := manifest.NewDelegation(nil, stranger, manifest.AlgorithmES256, delegate.Public(), manifest.DelegationClaims{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		chain manifest.Delegation
		want  string
	}{
		{"delegated", chain, EventSucceeded},
		{"forged chain", forged, manifest.FailureDelegationInvalid.EventType()},
	}
	for i, tt := range tests {
		version := []string{"3.0.0", "3.1.0"}[i]
		id := e.releaseSUIT(tt.name, []byte("firmware "+version), manifest.Spec{Version: version, Algorithm: manifest.AlgorithmEdDSA, Delegation: tt.chain}, delegate)
		for dev, event := range e.rollOut(tt.name, id) {
			if event != tt.want {
				t.Errorf("%s: device %s reported %q, want %q", tt.name, dev, event, tt.want)
			}
		}
	}
	if manifest.FailureDelegationInvalid.EventType() != "UPD4_FAIL_209" {
		t.Errorf("DelegationInvalid reports %s", manifest.FailureDelegationInvalid.EventType())
	}
}

// uploadImage uploads payload as a firmware image and returns its datafile URI and SHA-256.
func (e *churnEnv) uploadImage(name string, payload []byte) (string, [32]byte) {
	e.t.Helper()
	img, err := e.client.CreateFirmwareImage(context.Background(), pelion.ImageUpload{Name: name + "-image", Size: int64(len(payload)),
		Open: pelion.ReaderAtSource(bytes.NewReader(payload), int64(len(payload)))})
	if err != nil {
		e.t.Fatal(err)
	}
	return img.Datafile, sha256.Sum256(payload)
}
