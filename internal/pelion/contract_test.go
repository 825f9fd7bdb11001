package pelion_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

var ctx = context.Background()

func TestAuthenticationErrors(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 2})
	bad, err := pelion.New(e.url, "ak_wrong_key", pelion.WithRetryPolicy(fastRetries))
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.ListDevices(ctx, pelion.ListOptions{})
	var apiErr *pelion.Error
	if !errorsAs(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Type != pelion.ErrTypeInvalidAPIKey || apiErr.RequestID == "" {
		t.Fatalf("wrong key: got %v", err)
	}
	if !pelion.IsUnauthorized(err) || !pelion.IsTerminal(err) || pelion.IsRetryable(err) {
		t.Errorf("401 classified wrongly: unauthorized=%v terminal=%v retryable=%v", pelion.IsUnauthorized(err), pelion.IsTerminal(err), pelion.IsRetryable(err))
	}

	resp, err := http.Get(e.url + "/v3/devices")
	if err != nil {
		t.Fatal(err)
	}
	body := decodeErrorBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || body.Type != pelion.ErrTypeInvalidToken || body.Object != pelion.ObjectError {
		t.Errorf("no key: status %d body %+v", resp.StatusCode, body)
	}
}

func TestClientNeverShowsTheAPIKey(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1})
	if err := e.sim.SetFaults(sim.Fault{Op: "*", Kind: sim.FaultError, Status: 500}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.GetCampaign(ctx, "0123456789abcdef0123456789abcdef")
	if err == nil {
		t.Fatal("expected an error under an injected 500")
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v %s", e.client, e.client, e.client, e.client)} {
		if strings.Contains(s, testAPIKey) {
			t.Errorf("API key leaked into %q", s)
		}
	}
	for op := range e.counter.byOp {
		if strings.Contains(op, testAPIKey) {
			t.Errorf("API key leaked into a hook label %q", op)
		}
	}
}

func TestFirmwareImageLifecycle(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1})
	payload := payloadOf(300_000, 7)
	img := e.image("fw-1.0.0", payload)
	if img.DatafileSize != int64(len(payload)) || img.DatafileChecksum != sha256Hex(payload) || img.Object != pelion.ObjectFirmwareImage {
		t.Fatalf("created image %+v", img)
	}
	got, err := e.client.GetFirmwareImage(ctx, img.ID)
	if err != nil || got.ID != img.ID {
		t.Fatalf("get: %v %+v", err, got)
	}
	found, err := e.client.FindFirmwareImageByName(ctx, "fw-1.0.0")
	if err != nil || found.ID != img.ID {
		t.Fatalf("find: %v %+v", err, found)
	}
	if _, err := e.client.FindFirmwareImageByName(ctx, "fw-none"); !pelion.IsNotFound(err) {
		t.Errorf("find missing: %v", err)
	}
	resp, err := http.Get(img.Datafile)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(served, payload) {
		t.Errorf("datafile served %d bytes that differ from the upload", len(served))
	}
	if err := e.client.DeleteFirmwareImage(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetFirmwareImage(ctx, img.ID); !pelion.IsNotFound(err) || !pelion.IsTerminal(err) {
		t.Errorf("get after delete: %v", err)
	}
	if err := e.client.DeleteFirmwareImage(ctx, img.ID); err != nil {
		t.Errorf("second delete should succeed: %v", err)
	}
}

func TestOversizeImageIs413(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1, MaxMultipartImageSize: 1 << 20})
	payload := payloadOf(2<<20, 1)
	_, err := e.client.CreateFirmwareImage(ctx, pelion.ImageUpload{Name: "big", Size: int64(len(payload)), Open: pelion.ReaderAtSource(bytes.NewReader(payload), int64(len(payload)))})
	var apiErr *pelion.Error
	if !errorsAs(err, &apiErr) || apiErr.StatusCode != http.StatusRequestEntityTooLarge || !pelion.IsTerminal(err) {
		t.Fatalf("got %v", err)
	}
	if n := len(e.counter.statuses(pelion.OpCreateFirmwareImage)); n != 1 {
		t.Errorf("a terminal 413 was sent %d times", n)
	}
}

