package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// The fleet-churn tests run the simulator on a loopback HTTP server and drive it as clients do: the
// pelion client for the Update Service, raw requests for the directory and the admin endpoint.

const churnKey = "ak_churn_test"

type churnEnv struct {
	t      *testing.T
	sim    *Server
	url    string
	client *pelion.Client
	key    *ecdsa.PrivateKey
	vendor uuid.UUID
	class  uuid.UUID
}

func newChurnEnv(t *testing.T, cfg Config) *churnEnv {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg.APIKey, cfg.VendorID, cfg.ClassID = churnKey, uuid.New(), uuid.New()
	cfg.TrustedKeys = append(cfg.TrustedKeys, key.Public())
	if cfg.FinishGrace == 0 {
		cfg.FinishGrace = 20 * time.Millisecond
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	client, err := pelion.New(srv.URL, churnKey, pelion.WithPollInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return &churnEnv{t: t, sim: s, url: srv.URL, client: client, key: key, vendor: cfg.VendorID, class: cfg.ClassID}
}

// release uploads a signed manifest for payload, which devices download from payloadURL; empty
// payloadURL uploads the payload as a firmware image and uses its datafile.
func (e *churnEnv) release(name string, payload []byte, payloadURL string) string {
	e.t.Helper()
	ctx := context.Background()
	if payloadURL == "" {
		img, err := e.client.CreateFirmwareImage(ctx, pelion.ImageUpload{Name: name + "-image", Size: int64(len(payload)),
			Open: pelion.ReaderAtSource(bytes.NewReader(payload), int64(len(payload)))})
		if err != nil {
			e.t.Fatal(err)
		}
		payloadURL = img.Datafile
	}
	digest := sha256.Sum256(payload)
	data, err := manifest.Build(manifest.Spec{Format: manifest.FormatPelionV3, VendorID: e.vendor, ClassID: e.class,
		Version: "2.0.0", PayloadDigest: digest[:], PayloadSize: uint64(len(payload)), PayloadURI: payloadURL}, e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.client.CreateFirmwareManifest(ctx, pelion.ManifestUpload{Name: name, Data: data})
	if err != nil {
		e.t.Fatal(err)
	}
	return m.ID
}

// campaign creates a draft campaign and returns its id.
func (e *churnEnv) campaign(name, filter, manifestID string) string {
	e.t.Helper()
	c, err := e.client.CreateCampaign(context.Background(), pelion.CampaignCreate{Name: name, DeviceFilter: filter, RootManifestID: manifestID})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

func (e *churnEnv) start(id string) {
	e.t.Helper()
	if err := e.client.StartCampaign(context.Background(), id); err != nil {
		e.t.Fatal(err)
	}
}

// await polls until cond holds; the deadline only keeps a broken build from hanging.
func (e *churnEnv) await(what string, cond func() bool) {
	e.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (e *churnEnv) awaitPhase(id string, phase pelion.Phase) *pelion.Campaign {
	e.t.Helper()
	var c *pelion.Campaign
	e.await("campaign "+id+" to be "+string(phase), func() bool {
		var err error
		if c, err = e.client.GetCampaign(context.Background(), id); err != nil {
			e.t.Fatal(err)
		}
		return c.Phase == phase
	})
	return c
}

func (e *churnEnv) metrics(id string) pelion.CampaignMetrics {
	e.t.Helper()
	m, err := e.client.CampaignMetrics(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	m.CreatedAt = time.Time{}
	return *m
}

// targets returns a campaign's targets from the ledger, by device id.
func (e *churnEnv) targets(id string) map[string]TargetRecord {
	e.t.Helper()
	for _, c := range e.sim.Ledger().Campaigns {
		if c.ID == id {
			out := map[string]TargetRecord{}
			for _, t := range c.Targets {
				out[t.DeviceID] = t
			}
			return out
		}
	}
	e.t.Fatalf("campaign %s not in the ledger", id)
	return nil
}

// do sends a request to the simulator and returns the status and body; API paths get the API key.
func (e *churnEnv) do(method, path, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if strings.HasPrefix(path, "/v3/") {
		req.Header.Set("Authorization", "Bearer "+churnKey)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, data
}

// getJSON GETs path, requires a 200 and decodes the body.
func (e *churnEnv) getJSON(path string, into any) {
	e.t.Helper()
	status, body := e.do(http.MethodGet, path, "")
	if status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// directory lists the devices a directory filter selects (a raw query such as "state__eq=registered").
func (e *churnEnv) directory(filter string) map[string]pelion.Device {
	e.t.Helper()
	var page pelion.Page[pelion.Device]
	e.getJSON("/v3/devices?limit=1000&"+filter, &page)
	out := map[string]pelion.Device{}
	for _, d := range page.Data {
		out[d.ID] = d
	}
	return out
}

// wantErrorBody checks a status and the service's error body.
func wantErrorBody(t *testing.T, what string, status int, body []byte, want int) {
	t.Helper()
	var e pelion.ErrorBody
	if status != want {
		t.Fatalf("%s: status %d, want %d (%s)", what, status, want, body)
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Object != pelion.ObjectError || e.Code != want {
		t.Fatalf("%s: not the service's error body: %s", what, body)
	}
}

// gatedPayload serves payload at /fw.bin on loopback, holding every request until open is called;
// hit is closed when the first request arrives.
type gatedPayload struct {
	url  string
	hit  chan struct{}
	gate chan struct{}
	once sync.Once
}

func newGatedPayload(t *testing.T, payload []byte) *gatedPayload {
	g := &gatedPayload{hit: make(chan struct{}), gate: make(chan struct{})}
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			close(g.hit)
		}
		select {
		case <-g.gate:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(payload)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.open) // runs first: a failed test must not leave the simulator's worker waiting
	g.url = srv.URL + "/fw.bin"
	return g
}

func (g *gatedPayload) open() { g.once.Do(func() { close(g.gate) }) }

func TestRemovedPendingDeviceEndsDeregisteredAndTheCampaignFinishes(t *testing.T) {
	// One worker runs device work in dispatch order, so once y has reported, x's work has run too.
	e := newChurnEnv(t, Config{Devices: 2, Workers: 1})
	ids := e.sim.DeviceIDs()
	x, y := ids[0], ids[1]
	offline, err := e.sim.AddDevices(DeviceSpec{Count: 1, VendorID: e.vendor, ClassID: e.class, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	z := offline[0] // never answers: keeps the campaign active until it leaves the fleet
	payload := bytes.Repeat([]byte("churn"), 1000)
	gate := newGatedPayload(t, payload)
	id := e.campaign("churn", "state__eq=registered", e.release("fw", payload, gate.url))
	e.start(id)
	e.awaitPhase(id, pelion.PhaseActive)
	select {
	case <-gate.hit: // x's work is downloading: in flight
	case <-time.After(20 * time.Second):
		t.Fatal("no device fetched the payload")
	}
	if got := e.targets(id)[x]; got.DeploymentState != pelion.DeploymentPending {
		t.Fatalf("before removal x is %+v, want pending", got)
	}

	if err := e.sim.RemoveDevices(x); err != nil {
		t.Fatal(err)
	}
	if got := e.targets(id)[x]; got.DeploymentState != pelion.DeploymentDeregistered || got.EventType != EventDeregistered {
		t.Fatalf("after removal x is %+v, want deregistered with %s", got, EventDeregistered)
	}
	if got, want := e.metrics(id), (pelion.CampaignMetrics{TotalCount: 3, PendingCount: 2, SkippedCount: 1, Object: pelion.ObjectCampaignMetrics}); got != want {
		t.Fatalf("metrics after removing x: %+v, want %+v", got, want)
	}

	gate.open()
	e.await("y to report", func() bool { return e.targets(id)[y].DeploymentState != pelion.DeploymentPending })
	targets := e.targets(id)
	if targets[x].DeploymentState != pelion.DeploymentDeregistered || targets[x].EventType != EventDeregistered {
		t.Fatalf("x's in-flight work overwrote its record: %+v", targets[x])
	}
	if targets[y].DeploymentState != pelion.DeploymentDeployed {
		t.Fatalf("y: %+v, want deployed", targets[y])
	}
	if got, want := e.metrics(id), (pelion.CampaignMetrics{TotalCount: 3, SuccessCount: 1, PendingCount: 1, SkippedCount: 1, Object: pelion.ObjectCampaignMetrics}); got != want {
		t.Fatalf("metrics after y reported: %+v, want %+v", got, want)
	}
	if c := e.awaitPhase(id, pelion.PhaseActive); c.Phase != pelion.PhaseActive {
		t.Fatalf("campaign %s with z pending", c.Phase)
	}

	// y already reported: leaving the fleet does not change its outcome.
	if err := e.sim.RemoveDevices(y); err != nil {
		t.Fatal(err)
	}
	if got := e.targets(id)[y]; got.DeploymentState != pelion.DeploymentDeployed || got.EventType != EventSucceeded {
		t.Fatalf("y after removal: %+v, want its deployed outcome", got)
	}

	if err := e.sim.RemoveDevices(z); err != nil {
		t.Fatal(err)
	}
	c := e.awaitPhase(id, pelion.PhaseStopped)
	if c.State != pelion.StateAutoStopped || c.AutostopReason != "All devices have reported." {
		t.Fatalf("campaign stopped as %s: %q", c.State, c.AutostopReason)
	}
	if got, want := e.metrics(id), (pelion.CampaignMetrics{TotalCount: 3, SuccessCount: 1, SkippedCount: 2, Object: pelion.ObjectCampaignMetrics}); got != want {
		t.Fatalf("final metrics: %+v, want %+v", got, want)
	}
	e.checkDeregisteredStatistics(id, map[string]string{x: pelion.DeploymentDeregistered, y: pelion.DeploymentDeployed, z: pelion.DeploymentDeregistered})
	var removed []string
	for _, r := range e.sim.Ledger().Removed {
		removed = append(removed, r.DeviceID)
	}
	if !slices.Equal(removed, []string{x, y, z}) {
		t.Fatalf("ledger removed %v, want %v in order", removed, []string{x, y, z})
	}
}

// checkDeregisteredStatistics checks that two deregistered devices show under SKIPPED with their own
// event type, and the per-device records' states.
func (e *churnEnv) checkDeregisteredStatistics(id string, states map[string]string) {
	e.t.Helper()
	ctx := context.Background()
	skipped, err := e.client.CampaignStatistic(ctx, id, pelion.SummarySkipped)
	if err != nil || skipped.Count != 2 {
		e.t.Fatalf("skipped summary: %+v, %v", skipped, err)
	}
	types, err := e.client.CampaignEventTypes(ctx, id, pelion.SummarySkipped)
	if err != nil || len(types) != 1 || types[0].EventType != EventDeregistered || types[0].Count != 2 ||
		types[0].Description != describeEvent(EventDeregistered) || types[0].Description == EventDeregistered {
		e.t.Fatalf("skipped event types: %+v, %v", types, err)
	}
	records, err := e.client.ListCampaignDevices(ctx, id, pelion.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range records.Data {
		got[r.DeviceID] = r.DeploymentState
	}
	if !maps.Equal(got, states) {
		e.t.Fatalf("campaign device records %v, want %v", got, states)
	}
}

func TestDeviceRemovedBeforeTheCampaignFetchesIsNoTarget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile Profile
		early   bool // remove before starting, else while the campaign is starting
	}{
		{"before start", Profile{}, true},
		{"while starting", Profile{StartDelay: Duration(time.Second)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newChurnEnv(t, Config{Devices: 4, Profile: tc.profile})
			ids := e.sim.DeviceIDs()
			a, b, c, d := ids[0], ids[1], ids[2], ids[3]
			id := e.campaign("pinned", "id__in="+a+","+b+","+c, e.release("fw", []byte("firmware"), ""))
			if !tc.early {
				e.start(id)
			}
			if err := e.sim.RemoveDevices(b); err != nil {
				t.Fatal(err)
			}
			if tc.early {
				e.start(id)
			} else if len(e.targets(id)) != 0 {
				t.Fatal("the campaign fetched its devices before the removal: the start delay is too short")
			}
			e.awaitPhase(id, pelion.PhaseStopped)
			if got := slices.Sorted(maps.Keys(e.targets(id))); !slices.Equal(got, []string{a, c}) {
				t.Fatalf("targets %v, want %v", got, []string{a, c})
			}
			if m := e.metrics(id); m.TotalCount != 2 || m.SuccessCount != 2 || m.SkippedCount != 0 {
				t.Fatalf("metrics %+v, want 2 devices, both succeeded", m)
			}
			if got := slices.Sorted(maps.Keys(e.directory("state__eq=registered"))); !slices.Equal(got, []string{a, c, d}) {
				t.Fatalf("directory lists %v, want %v", got, []string{a, c, d})
			}
			status, body := e.do(http.MethodGet, "/v3/devices/"+b, "")
			wantErrorBody(t, "GET removed device", status, body, http.StatusNotFound)
		})
	}
}

func TestRemoveDevicesRefusesUnknownIDs(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 3})
	ids := e.sim.DeviceIDs()
	if err := e.sim.RemoveDevices(ids[0]); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{ids[0]}, {"0123456789abcdef0123456789abcdef"}, {ids[1], "nope"}} {
		if err := e.sim.RemoveDevices(bad...); !errors.Is(err, pelion.ErrNotFound) {
			t.Fatalf("RemoveDevices(%v) = %v, want ErrNotFound", bad, err)
		}
	}
	if _, ok := e.sim.Device(ids[1]); !ok {
		t.Fatal("a refused RemoveDevices removed the known device it named")
	}
	if got := len(e.sim.Ledger().Removed); got != 1 {
		t.Fatalf("ledger has %d removals, want 1", got)
	}
}

func TestDevicesAddedAfterRemovalsGetFreshIdentities(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 4})
	if err := e.sim.RemoveDevices(e.sim.DeviceIDs()[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.AddDevices(DeviceSpec{Count: 2, VendorID: e.vendor, ClassID: e.class}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for id, d := range e.directory("") {
		if other, dup := seen[d.EndpointName]; dup {
			t.Fatalf("devices %s and %s share endpoint name %s", other, id, d.EndpointName)
		}
		seen[d.EndpointName] = id
	}
	if len(seen) != 5 {
		t.Fatalf("directory has %d devices, want 5", len(seen))
	}
}

// steppingClock is a Config.Now that moves a second on every reading.
func steppingClock() func() time.Time {
	var n atomic.Int64
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Second) }
}

func TestAttributeChangesMoveDevicesInAndOutOfFilters(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 3, DeviceAttributes: map[string]string{"region": "eu-west"}, Now: steppingClock()})
	ids := e.sim.DeviceIDs()
	dev := ids[0]
	const inX = "custom_attributes__region__eq=x"
	if got := e.directory(inX); len(got) != 0 {
		t.Fatalf("before the change %s lists %v", inX, got)
	}
	before := e.directory("")[dev]

	if err := e.sim.SetDeviceAttributes(dev, map[string]string{"region": "x", "tier": "gold"}); err != nil {
		t.Fatal(err)
	}
	got := e.directory(inX)
	if len(got) != 1 || !maps.Equal(got[dev].CustomAttributes, map[string]string{"region": "x", "tier": "gold"}) {
		t.Fatalf("after the change %s lists %+v", inX, got)
	}
	if !got[dev].UpdatedAt.After(before.UpdatedAt) || got[dev].ETag == before.ETag {
		t.Fatalf("updated_at %s / etag %s did not move on from %s / %s", got[dev].UpdatedAt, got[dev].ETag, before.UpdatedAt, before.ETag)
	}
	for _, other := range ids[1:] {
		if a := e.directory("")[other].CustomAttributes; !maps.Equal(a, map[string]string{"region": "eu-west"}) {
			t.Fatalf("device %s changed with its group: %v", other, a)
		}
	}
	manifestID := e.release("fw", []byte("firmware"), "")
	entered := e.campaign("entered", inX, manifestID)
	e.start(entered)
	e.awaitPhase(entered, pelion.PhaseStopped)
	if targets := e.targets(entered); len(targets) != 1 || targets[dev].EventType != EventSucceeded {
		t.Fatalf("campaign on %s reached %+v, want only %s", inX, targets, dev)
	}

	if err := e.sim.SetDeviceAttributes(dev, map[string]string{"region": ""}); err != nil {
		t.Fatal(err)
	}
	if got := e.directory(inX); len(got) != 0 {
		t.Fatalf("after removing region %s lists %v", inX, got)
	}
	if a := e.directory("")[dev].CustomAttributes; !maps.Equal(a, map[string]string{"tier": "gold"}) {
		t.Fatalf("attributes after removing region: %v", a)
	}
	left := e.campaign("left", inX, manifestID)
	e.start(left)
	if c := e.awaitPhase(left, pelion.PhaseStopped); c.AutostopReason != "No devices matched the device filter." {
		t.Fatalf("campaign after the device left the filter stopped with %q", c.AutostopReason)
	}

	changes := e.sim.Ledger().AttributeChanges
	if len(changes) != 2 || changes[0].DeviceID != dev || changes[1].DeviceID != dev || !changes[1].At.After(changes[0].At) ||
		!maps.Equal(changes[0].Attributes, map[string]string{"region": "x", "tier": "gold"}) ||
		!maps.Equal(changes[1].Attributes, map[string]string{"tier": "gold"}) {
		t.Fatalf("ledger attribute changes: %+v", changes)
	}
	if err := e.sim.SetDeviceAttributes("0123456789abcdef0123456789abcdef", map[string]string{"a": "b"}); !errors.Is(err, pelion.ErrNotFound) {
		t.Fatalf("unknown device: %v, want ErrNotFound", err)
	}
	for _, bad := range []map[string]string{{"": "v"}, {"1st": "v"}, {"k": strings.Repeat("v", 129)}} {
		if err := e.sim.SetDeviceAttributes(dev, bad); err == nil {
			t.Fatalf("SetDeviceAttributes(%v) accepted", bad)
		}
	}
}

func TestAdminDeviceEndpoints(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 2, DeviceAttributes: map[string]string{"region": "eu-west", "gone": "soon"}})
	ids := e.sim.DeviceIDs()
	dev, other := ids[0], ids[1]
	unknown := "0123456789abcdef0123456789abcdef"

	status, body := e.do(http.MethodPatch, "/admin/devices/"+dev, `{"attributes": {"region": "x", "gone": ""}}`)
	var view pelion.Device
	if status != http.StatusOK || json.Unmarshal(body, &view) != nil {
		t.Fatalf("PATCH: %d %s", status, body)
	}
	if view.ID != dev || view.Object != pelion.ObjectDevice || !maps.Equal(view.CustomAttributes, map[string]string{"region": "x"}) {
		t.Fatalf("PATCH answered %+v", view)
	}
	var fromAPI pelion.Device
	e.getJSON("/v3/devices/"+dev, &fromAPI)
	if !maps.Equal(fromAPI.CustomAttributes, view.CustomAttributes) {
		t.Fatalf("GET /v3/devices shows %v after PATCH", fromAPI.CustomAttributes)
	}

	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"unknown device", "/admin/devices/" + unknown, `{"attributes": {"a": "b"}}`, http.StatusNotFound},
		{"malformed id", "/admin/devices/nope", `{"attributes": {"a": "b"}}`, http.StatusBadRequest},
		{"malformed body", "/admin/devices/" + dev, `{"attributes": `, http.StatusBadRequest},
		{"no attributes", "/admin/devices/" + dev, `{}`, http.StatusBadRequest},
		{"bad key", "/admin/devices/" + dev, `{"attributes": {"9lives": "x"}}`, http.StatusBadRequest},
		{"oversized body", "/admin/devices/" + dev, `{"attributes": {"k": "` + strings.Repeat("v", maxJSONBody) + `"}}`, http.StatusRequestEntityTooLarge},
	} {
		status, body := e.do(http.MethodPatch, tc.path, tc.body)
		wantErrorBody(t, "PATCH "+tc.name, status, body, tc.want)
	}

	if status, body := e.do(http.MethodDelete, "/admin/devices/"+dev, ""); status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	status, body = e.do(http.MethodGet, "/v3/devices/"+dev, "")
	wantErrorBody(t, "GET deleted device", status, body, http.StatusNotFound)
	if got := e.directory(""); len(got) != 1 || got[other].ID != other {
		t.Fatalf("directory after DELETE: %v", got)
	}
	status, body = e.do(http.MethodDelete, "/admin/devices/"+dev, "")
	wantErrorBody(t, "DELETE again", status, body, http.StatusNotFound)
	status, body = e.do(http.MethodDelete, "/admin/devices/"+unknown, "")
	wantErrorBody(t, "DELETE unknown", status, body, http.StatusNotFound)

	var ledger struct {
		Removed          []map[string]any `json:"removed"`
		AttributeChanges []map[string]any `json:"attribute_changes"`
	}
	e.getJSON("/admin/ledger", &ledger)
	if len(ledger.Removed) != 1 || ledger.Removed[0]["device_id"] != dev || ledger.Removed[0]["at"] == nil {
		t.Fatalf("ledger removed: %v", ledger.Removed)
	}
	if len(ledger.AttributeChanges) != 1 || ledger.AttributeChanges[0]["device_id"] != dev ||
		!maps.Equal(ledger.AttributeChanges[0]["attributes"].(map[string]any), map[string]any{"region": "x"}) {
		t.Fatalf("ledger attribute changes: %v", ledger.AttributeChanges)
	}
}

