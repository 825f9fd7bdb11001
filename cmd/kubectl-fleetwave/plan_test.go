package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

func TestPlanCreatesTheCampaignPausedAndPrintsItsPlan(t *testing.T) {
	ns := newNamespace(t)
	file := t.TempDir() + "/campaign.yaml"
	uc := fourWaves()
	uc.TypeMeta = metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "UpdateCampaign"}
	uc.Namespace = ""
	writeYAML(t, file, uc)
	key := client.ObjectKey{Namespace: ns, Name: uc.Name}

	if _, err := runAs(t, adminKubeconfig, "plan", uc.Name, "-n", ns); err == nil {
		t.Error("plan of a campaign that does not exist succeeded")
	}
	// The operator's part: plan the campaign once it exists, paused.
	go func() {
		for range 200 {
			var got v1.UpdateCampaign
			if env.Client.Get(context.Background(), key, &got) == nil && got.Spec.Paused {
				got.Status.Plan = &v1.CampaignPlan{FleetSize: 1000, WaveSizes: []int64{10, 100, 500, 390}, AlreadyUpdated: []int64{1, 0, 7, 3}}
				_ = env.Client.Status().Update(context.Background(), &got)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	out := mustRunAs(t, adminKubeconfig, "plan", "-f", file, "-n", ns)
	for _, want := range []string{
		"updatecampaign " + ns + "/thermostat-fw-1.1.0: 1000 devices in 4 waves; paused, nothing is sent until: kubectl fleetwave resume thermostat-fw-1.1.0 -n " + ns,
		"WAVE SIZE DEVICES ALREADY UPDATED APPROVAL SOAK SENDING TAKES",
		"canary 10 10 1 Auto - at once",
		"half 50% 500 7 Manual - at once",
		"rest 100% 390 3 Auto - at once",
	} {
		if !containsFields(out, want) {
			t.Errorf("plan printed:\n%s\nwant a line %q", out, want)
		}
	}
	if !getCampaign(t, key).Spec.Paused {
		t.Error("plan -f created the campaign unpaused")
	}
	if again := mustRunAs(t, adminKubeconfig, "plan", uc.Name, "-n", ns); again != out {
		t.Errorf("plan of the existing campaign printed\n%s\nwant what plan -f printed\n%s", again, out)
	}
	if _, err := runAs(t, adminKubeconfig, "plan", "-f", file, "-n", ns); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("planning the same campaign again: error %v, want one saying it exists", err)
	}
}

func TestPlanShowsTheScheduleAndHowLongEachWaveTakesToSend(t *testing.T) {
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	uc := fourWaves()
	uc.Spec.Rate = &v1.Rate{MaxDevicesPerMinute: 100, Ramp: &v1.RateRamp{BaseRatePerMinute: 10, IncrementFactor: "2", RaiseAfterSucceeded: 10}}
	uc.Spec.Schedule = &v1.Schedule{}
	uc.Status.Window = &v1.WindowStatus{OpensAt: &metav1.Time{Time: now.Add(3 * time.Hour)}}
	uc.Status.Plan = &v1.CampaignPlan{FleetSize: 1000, WaveSizes: []int64{10, 100, 500, 390}}
	out := renderPlan(uc, now)
	for _, want := range []string{
		"schedule: closed, opens in 3h (2026-12-02T01:00:00Z); a wave starts only while it is open",
		"canary 10 10 - Auto - 0s",
		"early 10% 100 - Auto - 2m0s",  // 10, 20 and 80 devices a tick
		"half 50% 500 - Manual - 6m0s", // then 100 a tick
	} {
		if !containsFields(out, want) {
			t.Errorf("plan printed:\n%s\nwant a line %q", out, want)
		}
	}
}

func writeYAML(t *testing.T, path string, obj any) {
	t.Helper()
	data, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
