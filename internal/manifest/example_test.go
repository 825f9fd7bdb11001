package manifest_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/fleetwave/fleetwave/internal/manifest"
)

// Build a SUIT manifest, then check it the way a device does.
func Example() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)) // normally ParsePrivateKey
	vendor, _ := manifest.VendorIDFromDomain("example.com")
	class, _ := manifest.ClassIDFromModel(vendor, "widget-rev-a")
	payload := sha256.Sum256([]byte("firmware image"))

	data, err := manifest.Build(manifest.Spec{
		Format:        manifest.FormatSUIT,
		Algorithm:     manifest.AlgorithmEdDSA,
		VendorID:      vendor,
		ClassID:       class,
		Version:       "1.4.0",
		PayloadDigest: payload[:],
		PayloadSize:   14,
		PayloadURI:    "https://updates.example.com/widget-1.4.0.bin",
	}, key)
	if err != nil {
		panic(err)
	}

	installed, _ := manifest.EncodeVersion("1.3.9")
	device := manifest.Device{VendorID: vendor, ClassID: class, InstalledVersion: installed}
	s, err := manifest.VerifyForDevice(data, []crypto.PublicKey{key.Public()}, device)
	fmt.Println(s.Format, s.Component, s.PayloadURI, s.Algorithm, err)

	device.InstalledVersion = s.Version // already up to date
	_, err = manifest.VerifyForDevice(data, []crypto.PublicKey{key.Public()}, device)
	failure := manifest.FailureOf(err)
	fmt.Println(failure, failure.EventType())
	// Output:
	// SUIT MAIN https://updates.example.com/widget-1.4.0.bin EdDSA <nil>
	// VersionRejected UPD4_FAIL_221
}
