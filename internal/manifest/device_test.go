package manifest

import (
	"crypto"
	"errors"
	"testing"

	"github.com/google/uuid"
)

func TestDeviceFailureCodes(t *testing.T) {
	tests := []struct {
		failure DeviceFailure
		fota    int
		result  int
	}{
		{FailureMalformed, -22, 218},
		{FailureSchemaUnsupported, -28, 214},
		{FailureSignatureInvalid, -23, 210},
		{FailureWrongVendor, -30, 215},
		{FailureWrongClass, -31, 216},
		{FailureUnexpectedComponent, -39, 200},
		{FailurePayloadUnsupported, -25, 102},
		{FailureVersionRejected, -27, 221},
		{FailureInvalidURI, -21, 307},
	}
	for _, tt := range tests {
		if got := tt.failure.FotaStatus(); got != tt.fota {
			t.Errorf("%s.FotaStatus() = %d, want %d", tt.failure, got, tt.fota)
		}
		if got := tt.failure.ResultCode(); got != tt.result {
			t.Errorf("%s.ResultCode() = %d, want %d", tt.failure, got, tt.result)
		}
	}
	if got := FailureSignatureInvalid.EventType(); got != "UPD4_FAIL_210" {
		t.Errorf("EventType = %q", got)
	}
	err := error(reject(FailureWrongClass, "x"))
	var de *DeviceError
	if !errors.As(err, &de) || de.Failure != FailureWrongClass || FailureOf(err) != FailureWrongClass {
		t.Errorf("errors.As on %v failed", err)
	}
	if FailureOf(errors.New("plain")) != "" {
		t.Error("FailureOf(plain error) is not empty")
	}
}

// Each device-side check turns into the failure a device reports.
func TestVerifyForDevice(t *testing.T) {
	key := vectorKey(t)
	trusted := []crypto.PublicKey{key.Public()}
	vendor, class := mustVendor("example.com"), mustClass("example.com", "widget-rev-a")
	v122, _ := EncodeVersion("1.2.2")
	v123, _ := EncodeVersion("1.2.3")
	v200, _ := EncodeVersion("2.0.0")
	device := Device{VendorID: vendor, ClassID: class, InstalledVersion: v122}
	for _, format := range []Format{FormatPelionV3, FormatSUIT} {
		spec := benchSpec(format, "", make([]byte, 32))
		data, err := Build(spec, key)
		if err != nil {
			t.Fatal(err)
		}
		otherKey := testECKey(t)
		tests := []struct {
			name    string
			trusted []crypto.PublicKey
			device  Device
			want    DeviceFailure
		}{
			{"accepted", trusted, device, ""},
			{"accepted with the component named", trusted, Device{VendorID: vendor, ClassID: class, Component: "MAIN", InstalledVersion: v122}, ""},
			{"untrusted key", []crypto.PublicKey{otherKey.Public()}, device, FailureSignatureInvalid},
			{"wrong vendor", trusted, Device{VendorID: uuid.New(), ClassID: class, InstalledVersion: v122}, FailureWrongVendor},
			{"wrong class", trusted, Device{VendorID: vendor, ClassID: uuid.New(), InstalledVersion: v122}, FailureWrongClass},
			{"other component", trusted, Device{VendorID: vendor, ClassID: class, Component: "RADIO", InstalledVersion: v122}, FailureUnexpectedComponent},
			{"same version", trusted, Device{VendorID: vendor, ClassID: class, InstalledVersion: v123}, FailureVersionRejected},
			{"older version", trusted, Device{VendorID: vendor, ClassID: class, InstalledVersion: v200}, FailureVersionRejected},
		}
		for _, tt := range tests {
			t.Run(string(format)+"/"+tt.name, func(t *testing.T) {
				s, err := VerifyForDevice(data, tt.trusted, tt.device)
				if got := FailureOf(err); got != tt.want {
					t.Fatalf("failure %q (%v), want %q", got, err, tt.want)
				}
				if tt.want == "" && s.Version != v123 {
					t.Errorf("accepted manifest version %#x, want %#x", s.Version, v123)
				}
				if tt.want != "" && err != nil {
					// Verify + CheckDevice agree with VerifyForDevice on the outcome.
					if s, verr := Verify(data, tt.trusted); verr == nil {
						if got := FailureOf(s.CheckDevice(tt.device)); got != tt.want {
							t.Errorf("CheckDevice failure %q, want %q", got, tt.want)
						}
					}
				}
			})
		}
	}
}

