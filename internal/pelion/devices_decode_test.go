package pelion

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// plainPage is a page as the service writes it: unknown fields included.
const plainPage = `{"object":"list","data":[
 {"id":"0123456789abcdef0123456789abcdef","name":"n1","description":"","endpoint_name":"sim-1","state":"registered",
  "lifecycle_status":"enabled","vendor_id":"v","device_class":"c","firmware_checksum":"f","mechanism":"connector",
  "custom_attributes":{"region":"eu-west","é":"ünïcode"},"created_at":"2026-01-02T03:04:05.123456789Z",
  "updated_at":"2026-01-02T04:04:05+02:00","etag":"e","object":"device","account_id":"a","auto_update":true,
  "bootstrap_expiration_date":null,"nested":{"a":[1,-2.5e+3,0.0,{"b":"\"\\\/\b\f\n\r\t\u00e9"}],"c":false},
  "groups":[]},
 {"id":"0123456789abcdef0123456789abcdf0","name":"n2","state":"registered","vendor_id":"v","custom_attributes":{},
  "created_at":null,"firmware_checksum":null}
 ],"has_more":true,"after":"0123456789abcdef0123456789abcdee","limit":1000,"order":"ASC","total_count":2}
trailing, as json.Decoder ignores`

// TestDecodeDevicePage holds devicePage to what encoding/json decodes, the page and whether it
// fails, for plain pages (which it reads itself) and for everything it hands to encoding/json.
func TestDecodeDevicePage(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		plain      bool // read without encoding/json
	}{
		{"a plain page", plainPage, true},
		{"empty", `{"object":"list","data":[],"has_more":false}`, true},
		{"no data", `{"object":"list","has_more":false}`, true},
		{"null data and count", `{"data":null,"total_count":null,"has_more":null}`, true},
		{"null data, then data", `{"data":null,"data":[{"id":"a"}]}`, false},
		{"null time", `{"data":[{"created_at":"2026-01-02T03:04:05Z"},{"created_at":null},{"created_at":"2026-01-02T03:04:05Z"}]}`, true},
		{"white space", " \t\r\n{ \"data\" : [ { \"id\" : \"x\" } , {} ] , \"limit\" : -0 } ", true},
		{"duplicate keys", `{"limit":1,"limit":2,"data":[{"id":"a","id":"b","custom_attributes":null,"custom_attributes":{"k":"v"}}]}`, true},
		{"escaped string", `{"data":[{"id":"\u0041"}]}`, false},
		{"escaped key", `{"d\u0061ta":[{"id":"a"}]}`, false},
		{"key in another case", `{"data":[{"ID":"a"}]}`, false},
		{"non-ASCII key", `{"data":[{"ſtate":"a"}]}`, false},
		{"null attribute", `{"data":[{"custom_attributes":{"k":null}}]}`, false},
		{"duplicate attributes", `{"data":[{"custom_attributes":{"k":"v"},"custom_attributes":{"l":"w"}}]}`, false},
		{"duplicate data", `{"data":[{"id":"a","name":"n"}],"data":[{"id":"b"}]}`, false},
		{"null device", `{"data":[null]}`, false},
		{"invalid UTF-8", "{\"data\":[{\"name\":\"\xff\"}]}", false},
		{"control character", "{\"data\":[{\"name\":\"a\x01\"}]}", false},
		{"number for a string", `{"data":[{"id":5}]}`, false},
		{"string for a number", `{"limit":"5"}`, false},
		{"fraction for an int", `{"limit":1.5}`, false},
		{"exponent for an int", `{"limit":1e3}`, false},
		{"leading zero", `{"limit":01}`, false},
		{"bad time", `{"data":[{"created_at":"yesterday"}]}`, false},
		{"time not a string", `{"data":[{"created_at":5}]}`, false},
		{"bad escape in a skipped value", `{"x":"\q","data":[]}`, false},
		{"bad literal", `{"has_more":tru}`, false},
		{"truncated", plainPage[:200], false},
		{"not an object", `[]`, false},
		{"missing comma", `{"data":[{"id":"a"} {"id":"b"}]}`, false},
		{"trailing comma", `{"data":[{"id":"a"},]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast := Page[Device]{Data: []Device{}}
			if got := decodeDevicePage([]byte(tc.body), &fast); got != tc.plain {
				t.Errorf("read as plain: %v, want %v", got, tc.plain)
			}
			checkAsEncodingJSON(t, []byte(tc.body))
		})
	}
}

// checkAsEncodingJSON decodes body with devicePage and with encoding/json and compares.
func checkAsEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	var got, want Page[Device]
	gotErr := devicePage{out: &got, limit: 3}.decodeBody(bytes.NewReader(body))
	wantErr := json.NewDecoder(bytes.NewReader(body)).Decode(&want)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("error %v, encoding/json's %v", gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nencoding/json decoded\n%+v", got, want)
	}
}

func FuzzDecodeDevicePage(f *testing.F) {
	f.Add(plainPage)
	f.Add(`{"data":[{"id":"a","custom_attributes":{"k":"v"},"created_at":"2026-01-02T03:04:05Z"}],"limit":2}`)
	f.Add(strings.Repeat("[", 50) + strings.Repeat("]", 50))
	f.Fuzz(func(t *testing.T, body string) {
		checkAsEncodingJSON(t, []byte(body))
	})
}

// BenchmarkDecodeDevicePage decodes a page of 1000 devices as the simulator writes them.
func BenchmarkDecodeDevicePage(b *testing.B) {
	page := Page[Device]{Object: ObjectList, HasMore: true, Limit: MaxPageSize, Order: OrderAsc}
	now := time.Now().UTC()
	for i := range MaxPageSize {
		id := strings.Repeat("0", 28) + strings.Repeat(string(rune('a'+i%6)), 4)
		page.Data = append(page.Data, Device{ID: id, Name: id, EndpointName: "sim-" + id[28:], State: DeviceRegistered,
			LifecycleStatus: "enabled", VendorID: strings.Repeat("ab", 16), DeviceClass: strings.Repeat("cd", 16),
			FirmwareChecksum: strings.Repeat("ef", 32), Mechanism: "connector", CustomAttributes: map[string]string{"region": "eu-west"},
			CreatedAt: now, UpdatedAt: now, ETag: now.Format(time.RFC3339Nano), Object: ObjectDevice})
	}
	body, err := json.Marshal(page)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var got Page[Device]
		if err := (devicePage{out: &got, limit: MaxPageSize}).decodeBody(bytes.NewReader(body)); err != nil || len(got.Data) != MaxPageSize {
			b.Fatal(err)
		}
	}
}

// TestASCIILen checks the 8-bytes-at-a-time scan against a byte-by-byte one, with each kind of byte
// that ends plain text at every place of a few words.
func TestASCIILen(t *testing.T) {
	for _, stop := range []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xff} {
		for at := range 20 {
			b := []byte(strings.Repeat("a~ !#[]{}", 3)[:20])
			b[at] = stop
			if got := asciiLen(b); got != at {
				t.Errorf("asciiLen(%q) = %d, want %d", b, got, at)
			}
		}
	}
	if got := asciiLen([]byte(" ~09AZaz{}")); got != 10 {
		t.Errorf("asciiLen of plain text = %d, want 10", got)
	}
}
