package manifest

import (
	"crypto"
	"fmt"
	"slices"
	"testing"

	"github.com/fleetwave/fleetwave/internal/testvectors"
)

// dependentOn is a root manifest for MAIN that resolves, checks and processes one dependency at
// component index 1, found at uri, in its install sequence, before fetching its own image.
func dependentOn(t testing.TB, dep []byte, uri string, prefix bool) extManifest {
	t.Helper()
	m := buildSpecLikeManifest()
	m.componentID = ComponentID{[]byte("root.suit")}
	meta := map[int]any{}
	if prefix {
		meta[suitDependencyPrefix] = ComponentID{[]byte("radio")}
	}
	m.dependencies = map[uint64]map[int]any{1: meta}
	m.sections[suitKeyInstall] = []any{
		suitDirSetComponentIndex, 1,
		suitDirOverrideParams, map[int]any{suitParamImageDigest: digestParam(manifestDigestOf(t, dep)), suitParamURI: uri},
		suitDirFetch, suitReportOnFailure, suitCondDependencyIntegrity, suitReportAll, suitDirProcessDependency, suitReportAll,
		suitDirSetComponentIndex, 0,
		suitDirOverrideParams, map[int]any{suitParamURI: extURI}, suitDirFetch, suitReportOnFailure, suitCondImageMatch, suitReportAll,
	}
	return m
}

// A dependency integrated in the envelope and one by reference both verify, and the dependency's
// install completes before the dependent's.
func TestSUITDependenciesIntegratedAndByReference(t *testing.T) {
	key := testECKey(t)
	trusted := []crypto.PublicKey{key.Public()}
	dep := extDependency(t, AlgorithmESP256, key)
	tests := []struct {
		name       string
		uri        string
		integrated map[string][]byte
		supplied   Dependencies
		integ      bool
	}{
		{"integrated", "#radio", map[string][]byte{"#radio": dep}, nil, true},
		{"by reference", "https://updates.example.com/radio.suit", nil, Dependencies{extDependency(t, AlgorithmES256, key), dep}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := extEnvelope{manifest: dependentOn(t, dep, tt.uri, true).encode(t), algorithm: AlgorithmES256, key: key, integrated: tt.integrated}.encode(t)
			s, err := VerifyWithDependencies(data, trusted, tt.supplied)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			d, err := DecodeSUITWithDependencies(data, tt.supplied)
			if err != nil {
				t.Fatal(err)
			}
			m := d.Manifest
			want := []string{"radio.suit/install", "root.suit/install"}
			if !slices.Equal(m.Processed, want) {
				t.Errorf("processed %q, want %q", m.Processed, want)
			}
			if len(m.Dependencies) != 1 || m.Dependencies[0].Integrated != tt.integ || !m.Dependencies[0].Resolved ||
				m.Dependencies[0].URI != tt.uri || m.Dependencies[0].Prefix.String() != "radio" || m.Dependencies[0].Index != 1 {
				t.Errorf("dependencies %+v", m.Dependencies)
			}
			if s.PayloadURI != extURI || len(m.Images) != 2 || m.Images[0].Manifest != "radio.suit" {
				t.Errorf("summary %+v, images %+v", s, m.Images)
			}
			assertEveryByteMatters(t, tt.name, data, len(data), trusted, 0x01)
		})
	}
}

// A dependency by reference that is not supplied verifies (the signature is fine) but is listed; a
// device that cannot get it refuses the update with DependencyNotFound.
func TestSUITDependencyByReferenceUnresolved(t *testing.T) {
	key := testECKey(t)
	dep := extDependency(t, AlgorithmES256, key)
	uri := "https://updates.example.com/radio.suit"
	data := extEnvelope{manifest: dependentOn(t, dep, uri, false).encode(t), algorithm: AlgorithmES256, key: key}.encode(t)
	trusted := []crypto.PublicKey{key.Public()}
	s, err := Verify(data, trusted)
	if err != nil || !slices.Equal(s.Unresolved, []string{uri}) {
		t.Fatalf("Verify = %+v, %v; want %s unresolved", s, err, uri)
	}
	device := Device{VendorID: extVendor, ClassID: extClass, InstalledVersion: 1}
	_, err = VerifyForDevice(data, trusted, device)
	if FailureOf(err) != FailureDependencyNotFound || FailureDependencyNotFound.ResultCode() != 211 {
		t.Errorf("device: %v, want DependencyNotFound (211)", err)
	}
	if _, err := VerifyForDeviceWithDependencies(data, trusted, device, Dependencies{dep}); err != nil {
		t.Errorf("device with the dependency supplied: %v", err)
	}
}

