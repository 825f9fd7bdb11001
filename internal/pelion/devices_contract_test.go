package pelion_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// runCampaign creates and starts a campaign over every registered device and waits until each
// reachable device has reported; it returns each device's reported event type.
func (e *env) runCampaign(name string, data []byte) map[string]string {
	e.t.Helper()
	m, err := e.client.CreateFirmwareManifest(ctx, pelion.ManifestUpload{Name: name, Data: data})
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.startCampaign(name, "state__eq=registered", m.ID)
	e.awaitPhase(c.ID, pelion.PhaseStopped)
	events := map[string]string{}
	for _, rec := range e.sim.Ledger().Campaigns {
		if rec.ID == c.ID {
			for _, target := range rec.Targets {
				events[target.DeviceID] = target.EventType
			}
		}
	}
	return events
}

func TestSimulatedDevicesCheckWhatTheyAreSent(t *testing.T) {
	e := newEnv(t, sim.Config{Devices: 3})
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	newer, _ := manifest.EncodeVersion("3.0.0")
	groups := map[string]sim.DeviceSpec{
		"wrong class":   {Count: 2, VendorID: e.vendor, ClassID: uuid.New()},
		"wrong vendor":  {Count: 2, VendorID: uuid.New(), ClassID: e.class},
		"newer version": {Count: 2, VendorID: e.vendor, ClassID: e.class, InstalledVersion: newer},
		"other key":     {Count: 2, VendorID: e.vendor, ClassID: e.class, TrustedKeys: []crypto.PublicKey{stranger.Public()}},
	}
	member := map[string]string{}
	for _, id := range e.sim.DeviceIDs() {
		member[id] = "matching"
	}
	for name, spec := range groups {
		ids, err := e.sim.AddDevices(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			member[id] = name
		}
	}
	img := e.image("fw", payloadOf(2048, 4))
	want := map[string]string{
		"matching":      sim.EventSucceeded,
		"wrong class":   manifest.FailureWrongClass.EventType(),
		"wrong vendor":  manifest.FailureWrongVendor.EventType(),
		"newer version": manifest.FailureVersionRejected.EventType(),
		"other key":     manifest.FailureSignatureInvalid.EventType(),
	}
	for round, format := range []manifest.Format{manifest.FormatPelionV3, manifest.FormatSUIT} {
		if round == 1 { // the matching devices now run this payload: the service skips them
			want["matching"] = sim.EventAlreadyInstalled
		}
		events := e.runCampaign("mixed-"+string(format), e.manifestFor(img, "2.0.0", func(s *manifest.Spec) { s.Format = format }))
		if len(events) != len(member) {
			t.Fatalf("%s: %d devices reported, want %d", format, len(events), len(member))
		}
		for id, group := range member {
			if events[id] != want[group] {
				t.Errorf("%s: %s device %s reported %q, want %q", format, group, id, events[id], want[group])
			}
		}
	}
	wantVersion, _ := manifest.EncodeVersion("2.0.0")
	for id, group := range member {
		st, _ := e.sim.Device(id)
		installed := st.InstalledVersion == wantVersion && fmt.Sprintf("%x", st.FirmwareDigest) == img.DatafileChecksum
		if installed != (group == "matching") {
			t.Errorf("%s device %s: installed=%v (version %#x)", group, id, installed, st.InstalledVersion)
		}
	}
}

func TestSimulatedDevicesCheckThePayload(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*manifest.Spec)
		event string
	}{
		{"digest mismatch", func(s *manifest.Spec) { s.PayloadDigest[0] ^= 1 }, sim.EventIntegrity},
		{"size mismatch", func(s *manifest.Spec) { s.PayloadSize++ }, sim.EventIntegrity},
		{"unreachable host", func(s *manifest.Spec) { s.PayloadURI = "https://example.com/fw.bin" }, sim.EventConnectFailed},
		{"missing datafile", func(s *manifest.Spec) { s.PayloadURI += "0" }, sim.EventNetworkError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sim.Config{Devices: 3})
			img := e.image("fw", payloadOf(1500, 8))
			events := e.runCampaign("c", e.manifestFor(img, "1.0.0", tc.edit))
			for id, event := range events {
				if event != tc.event {
					t.Errorf("device %s reported %q, want %q", id, event, tc.event)
				}
				if st, _ := e.sim.Device(id); st.InstalledVersion != 0 {
					t.Errorf("device %s installed a rejected payload", id)
				}
			}
			if len(events) != 3 {
				t.Errorf("%d devices reported", len(events))
			}
		})
	}
}