func TestUploadJobImage(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1}, pelion.WithChunkedUploadThreshold(6<<20), pelion.WithChunkSize(pelion.MinChunkSize))
	payload := payloadOf(12<<20+123, 3)
	img := e.image("big-fw", payload)
	if img.DatafileChecksum != sha256Hex(payload) || img.Name != "big-fw" {
		t.Fatalf("image %+v", img)
	}
	chunks := e.counter.statuses(pelion.OpCreateUploadChunk)
	if want := []int{201, 201, 201, 201}; !slices.Equal(chunks, want) { // 5 MiB, 5 MiB, the rest, empty
		t.Errorf("chunk posts %v, want %v", chunks, want)
	}
	jobs, err := e.client.ListUploadJobs(ctx, pelion.ListOptions{})
	if err != nil || len(jobs.Data) != 0 {
		t.Errorf("upload job left behind: %v %+v", err, jobs)
	}
}

// failingSource yields its payload and then, instead of the end, the caller's own error: what a
// digest-checking reader does when the bytes turn out wrong.
type failingSource struct {
	payload []byte
	err     error
	opens   int
}

func (s *failingSource) open() (io.ReadCloser, error) {
	s.opens++
	return io.NopCloser(io.MultiReader(bytes.NewReader(s.payload), errReader{s.err})), nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestSourceErrorsEndTheUploadUnretried(t *testing.T) {
	errBadSource := errors.New("source digest mismatch")
	for _, tc := range []struct {
		name string
		opts []pelion.Option
		size int
	}{
		{"multipart", nil, 300_000},
		{"upload job", []pelion.Option{pelion.WithChunkedUploadThreshold(6 << 20), pelion.WithChunkSize(pelion.MinChunkSize)}, 7 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sim.Config{Devices: 1}, tc.opts...)
			payload := payloadOf(tc.size, 5)
			// The source claims one byte more than it has, so the read that would complete it fails.
			src := &failingSource{payload: payload, err: errBadSource}
			_, err := e.client.CreateFirmwareImage(ctx, pelion.ImageUpload{Name: "bad", Size: int64(len(payload)) + 1, Open: src.open})
			if !errors.Is(err, errBadSource) {
				t.Fatalf("got %v, want the source's error", err)
			}
			if src.opens != 1 {
				t.Errorf("source opened %d times; a failing source must not be read again", src.opens)
			}
			imgs, err := e.client.ListFirmwareImages(ctx, pelion.ListOptions{})
			if err != nil || len(imgs.Data) != 0 {
				t.Errorf("images after a failed upload: %v %+v", err, imgs)
			}
		})
	}
}

func TestManifestObjectsAreFilledFromTheManifest(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1})
	img := e.image("fw", payloadOf(4096, 9))
	for _, format := range []manifest.Format{manifest.FormatPelionV3, manifest.FormatSUIT} {
		t.Run(string(format), func(t *testing.T) {
			data := e.manifestFor(img, "1.2.3", func(s *manifest.Spec) { s.Format = format; s.Priority = 0 })
			m, err := e.client.CreateFirmwareManifest(ctx, pelion.ManifestUpload{Name: "m-" + string(format), Data: data})
			if err != nil {
				t.Fatal(err)
			}
			if m.DeviceVendor != e.vendor.String() || m.DeviceClass != e.class.String() ||
				m.DeliveredPayloadDigest != img.DatafileChecksum || m.DeliveredPayloadSize != img.DatafileSize ||
				m.DeliveredPayloadURL != img.Datafile || m.DatafileSize != int64(len(data)) || m.DeliveredPayloadType != "full" {
				t.Errorf("manifest object %+v", m)
			}
			if format == manifest.FormatPelionV3 && m.ManifestSchemaVersion != "3" {
				t.Errorf("schema version %q", m.ManifestSchemaVersion)
			}
			got, err := e.client.GetFirmwareManifest(ctx, m.ID)
			if err != nil || got.ID != m.ID {
				t.Fatalf("get %v", err)
			}
		})
	}
}

