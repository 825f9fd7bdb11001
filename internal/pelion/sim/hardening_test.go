package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetwave/fleetwave/internal/testserver"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// errorBody decodes the service's error body and checks its status and the field it names.
func errorBody(t *testing.T, what string, status int, body []byte, wantStatus int, wantField string) pelion.ErrorBody {
	t.Helper()
	var e pelion.ErrorBody
	if err := json.Unmarshal(body, &e); err != nil || status != wantStatus || e.Object != pelion.ObjectError {
		t.Fatalf("%s: %d %s, want a %d error body", what, status, body, wantStatus)
	}
	if len(e.Fields) != 1 || e.Fields[0].Name != wantField || !strings.Contains(e.Message, wantField) {
		t.Errorf("%s: error %+v does not name %s", what, e, wantField)
	}
	return e
}

// A list request whose filter has a bad %-escape used to lose the filter (url.Query drops the pair)
// and list everything; now it is a 400 naming the parameter.
func TestMalformedListQueryIsRefused(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 3})
	id := e.DeviceIDs(t)[0]
	if n := len(e.directory("filter=id%3D" + id)); n != 1 {
		t.Fatalf("a good filter selects %d devices, want 1", n)
	}
	campaign := e.campaign("c", "id__in="+id, e.release("m", []byte("fw"), ""))
	tests := []struct{ path, field string }{
		{"/v3/devices?filter=id%3D" + id + "%ZZ", "filter"},
		{"/v3/devices?limit=10&filter=%zzstate%3Dregistered", "filter"},
		{"/v3/devices?id__eq=%G1", "id__eq"},
		{"/v3/update-campaigns?filter=name%3Dc%", "filter"},
		{"/v3/firmware-images?filter=%", "filter"},
		{"/v3/firmware-manifests?filter=name%3D%2", "filter"},
		{"/v3/update-campaigns/" + campaign + "/campaign-device-metadata?filter=%ZZ", "filter"},
		{"/v3/devices?filter=state%3Dregistered;limit=2", "filter"},
	}
	for _, tt := range tests {
		status, body := e.do(http.MethodGet, tt.path, "")
		got := errorBody(t, "GET "+tt.path, status, body, http.StatusBadRequest, tt.field)
		if got.Type != pelion.ErrTypeValidation {
			t.Errorf("GET %s: type %q, want %q", tt.path, got.Type, pelion.ErrTypeValidation)
		}
	}
}

// DeviceIDs lists the fleet's ids.
func (e *churnEnv) DeviceIDs(t *testing.T) []string {
	t.Helper()
	ids := e.sim.DeviceIDs()
	if len(ids) == 0 {
		t.Fatal("no devices")
	}
	return ids
}

// A campaign created without a root manifest stays a draft: starting it, by the start action, by PUT
// state=scheduled or by creating it scheduled, is a 400 naming root_manifest_id.
func TestCampaignWithoutRootManifestCannotStart(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 2})
	ctx := context.Background()
	filter := "id__in=" + strings.Join(e.DeviceIDs(t), ",")
	status, body := e.do(http.MethodPost, "/v3/update-campaigns", `{"name":"bare","device_filter":"`+filter+`"}`)
	if status != http.StatusCreated {
		t.Fatalf("create without a manifest: %d %s", status, body)
	}
	var c pelion.Campaign
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}

	err := e.client.StartCampaign(ctx, c.ID)
	if pelion.StatusOf(err) != http.StatusBadRequest || !pelion.IsTerminal(err) || !strings.Contains(err.Error(), "root_manifest_id") {
		t.Errorf("start without a manifest: %v, want a 400 naming root_manifest_id", err)
	}
	status, body = e.do(http.MethodPost, "/v3/update-campaigns/"+c.ID+"/start", "")
	errorBody(t, "POST start", status, body, http.StatusBadRequest, "root_manifest_id")
	status, body = e.do(http.MethodPut, "/v3/update-campaigns/"+c.ID, `{"state":"scheduled"}`)
	errorBody(t, "PUT state=scheduled", status, body, http.StatusBadRequest, "root_manifest_id")
	status, body = e.do(http.MethodPost, "/v3/update-campaigns", `{"name":"bare-scheduled","device_filter":"`+filter+`","state":"scheduled"}`)
	errorBody(t, "create scheduled", status, body, http.StatusBadRequest, "root_manifest_id")
	if _, err := e.client.FindCampaignByName(ctx, "bare-scheduled"); !pelion.IsNotFound(err) {
		t.Errorf("a refused scheduled create left a campaign: %v", err)
	}
	if got, err := e.client.GetCampaign(ctx, c.ID); err != nil || got.Phase != pelion.PhaseDraft {
		t.Fatalf("after the refused starts: %+v %v, want a draft", got, err)
	}
	if n := len(e.targets(c.ID)); n != 0 {
		t.Errorf("the refused campaign reached %d devices", n)
	}

	// Given a manifest in the same PUT, it starts and runs.
	manifestID := e.release("m", []byte("firmware"), "")
	status, body = e.do(http.MethodPut, "/v3/update-campaigns/"+c.ID, `{"root_manifest_id":"`+manifestID+`","state":"scheduled"}`)
	if status != http.StatusOK {
		t.Fatalf("PUT manifest and state=scheduled: %d %s", status, body)
	}
	e.awaitPhase(c.ID, pelion.PhaseStopped)
}