// Each way a dependency can fail gives its own failure.
func TestSUITDependencyFailures(t *testing.T) {
	key, other := testECKey(t), testECKey(t)
	trusted := []crypto.PublicKey{key.Public()}
	dep := extDependency(t, AlgorithmES256, key)
	tests := []struct {
		name       string
		manifest   func() extManifest
		integrated map[string][]byte
		want       DeviceFailure
		code       int
	}{
		{"signed by an untrusted key", func() extManifest { return dependentOn(t, dep, "#radio", false) },
			map[string][]byte{"#radio": extDependency(t, AlgorithmES256, other)}, FailureSignatureInvalid, 210},
		{"not the dependency the dependent names", func() extManifest { return dependentOn(t, dep, "#radio", false) },
			map[string][]byte{"#radio": extEnvelope{manifest: buildSpecLikeManifest().encode(t), algorithm: AlgorithmES256, key: key}.encode(t)},
			FailureDependencyIntegrity, 207},
		{"missing from the envelope", func() extManifest { return dependentOn(t, dep, "#radio", false) },
			map[string][]byte{"#other": dep}, FailureDependencyNotFound, 211},
		{"processed before any integrity check", func() extManifest {
			m := dependentOn(t, dep, "#radio", false)
			m.sections[suitKeyInstall] = []any{suitDirSetComponentIndex, 1, suitDirOverrideParams, map[int]any{suitParamURI: "#radio"},
				suitDirFetch, suitReportOnFailure, suitDirProcessDependency, suitReportAll}
			return m
		}, map[string][]byte{"#radio": dep}, FailureDependencyIntegrity, 207},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := extEnvelope{manifest: tt.manifest().encode(t), algorithm: AlgorithmES256, key: key, integrated: tt.integrated}.encode(t)
			_, err := Verify(data, trusted)
			if FailureOf(err) != tt.want || tt.want.ResultCode() != tt.code {
				t.Errorf("Verify = %v, want %s (%d)", err, tt.want, tt.code)
			}
		})
	}
}

// The trust-domains text says a dependency index names an entry of suit-components; encoders number
// dependencies after the listed components. Both layouts run the same dependency.
func TestSUITDependencyIndexLayouts(t *testing.T) {
	key := testECKey(t)
	dep := extDependency(t, AlgorithmES256, key)
	listed := dependentOn(t, dep, "#radio", false)
	listed.components = append(listed.components, ComponentID{[]byte("radio.suit")})
	for name, m := range map[string]extManifest{"after the components": dependentOn(t, dep, "#radio", false), "listed component": listed} {
		data := extEnvelope{manifest: m.encode(t), algorithm: AlgorithmES256, key: key, integrated: map[string][]byte{"#radio": dep}}.encode(t)
		d, err := DecodeSUIT(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := fmt.Sprint(d.Manifest.Processed); got != "[radio.suit/install root.suit/install]" {
			t.Errorf("%s: processed %s", name, got)
		}
	}
}

// The firmware-encryption draft's dependency example (made by libcsuit) decodes: its dependency at
// index 1 after one component, integrated under "#dependency-manifest", runs before the dependent;
// encryption-info is listed as unsupported. It is signed by libcsuit's delegated key, not the draft's
// example key, so verifying it with the example key is a signature answer, not a format one.
func TestSUITFirmwareEncryptionDependencyVector(t *testing.T) {
	data := testvectors.Read(t, "suit", "firmware-encryption", "suit-manifest-es-ecdh-dependency.suit")
	d, err := DecodeSUIT(data)
	if err != nil {
		t.Fatalf("DecodeSUIT: %v", err)
	}
	m := d.Manifest
	if m.ComponentID.String() != "dependent-manifest.suit" || fmt.Sprint(m.Components) != "[decrypted-firmware]" ||
		len(m.Dependencies) != 1 || m.Dependencies[0].Index != 1 || m.Dependencies[0].Name != "dependency-manifest.suit" ||
		!m.Dependencies[0].Integrated || m.Dependencies[0].URI != "#dependency-manifest" {
		t.Errorf("decoded %+v", m)
	}
	if got := fmt.Sprint(m.Processed); got != "[dependency-manifest.suit/install dependent-manifest.suit/install]" {
		t.Errorf("processed %s", got)
	}
	if got := fmt.Sprint(m.Unsupported); got != "[parameter 19 (encryption-info, draft-ietf-suit-firmware-encryption)]" {
		t.Errorf("unsupported %s", got)
	}
	if len(m.Images) != 1 || m.Images[0].Manifest != "dependency-manifest.suit" || m.Images[0].Size != 30 {
		t.Errorf("images %+v", m.Images)
	}
	if _, err := Verify(data, []crypto.PublicKey{examplePublicKey(t)}); FailureOf(err) != FailureSignatureInvalid {
		t.Errorf("Verify with the example key = %v, want SignatureInvalid", err)
	}
}

// The firmware-encryption examples authenticated with COSE_Mac0 decode, and verify as a signature
// answer (fleetwave holds no HMAC keys); the one signed with the example key verifies.
func TestSUITFirmwareEncryptionVectors(t *testing.T) {
	trusted := []crypto.PublicKey{examplePublicKey(t)}
	tests := []struct {
		file string
		want DeviceFailure
	}{
		{"suit-manifest-aes-kw.suit", FailureSignatureInvalid},
		{"suit-manifest-aes-kw-slot.suit", FailureSignatureInvalid},
		{"suit-manifest-aes-kw-content.suit", FailureSignatureInvalid},
		{"suit-manifest-es-ecdh-content.suit", ""},
	}
	for _, tt := range tests {
		data := testvectors.Read(t, "suit", "firmware-encryption", tt.file)
		d, err := DecodeSUIT(data)
		if err != nil {
			t.Errorf("%s: DecodeSUIT: %v", tt.file, err)
			continue
		}
		if len(d.Manifest.Unsupported) == 0 {
			t.Errorf("%s: encryption-info not listed as unsupported", tt.file)
		}
		if _, err := Verify(data, trusted); FailureOf(err) != tt.want {
			t.Errorf("%s: Verify = %v, want %q", tt.file, err, tt.want)
		}
	}
}