func TestManifestValidationErrors(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1})
	if _, err := e.client.CreateFirmwareManifest(ctx, pelion.ManifestUpload{Name: "too-big", Data: make([]byte, pelion.MaxManifestSize+1)}); err == nil {
		t.Error("client accepted a manifest over 2 KiB")
	}
	tests := []struct {
		name   string
		fields map[string]string
		data   []byte
		status int
	}{
		{"over 2 KiB", map[string]string{"name": "x"}, make([]byte, 3000), http.StatusBadRequest},
		{"not a manifest", map[string]string{"name": "x"}, []byte("definitely not DER"), http.StatusBadRequest},
		{"no name", nil, []byte{0x30, 0x00}, http.StatusBadRequest},
		{"no datafile", map[string]string{"name": "x"}, nil, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			for k, v := range tc.fields {
				_ = mw.WriteField(k, v)
			}
			if tc.data != nil {
				part, _ := mw.CreateFormFile("datafile", "m.bin")
				_, _ = part.Write(tc.data)
			}
			_ = mw.Close()
			resp := rawRequest(t, http.MethodPost, e.url+"/v3/firmware-manifests/", mw.FormDataContentType(), &body)
			errBody := decodeErrorBody(t, resp)
			if resp.StatusCode != tc.status || errBody.Type != pelion.ErrTypeValidation || len(errBody.Fields) == 0 {
				t.Errorf("status %d body %+v", resp.StatusCode, errBody)
			}
		})
	}
}

func TestPagingAcrossPages(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 25})
	var seen []string
	for d, err := range pelion.All(ctx, pelion.ListOptions{Limit: 4}, e.client.ListDevices) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, d.ID)
	}
	if want := e.sim.DeviceIDs(); !slices.Equal(seen, want) {
		t.Fatalf("paged %d devices, want the %d in order", len(seen), len(want))
	}
	if n := len(e.counter.statuses(pelion.OpListDevices)); n != 7 {
		t.Errorf("25 devices at 4 a page took %d requests, want 7", n)
	}

	desc, err := e.client.ListDevices(ctx, pelion.ListOptions{Limit: 3, Order: pelion.OrderDesc, IncludeTotalCount: true})
	if err != nil {
		t.Fatal(err)
	}
	if desc.TotalCount == nil || *desc.TotalCount != 25 || !desc.HasMore || desc.Data[0].ID != seen[24] || desc.Order != pelion.OrderDesc {
		t.Errorf("DESC page %+v", desc)
	}
	next, err := e.client.ListDevices(ctx, pelion.ListOptions{Limit: 3, Order: pelion.OrderDesc, After: desc.Data[2].ID})
	if err != nil || next.Data[0].ID != seen[21] {
		t.Errorf("DESC after: %v %v", err, next)
	}

	for _, tc := range []struct{ limit, want int }{{1, 2}, {5000, 25}} {
		page, err := e.client.ListDevices(ctx, pelion.ListOptions{Limit: tc.limit})
		if err != nil || len(page.Data) != tc.want {
			t.Errorf("limit %d: %v, %d items, want %d", tc.limit, err, len(page.Data), tc.want)
		}
	}
	for _, query := range []string{"limit=ten", "order=sideways", "after=not-an-id", "include=everything"} {
		resp := rawRequest(t, http.MethodGet, e.url+"/v3/devices?"+query, "", nil)
		if body := decodeErrorBody(t, resp); resp.StatusCode != http.StatusBadRequest || body.Type != pelion.ErrTypeValidation {
			t.Errorf("%s: status %d body %+v", query, resp.StatusCode, body)
		}
	}
}