func serveWith(t *testing.T, h http.Handler, to Timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(h, to)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func postHead(path string, length int) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, churnKey, length)
}

// A client that trickles its request is cut off by the configured bounds instead of holding the
// connection and the handler open.
func TestServedSimulatorBoundsSlowRequests(t *testing.T) {
	s, err := New(Config{APIKey: churnKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	const bound = 300 * time.Millisecond
	body := []byte(strings.Repeat(" ", 4000) + "{}")
	tests := []struct {
		name     string
		timeouts Timeouts
		head     string
		body     []byte
		gap      time.Duration
		want     string
	}{
		// One byte every 20ms keeps BodyIdle happy; Read ends it.
		{"trickled body", Timeouts{ReadHeader: time.Minute, Read: bound, BodyIdle: time.Minute}, postHead("/v3/update-campaigns", len(body)), body, 20 * time.Millisecond, "HTTP/1.1 408 Request Timeout"},
		// A body that stops arriving ends after BodyIdle, long before Read.
		{"stalled body", Timeouts{ReadHeader: time.Minute, Read: time.Minute, BodyIdle: bound}, postHead("/v3/update-campaigns", len(body)), body[:10], time.Millisecond, "HTTP/1.1 408 Request Timeout"},
		{"stalled upload", Timeouts{ReadHeader: time.Minute, Read: time.Minute, BodyIdle: bound},
			"POST /v3/firmware-images HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer " + churnKey + "\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n",
			[]byte("--b\r\nContent-Disposition: form-data; name=\"datafile\"; filename=\"f\"\r\n\r\nabc"), time.Millisecond, "HTTP/1.1 408 Request Timeout"},
		// Trickled headers: the server hangs up without an answer.
		{"trickled headers", Timeouts{ReadHeader: bound, Read: time.Minute, BodyIdle: time.Minute}, "GET /v3/devices HTTP/1.1\r\n", []byte(strings.Repeat("X-A: b\r\n", 1000)), 20 * time.Millisecond, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveWith(t, s.Handler(), tt.timeouts)
			got, took := testserver.Trickle(t, addr, tt.head, tt.body, tt.gap)
			if got != tt.want {
				t.Errorf("got %q after %v, want %q", got, took, tt.want)
			}
			if took > 3*time.Second {
				t.Errorf("the server held the request for %v with a bound of %v", took, bound)
			}
		})
	}
}

// An idle kept-alive connection is closed after Idle.
func TestServedSimulatorClosesIdleConnections(t *testing.T) {
	s, err := New(Config{APIKey: churnKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	addr := serveWith(t, s.Handler(), Timeouts{ReadHeader: time.Minute, Read: time.Minute, BodyIdle: time.Minute, Idle: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v3/devices HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer "+churnKey+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF || time.Since(start) > 3*time.Second {
		t.Errorf("idle connection: %v after %v, want EOF after about 200ms", err, time.Since(start))
	}
}

// BodyIdle bounds reading the body only: a slow but steady body arrives whole, and a handler that
// works on after reading its body keeps its context past BodyIdle.
func TestBodyDeadlinesLetSteadyBodiesAndLongHandlersThrough(t *testing.T) {
	const idle = 150 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		time.Sleep(3 * idle)
		if r.Context().Err() != nil {
			http.Error(w, "context cancelled", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d", len(data))
	})
	addr := serveWith(t, h, Timeouts{ReadHeader: time.Minute, Read: time.Minute, BodyIdle: idle, Idle: time.Minute})
	body := []byte(strings.Repeat("x", 20)) // 20 bytes 20ms apart: 400ms in all, more than idle
	got, took := testserver.Trickle(t, addr, postHead("/", len(body)), body, 20*time.Millisecond)
	if got != "HTTP/1.1 200 OK" {
		t.Errorf("steady body and a long handler: %q after %v", got, took)
	}
}
