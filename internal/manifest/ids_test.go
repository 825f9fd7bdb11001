package manifest

import (
	"encoding/json"
	"testing"

	"github.com/fleetwave/fleetwave/internal/testvectors"
	"github.com/google/uuid"
)

func TestVendorAndClassIDsMatchVectors(t *testing.T) {
	var vector struct {
		VendorID string `json:"vendor_id"`
		ClassID  string `json:"class_id"`
	}
	if err := json.Unmarshal(testvectors.Read(t, "pelion-v3", "v3_raw.vector.json"), &vector); err != nil {
		t.Fatal(err)
	}
	vendor, err := VendorIDFromDomain("example.com")
	if err != nil {
		t.Fatal(err)
	}
	class, err := ClassIDFromModel(vendor, "widget-rev-a")
	if err != nil {
		t.Fatal(err)
	}
	if got := hexString(vendor[:]); got != vector.VendorID {
		t.Errorf("vendor id = %s, vector %s", got, vector.VendorID)
	}
	if got := hexString(class[:]); got != vector.ClassID {
		t.Errorf("class id = %s, vector %s", got, vector.ClassID)
	}
	// The SUIT draft's examples use the vendor id of arm.com (EXPECTED.md).
	arm, err := VendorIDFromDomain("arm.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := uuid.MustParse("fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe"); arm != want {
		t.Errorf("vendor id of arm.com = %s, the draft's examples use %s", arm, want)
	}
}

func TestIDInputsRejected(t *testing.T) {
	for _, domain := range []string{"", "localhost", "example .com", ".example.com", "example.com."} {
		if _, err := VendorIDFromDomain(domain); err == nil {
			t.Errorf("VendorIDFromDomain(%q) succeeded, want an error", domain)
		}
	}
	if _, err := ClassIDFromModel(uuid.New(), " "); err == nil {
		t.Error("ClassIDFromModel with a blank model succeeded")
	}
}