func TestDeviceFilters(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 30})
	other, err := e.sim.AddDevices(sim.DeviceSpec{Count: 4, VendorID: e.vendor, ClassID: e.vendor, Attributes: map[string]string{"region": "lab", "ring": "canary, early"}})
	if err != nil {
		t.Fatal(err)
	}
	all := e.sim.DeviceIDs()
	dashed := func(id string) string {
		return id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
	}
	count := func(f pelion.Filter) int {
		t.Helper()
		n := 0
		for _, err := range pelion.All(ctx, pelion.ListOptions{Limit: 10, Filter: f}, e.client.ListDevices) {
			if err != nil {
				t.Fatalf("filter %s: %v", f, err)
			}
			n++
		}
		return n
	}
	eu := 0
	for _, id := range all {
		if d, _ := e.sim.Device(id); d.Attributes["region"] == "eu-west" {
			eu++
		}
	}
	tests := []struct {
		name   string
		filter pelion.Filter
		want   int
	}{
		{"id__in", pelion.Filter{}.In("id", all[0], all[3], all[7]), 3},
		{"id__in dashed", pelion.Filter{}.In("id", dashed(all[1]), strings.ToUpper(all[2])), 2},
		{"name__eq", pelion.Filter{}.Eq("name", all[5]), 1},
		{"state", pelion.Filter{}.Eq("state", pelion.DeviceRegistered), 34},
		{"device_class hex", pelion.Filter{}.Eq("device_class", hexString(e.class[:])), 30},
		{"device_class dashed", pelion.Filter{}.Eq("device_class", e.class.String()), 30},
		{"vendor and class", pelion.Filter{}.Eq("vendor_id", hexString(e.vendor[:])).Neq("device_class", hexString(e.class[:])), 4},
		{"custom attribute", pelion.Filter{}.CustomAttribute("region", pelion.OpEq, "eu-west"), eu},
		{"custom attribute with comma", pelion.Filter{}.CustomAttribute("ring", pelion.OpIn, "canary, early", "x"), 4},
		{"custom attribute nin", pelion.Filter{}.CustomAttribute("region", pelion.OpNin, "lab", "eu-west"), 30 - eu},
	}
	for _, tc := range tests {
		if got := count(tc.filter); got != tc.want {
			t.Errorf("%s (%s): %d devices, want %d", tc.name, tc.filter, got, tc.want)
		}
	}
	if got, err := e.client.GetDevice(ctx, dashed(other[0])); err != nil || got.ID != other[0] || got.CustomAttributes["region"] != "lab" {
		t.Errorf("get by dashed id: %v %+v", err, got)
	}
	// individual query parameters work like the filter parameter
	resp := rawRequest(t, http.MethodGet, e.url+"/v3/devices?custom_attributes__region=lab&include=total_count", "", nil)
	var page pelion.Page[pelion.Device]
	decodeJSONBody(t, resp, &page)
	if page.TotalCount == nil || *page.TotalCount != 4 {
		t.Errorf("parameter filter: %+v", page.TotalCount)
	}
	_, err = e.client.ListDevices(ctx, pelion.ListOptions{Filter: pelion.Filter{}.Eq("colour", "blue")})
	var apiErr *pelion.Error
	if !errorsAs(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || len(apiErr.Fields) != 1 || apiErr.Fields[0].Name != "colour" {
		t.Errorf("unknown filter field: %v", err)
	}
}

func TestCampaignListFilters(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 3})
	m := e.release("rel", "1.0.0", payloadOf(1000, 1))
	var ids []string
	for i := range 5 {
		c, err := e.client.CreateCampaign(ctx, pelion.CampaignCreate{Name: fmt.Sprintf("c-%d", i), DeviceFilter: "state__eq=registered", RootManifestID: m.ID})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if err := e.client.StartCampaign(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		filter pelion.Filter
		want   int
	}{
		{pelion.Filter{}.Eq("name", "c-3"), 1},
		{pelion.Filter{}.In("name", "c-1", "c-2", "nope"), 2},
		{pelion.Filter{}.Eq("state", pelion.StateDraft), 4},
		{pelion.Filter{}.Neq("state", pelion.StateDraft), 1},
		{pelion.Filter{}.Eq("root_manifest_id", m.ID), 5},
		{pelion.Filter{}.In("id", ids[0], ids[4]), 2},
	} {
		page, err := e.client.ListCampaigns(ctx, pelion.ListOptions{Filter: tc.filter})
		if err != nil || len(page.Data) != tc.want {
			t.Errorf("%s: %v, %d campaigns, want %d", tc.filter, err, len(page.Data), tc.want)
		}
	}
}

