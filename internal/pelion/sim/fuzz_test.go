package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// FuzzAPI sends arbitrary requests to the simulator: whatever arrives, the answer is a well-formed
// response and bad input is a 4xx with the service's error body, never a 5xx or a panic.
func FuzzAPI(f *testing.F) {
	s, err := New(Config{APIKey: "k", Devices: 5, VendorID: uuid.New(), ClassID: uuid.New()})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	seeds := []struct{ method, target, contentType, body string }{
		{"GET", "/v3/devices?limit=3&filter=state%3Dregistered", "", ""},
		{"GET", "/v3/devices?custom_attributes__region__in=eu-west,x&after=00000000000000000000000000000000", "", ""},
		{"GET", "/v3/update-campaigns?created_at__gte=20161130T162512Z&state__in=draft,auto_stopped", "", ""},
		{"POST", "/v3/update-campaigns", "application/json", `{"name":"a","device_filter":"id__in=1,2","root_manifest_id":"x"}`},
		{"PUT", "/v3/update-campaigns/0123456789abcdef0123456789abcdef", "application/json", `{"state":"scheduled"}`},
		{"POST", "/v3/firmware-manifests/", "multipart/form-data; boundary=xx", "--xx\r\nContent-Disposition: form-data; name=\"datafile\"; filename=\"m\"\r\n\r\n0\x82\x01\r\n--xx--\r\n"},
		{"POST", "/v3/firmware-images", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"datafile\"; filename=\"f\"\r\n\r\nabc\r\n--b--\r\n"},
		{"POST", "/v3/firmware-images/upload-jobs", "application/json", `{"name":"j"}`},
		{"GET", "/v3/firmware-images/upload-jobs/0123456789abcdef0123456789abcdef/chunks?after=3", "", ""},
	}
	for _, sd := range seeds {
		f.Add(sd.method, sd.target, sd.contentType, []byte(sd.body))
	}
	f.Fuzz(func(t *testing.T, method, target, contentType string, body []byte) {
		if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/admin") {
			return
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+target, strings.NewReader(string(body)))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e pelion.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Object != pelion.ObjectError || e.Code != rec.Code {
				t.Fatalf("%s %s: %d with body %q", method, target, rec.Code, rec.Body)
			}
		}
	})
}