func TestCampaignOverAThousandDevicesWithFailuresAndOfflineDevices(t *testing.T) {
	scale := 0.0
	profile := sim.Profile{
		Latency:         sim.Latency{Kind: sim.LatencyLogNormal, Median: sim.Duration(time.Second), Sigma: 0.7},
		FailureRate:     0.10,
		FailureModes:    []string{sim.FailureDownloadTimeout, sim.FailureIntegrity, sim.FailureInstall},
		OfflineFraction: 0.05,
		TimeScale:       &scale,
		DownloadTimeout: sim.Duration(time.Minute),
	}
	e := newEnv(t, sim.Config{Devices: 1000, Profile: profile, Seed: 42})
	offline := 0
	for _, id := range e.sim.DeviceIDs() {
		if st, _ := e.sim.Device(id); st.Offline {
			offline++
		}
	}
	if offline < 25 || offline > 80 { // 5% of 1000, with room for the draw
		t.Fatalf("%d offline devices for a 5%% offline fraction", offline)
	}
	m := e.release("rel", "1.0.0", payloadOf(10_000, 6))
	c := e.startCampaign("big", "state__eq=registered", m.ID)
	metrics := awaitMetrics(t, e, c.ID, func(m *pelion.CampaignMetrics) bool { return m.PendingCount == offline })
	if metrics.TotalCount != 1000 || metrics.SuccessCount+metrics.FailedCount+metrics.SkippedCount+metrics.PendingCount != metrics.TotalCount {
		t.Errorf("metrics do not add up: %+v", metrics)
	}
	reachable := 1000 - offline
	if metrics.FailedCount < reachable/20 || metrics.FailedCount > reachable/5 { // 10%, with room for the draw
		t.Errorf("%d failures among %d reachable devices at a 10%% failure rate", metrics.FailedCount, reachable)
	}
	if got, _ := e.client.GetCampaign(ctx, c.ID); got.Phase != pelion.PhaseActive {
		t.Errorf("campaign with offline devices is %s, want active", got.Phase)
	}

	checkStatisticsAgreeWithMetrics(t, e, c.ID, metrics)
	checkFailureEventTypes(t, e, c.ID, metrics)

	if err := e.client.StopCampaign(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	e.awaitPhase(c.ID, pelion.PhaseStopped)
}

// checkStatisticsAgreeWithMetrics checks that a campaign's success, fail and skipped summaries count
// what its metrics count.
func checkStatisticsAgreeWithMetrics(t *testing.T, e *env, id string, metrics *pelion.CampaignMetrics) {
	t.Helper()
	stats := map[string]int{}
	summaries, err := e.client.CampaignStatistics(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range summaries {
		stats[s.ID] = s.Count
	}
	if stats[pelion.SummarySuccess] != metrics.SuccessCount || stats[pelion.SummaryFail] != metrics.FailedCount || stats[pelion.SummarySkipped] != metrics.SkippedCount {
		t.Errorf("statistics %v disagree with metrics %+v", stats, metrics)
	}
}

// checkFailureEventTypes checks the event types of a campaign's failures against its metrics and
// against what the devices reported: each of the profile's three failure modes shows, with the count of
// devices that reported it, and offline devices report nothing. The campaign must be the simulator's
// first.
func checkFailureEventTypes(t *testing.T, e *env, id string, metrics *pelion.CampaignMetrics) {
	t.Helper()
	failTypes, err := e.client.CampaignEventTypes(ctx, id, pelion.SummaryFail)
	if err != nil {
		t.Fatal(err)
	}
	byType, sum := map[string]int{}, 0
	for _, et := range failTypes {
		byType[et.EventType] = et.Count
		sum += et.Count
	}
	if sum != metrics.FailedCount {
		t.Errorf("fail event types add up to %d, metrics say %d", sum, metrics.FailedCount)
	}

	ledgerTypes := map[string]int{}
	for _, rec := range e.sim.Ledger().Campaigns[0].Targets {
		st, _ := e.sim.Device(rec.DeviceID)
		switch {
		case st.Offline && (rec.DeploymentState != pelion.DeploymentPending || rec.EventType != ""):
			t.Errorf("offline device %s reported %+v", rec.DeviceID, rec)
		case rec.DeploymentState == pelion.DeploymentFailedConnectorChannelUpdate:
			ledgerTypes[rec.EventType]++
		}
	}
	for _, event := range []string{sim.EventDownloadTimeout, sim.EventIntegrity, sim.EventWriteFailed} {
		if byType[event] == 0 || byType[event] != ledgerTypes[event] {
			t.Errorf("%s: statistics %d, devices %d", event, byType[event], ledgerTypes[event])
		}
	}
	if len(byType) != 3 {
		t.Errorf("unexpected failure event types %v", byType)
	}
}