func TestCampaignLifecycle(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 20})
	payload := payloadOf(5000, 2)
	m := e.release("rel-2", "2.0.0", payload)
	filter := pelion.Filter{}.Eq("vendor_id", hexString(e.vendor[:])).Eq("device_class", hexString(e.class[:]))
	c, err := e.client.CreateCampaign(ctx, pelion.CampaignCreate{Name: "wave-1", DeviceFilter: filter.String(), RootManifestID: m.ID})
	if err != nil {
		t.Fatal(err)
	}
	if c.Phase != pelion.PhaseDraft || c.State != pelion.StateDraft || !c.Autostop || c.AutostopSuccessPercent != 100 || c.CampaignStrategy != pelion.StrategyOneShot {
		t.Fatalf("new campaign %+v", c)
	}
	if _, err := e.client.CampaignMetrics(ctx, c.ID); !pelion.IsNotFound(err) {
		t.Errorf("metrics before start: %v", err)
	}
	desc := "first wave"
	if c, err = e.client.UpdateCampaign(ctx, c.ID, pelion.CampaignUpdate{Description: &desc, DeviceFilter: ptr(filter.String())}); err != nil || c.Description != desc {
		t.Fatalf("draft update: %v", err)
	}
	if _, err := e.client.CreateCampaign(ctx, pelion.CampaignCreate{Name: "wave-1", DeviceFilter: "state__eq=registered", RootManifestID: m.ID}); !pelion.IsConflict(err) || !pelion.IsTerminal(err) {
		t.Errorf("duplicate name: %v", err)
	}

	if err := e.client.StartCampaign(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	first, err := e.client.GetCampaign(ctx, c.ID)
	if err != nil || !first.Phase.Running() {
		t.Fatalf("a started campaign must first be seen starting or active, got %v %+v", err, first.Phase)
	}

	done := e.awaitPhase(c.ID, pelion.PhaseStopped)
	if done.State != pelion.StateAutoStopped || done.Finished == nil || done.AutostopReason == "" {
		t.Errorf("finished campaign %+v", done)
	}
	checkSucceededCampaignReports(t, e, c.ID)
	checkCampaignDevicesUpdated(t, e, c.ID, payload)

	if err := e.client.ArchiveCampaign(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	archived, _ := e.client.GetCampaign(ctx, c.ID)
	if archived.Phase != pelion.PhaseArchived || archived.State != pelion.StateDeployed || archived.ArchivedAt == nil {
		t.Errorf("archived %+v", archived)
	}
	if err := e.client.DeleteCampaign(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetCampaign(ctx, c.ID); !pelion.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
}

// checkSucceededCampaignReports checks what the service reports of a finished campaign in which all 20
// devices succeeded: its metrics, its statistics and the events behind its success summary.
func checkSucceededCampaignReports(t *testing.T, e *env, id string) {
	t.Helper()
	metrics, err := e.client.CampaignMetrics(ctx, id)
	if err != nil || metrics.TotalCount != 20 || metrics.SuccessCount != 20 || metrics.PendingCount != 0 {
		t.Errorf("metrics %v %+v", err, metrics)
	}
	stats, err := e.client.CampaignStatistics(ctx, id)
	if err != nil || len(stats) != 4 {
		t.Fatalf("statistics %v %+v", err, stats)
	}
	success, err := e.client.CampaignStatistic(ctx, id, pelion.SummarySuccess)
	if err != nil || success.Count != 20 || success.SummaryStatus != "SUCCESS" {
		t.Errorf("success summary %v %+v", err, success)
	}
	types, err := e.client.CampaignEventTypes(ctx, id, pelion.SummarySuccess)
	if err != nil || len(types) != 1 || types[0].EventType != sim.EventSucceeded || types[0].Count != 20 {
		t.Errorf("success event types %v %+v", err, types)
	}
	if one, err := e.client.CampaignEventType(ctx, id, pelion.SummarySuccess, strings.ToLower(sim.EventSucceeded)); err != nil || one.Count != 20 {
		t.Errorf("event type %v %+v", err, one)
	}
}

// checkCampaignDevicesUpdated checks the device records of a finished campaign over 20 devices, listed
// a page of 7 at a time, and that a device they name now runs version 2.0.0 of payload.
func checkCampaignDevicesUpdated(t *testing.T, e *env, id string, payload []byte) {
	t.Helper()
	var records []pelion.CampaignDeviceMetadata
	for rec, err := range pelion.All(ctx, pelion.ListOptions{Limit: 7}, func(ctx context.Context, o pelion.ListOptions) (*pelion.Page[pelion.CampaignDeviceMetadata], error) {
		return e.client.ListCampaignDevices(ctx, id, o)
	}) {
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, rec)
	}
	if len(records) != 20 {
		t.Fatalf("%d device records", len(records))
	}
	rec, err := e.client.GetCampaignDevice(ctx, id, records[3].ID)
	if err != nil || rec.DeploymentState != pelion.DeploymentDeployed || rec.DeviceID != records[3].DeviceID {
		t.Errorf("record %v %+v", err, rec)
	}
	dev, err := e.client.GetDevice(ctx, rec.DeviceID)
	if err != nil || dev.FirmwareChecksum != sha256Hex(payload) {
		t.Errorf("device after update %v %+v", err, dev)
	}
	wantVersion, _ := manifest.EncodeVersion("2.0.0")
	if st, _ := e.sim.Device(rec.DeviceID); st.InstalledVersion != wantVersion {
		t.Errorf("device runs %#x, want %#x", st.InstalledVersion, wantVersion)
	}
}

func TestStopCampaignWithOfflineDevices(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 5})
	offline, err := e.sim.AddDevices(sim.DeviceSpec{Count: 3, VendorID: e.vendor, ClassID: e.class, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	m := e.release("rel", "1.0.0", payloadOf(100, 5))
	c := e.startCampaign("c", "state=registered", m.ID)
	e.awaitPhase(c.ID, pelion.PhaseActive)
	awaitMetrics(t, e, c.ID, func(m *pelion.CampaignMetrics) bool { return m.SuccessCount == 5 })
	if got, _ := e.client.GetCampaign(ctx, c.ID); got.Phase != pelion.PhaseActive {
		t.Fatalf("a campaign with offline devices finished: %+v", got)
	}
	// While it runs, the service refuses what only a draft or a stopped campaign allows.
	if _, err := e.client.UpdateCampaign(ctx, c.ID, pelion.CampaignUpdate{DeviceFilter: ptr("state__eq=registered")}); StatusOf(err) != http.StatusForbidden {
		t.Errorf("non-draft update of device_filter: %v", err)
	}
	if err := e.client.StartCampaign(ctx, c.ID); !pelion.IsConflict(err) {
		t.Errorf("second start: %v", err)
	}
	if err := e.client.DeleteCampaign(ctx, c.ID); !pelion.IsConflict(err) {
		t.Errorf("delete while running: %v", err)
	}
	if err := e.client.ArchiveCampaign(ctx, c.ID); !pelion.IsConflict(err) {
		t.Errorf("archive while running: %v", err)
	}
	newName := "renamed"
	if got, err := e.client.UpdateCampaign(ctx, c.ID, pelion.CampaignUpdate{Name: &newName}); err != nil || got.Name != newName {
		t.Errorf("renaming a running campaign: %v", err)
	}
	if err := e.client.StopCampaign(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	stopped := e.awaitPhase(c.ID, pelion.PhaseStopped)
	if stopped.State != pelion.StateUserStopped {
		t.Errorf("stopped state %q", stopped.State)
	}
	if err := e.client.StopCampaign(ctx, c.ID); !pelion.IsConflict(err) {
		t.Errorf("stop of a stopped campaign: %v", err)
	}
	metrics, _ := e.client.CampaignMetrics(ctx, c.ID)
	if metrics.PendingCount != len(offline) {
		t.Errorf("metrics %+v, want %d pending", metrics, len(offline))
	}
}

func TestRetriesCreateNothingTwice(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 4}, pelion.WithChunkedUploadThreshold(6<<20), pelion.WithChunkSize(pelion.MinChunkSize))
	faults := []sim.Fault{
		{Op: pelion.OpCreateFirmwareImage, Kind: sim.FaultDropAfter, Count: 1},
		{Op: pelion.OpCreateUploadJob, Kind: sim.FaultDropAfter, Count: 1},
		{Op: pelion.OpCreateUploadChunk, Kind: sim.FaultDropAfter, Count: 2},
		{Op: pelion.OpCreateManifest, Kind: sim.FaultError, Status: 500, Count: 1},
		{Op: pelion.OpCreateManifest, Kind: sim.FaultDropAfter, Count: 1},
		{Op: pelion.OpCreateCampaign, Kind: sim.FaultDrop, Count: 1},
		{Op: pelion.OpCreateCampaign, Kind: sim.FaultDropAfter, Count: 1},
		{Op: pelion.OpStartCampaign, Kind: sim.FaultDropAfter, Count: 1},
		{Op: pelion.OpListDevices, Kind: sim.FaultError, Status: 502, Count: 2},
		{Op: pelion.OpGetCampaign, Kind: sim.FaultRateLimit, RetryAfter: "0", Count: 2},
	}
	if err := e.sim.SetFaults(faults...); err != nil {
		t.Fatal(err)
	}
	small := e.image("small", payloadOf(1000, 1))
	big := e.image("big", payloadOf(11<<20, 2))
	if big.DatafileChecksum != sha256Hex(payloadOf(11<<20, 2)) {
		t.Error("big image corrupted by retried chunks")
	}
	m, err := e.client.CreateFirmwareManifest(ctx, pelion.ManifestUpload{Name: "m", Data: e.manifestFor(small, "1.0.0", nil)})
	if err != nil {
		t.Fatal(err)
	}
	c := e.startCampaign("c", "state__eq=registered", m.ID)
	if _, err := e.client.ListDevices(ctx, pelion.ListOptions{}); err != nil {
		t.Errorf("list under two 502s: %v", err)
	}
	if _, err := e.client.GetCampaign(ctx, c.ID); err != nil {
		t.Errorf("get under two 429s: %v", err)
	}
	for _, f := range e.sim.Faults() {
		if f.Count != 0 {
			t.Errorf("fault %+v did not fire", f)
		}
	}

	ledger := e.sim.Ledger()
	byKind := map[string][]string{}
	for _, rec := range ledger.Creates {
		byKind[rec.Kind] = append(byKind[rec.Kind], rec.Name)
	}
	want := map[string][]string{
		"firmware-image": {"small", "big"}, "upload-job": {"big"}, "firmware-manifest": {"m"}, "update-campaign": {"c"},
	}
	for kind, names := range want {
		if !slices.Equal(byKind[kind], names) {
			t.Errorf("%s creates %v, want %v", kind, byKind[kind], names)
		}
	}
	if len(ledger.Campaigns) != 1 || len(ledger.Campaigns[0].Starts) != 1 {
		t.Errorf("campaign starts %+v", ledger.Campaigns)
	}
	if got := e.counter.statuses(pelion.OpGetCampaign); !slices.Equal(got[:3], []int{429, 429, 200}) {
		t.Errorf("get statuses %v", got)
	}
}

