package sim

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// TestListPagesAsEncodingJSON holds the directory's hand-written page encoding to what encoding/json
// writes for the same page, escapes, empty and nil maps, and every envelope variant included.
func TestListPagesAsEncodingJSON(t *testing.T) {
	when := time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("x", 3600))
	devices := []pelion.Device{
		{},
		{ID: "0123456789abcdef0123456789abcdef", Name: "n", Description: "a \"quoted\" <b>&</b>\n\ttab \\ é ☃ \u2028",
			EndpointName: "sim-1", State: pelion.DeviceRegistered, LifecycleStatus: "enabled", VendorID: "v", DeviceClass: "c",
			FirmwareChecksum: "f", Mechanism: "connector", CustomAttributes: map[string]string{"z": "1", "a": "<2>", "é": "\x01"},
			CreatedAt: when, UpdatedAt: when.UTC(), ETag: "e", Object: pelion.ObjectDevice},
		{ID: "x", CustomAttributes: map[string]string{}, CreatedAt: time.Unix(1, 0)},
		{Name: "invalid \xff utf-8"},
	}
	for _, d := range devices {
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendDevice(nil, d); string(got) != string(want) {
			t.Errorf("appendDevice:\n got %s\nwant %s", got, want)
		}
	}
	for _, p := range []pageParams{
		{limit: 2},
		{limit: 1000, desc: true, after: "0123456789abcdef0123456789abcdef", count: true},
		{limit: 50, count: true},
	} {
		for _, items := range [][]pelion.Device{nil, devices} {
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			writeJSON(want, 200, listResponse(items, p.count, 7, p))
			writeList(got, items, appendDevice, p.count, 7, p)
			if got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Errorf("writeList(%+v, %d items):\n got %s\nwant %s", p, len(items), got.Body, want.Body)
			}
		}
	}
}