func TestAdminDeviceEndpointsAnswerOnlyOnLoopback(t *testing.T) {
	e := newChurnEnv(t, Config{Devices: 1, DeviceAttributes: map[string]string{"region": "eu-west"}})
	dev := e.sim.DeviceIDs()[0]
	send := func(method, remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/admin/devices/"+dev, strings.NewReader(`{"attributes": {"region": "x"}}`))
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		e.sim.Handler().ServeHTTP(rec, req)
		return rec
	}
	for _, method := range []string{http.MethodPatch, http.MethodDelete} {
		rec := send(method, "203.0.113.7:40000")
		wantErrorBody(t, method+" from afar", rec.Code, rec.Body.Bytes(), http.StatusForbidden)
	}
	if d, ok := e.sim.Device(dev); !ok || d.Attributes["region"] != "eu-west" {
		t.Fatalf("refused requests changed the device: %+v, present %v", d, ok)
	}
	if l := e.sim.Ledger(); len(l.Removed) != 0 || len(l.AttributeChanges) != 0 {
		t.Fatalf("refused requests reached the ledger: %+v", l)
	}
	// The same request from loopback is served: the refusal was the address's doing.
	if rec := send(http.MethodPatch, "127.0.0.1:40000"); rec.Code != http.StatusOK {
		t.Fatalf("PATCH from loopback: %d %s", rec.Code, rec.Body)
	}
}