func TestTerminalErrorsAreNotRetried(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1})
	_, err := e.client.CreateCampaign(ctx, pelion.CampaignCreate{Name: "x", DeviceFilter: "colour__eq=blue", RootManifestID: "0123456789abcdef0123456789abcdef"})
	if !pelion.IsTerminal(err) || pelion.IsRetryable(err) {
		t.Fatalf("got %v", err)
	}
	if n := len(e.counter.statuses(pelion.OpCreateCampaign)); n != 1 {
		t.Errorf("a 400 was sent %d times", n)
	}
}

func TestRetriesGiveUpAndClassify(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1})
	if err := e.sim.SetFaults(sim.Fault{Op: pelion.OpListCampaigns, Kind: sim.FaultError, Status: 503}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.ListCampaigns(ctx, pelion.ListOptions{})
	if !pelion.IsRetryable(err) || pelion.IsTerminal(err) {
		t.Fatalf("got %v", err)
	}
	if n := len(e.counter.statuses(pelion.OpListCampaigns)); n != fastRetries.MaxAttempts {
		t.Errorf("%d attempts, want %d", n, fastRetries.MaxAttempts)
	}
	if err := e.sim.SetFaults(sim.Fault{Op: pelion.OpListCampaigns, Kind: sim.FaultRateLimit, RetryAfter: "120"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.ListCampaigns(ctx, pelion.ListOptions{})
	if wait, ok := pelion.RetryAfter(err); !ok || wait.Seconds() != 120 {
		t.Errorf("a long Retry-After should come back to the caller: %v", err)
	}
}

func TestUnknownEndpointsAndMethods(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 1})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v3/nothing-here", http.StatusNotFound},
		{http.MethodPatch, "/v3/update-campaigns", http.StatusMethodNotAllowed},
		{http.MethodGet, "/v3/update-campaigns/xyz", http.StatusBadRequest},
		{http.MethodPost, "/v3/update-campaigns", http.StatusBadRequest},
	} {
		resp := rawRequest(t, tc.method, e.url+tc.path, "application/json", strings.NewReader("{bad json"))
		if body := decodeErrorBody(t, resp); resp.StatusCode != tc.status || body.Object != pelion.ObjectError {
			t.Errorf("%s %s: %d %+v", tc.method, tc.path, resp.StatusCode, body)
		}
	}
}

func ptr[T any](v T) *T { return &v }