// A device stops at the first check that fails, and the two formats check in different orders.
func TestVerifyForDeviceCheckOrder(t *testing.T) {
	key := vectorKey(t)
	v200, _ := EncodeVersion("2.0.0")
	stale := Device{VendorID: uuid.New(), ClassID: uuid.New(), InstalledVersion: v200}
	tests := []struct {
		format  Format
		trusted []crypto.PublicKey
		want    DeviceFailure
	}{
		// v3: signature, then vendor, class, component, version.
		{FormatPelionV3, []crypto.PublicKey{key.Public()}, FailureWrongVendor},
		{FormatPelionV3, []crypto.PublicKey{testECKey(t).Public()}, FailureSignatureInvalid},
		// SUIT: the sequence number is checked before authentication.
		{FormatSUIT, []crypto.PublicKey{key.Public()}, FailureVersionRejected},
		{FormatSUIT, []crypto.PublicKey{testECKey(t).Public()}, FailureVersionRejected},
	}
	for _, tt := range tests {
		data, err := Build(benchSpec(tt.format, "", make([]byte, 32)), key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyForDevice(data, tt.trusted, stale); FailureOf(err) != tt.want {
			t.Errorf("%s: %v, want %s", tt.format, err, tt.want)
		}
	}
}

// A v3 device compares vendor and class while parsing, before it looks at the URI.
func TestVerifyForDeviceV3VendorBeforeURI(t *testing.T) {
	key := vectorKey(t)
	m := PelionV3Manifest{
		VendorID: uuid.New(), ClassID: uuid.New(), Component: "MAIN", Version: "1.0.0",
		PayloadDigest: make([]byte, 32), PayloadSize: 1, PayloadURI: "", PayloadFormat: PayloadRawBinary,
		InstalledSignature: []byte{},
	}
	data := signV3(t, key, m)
	if _, err := VerifyForDevice(data, []crypto.PublicKey{key.Public()}, Device{}); FailureOf(err) != FailureWrongVendor {
		t.Errorf("VerifyForDevice = %v, want WrongVendor", err)
	}
	if _, err := Verify(data, []crypto.PublicKey{key.Public()}); FailureOf(err) != FailureInvalidURI {
		t.Errorf("Verify = %v, want InvalidURI", err)
	}
}

func TestCheckDeviceSUITWithoutConditions(t *testing.T) {
	s := &Summary{Format: FormatSUIT, Component: "MAIN", Version: 5, PayloadURI: "http://x/y"}
	if err := s.CheckDevice(Device{VendorID: uuid.New(), ClassID: uuid.New(), InstalledVersion: 4}); err != nil {
		t.Errorf("a SUIT manifest without vendor/class conditions was rejected: %v", err)
	}
	s.PayloadURI = ""
	if err := s.CheckDevice(Device{InstalledVersion: 4}); FailureOf(err) != FailureInvalidURI {
		t.Errorf("a manifest that fetches nothing: %v, want InvalidURI", err)
	}
	v3 := &Summary{Format: FormatPelionV3, Component: "MAIN", Version: 5, PayloadURI: "http://x/y"}
	if err := v3.CheckDevice(Device{VendorID: uuid.New(), InstalledVersion: 4}); FailureOf(err) != FailureWrongVendor {
		t.Errorf("v3 with a nil vendor id against a device with a vendor: %v, want WrongVendor", err)
	}
}
