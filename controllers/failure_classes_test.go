package controllers_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

func TestRejectedReleaseFailsTheCampaignInTheCanary(t *testing.T) {
	ns := newNamespace(t)
	// The devices trust another key: each one that gets the manifest rejects its signature.
	f := newFleet(t, ns, devices{count: 10, distrust: true})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	// The default failure policy pauses on a spent budget; a rejected release fails the campaign anyway.
	uc := campaign(ns, wave("canary", count(3)), wave("rest", percent("100%")))
	create(t, uc)

	waitPhase(t, uc, v1.CampaignFailed)
	ready := findCondition(uc.Status.Conditions, v1.ConditionReady)
	if ready == nil || ready.Reason != v1.ReasonFailureClassExceeded || !strings.Contains(ready.Message, "class Release") {
		t.Fatalf("Ready %+v, want reason %s naming the class", ready, v1.ReasonFailureClassExceeded)
	}
	canary := uc.Status.Waves[0]
	if canary.Failures == nil || canary.Failures.Release == 0 || canary.Failures.Release != canary.Failed {
		t.Errorf("canary counts %+v: want every failure counted as Release", canary.DeviceCounts)
	}
	if tot := uc.Status.Totals.Failures; tot == nil || *tot != *canary.Failures {
		t.Errorf("total failures by class %+v, want the canary's %+v", tot, canary.Failures)
	}
	if uc.Status.Waves[1].StartedAt != nil {
		t.Error("the next wave started after the release was rejected")
	}
	for _, rc := range remoteCampaignsOf(uc) {
		if strings.Contains(rc.Name, "/w1.") {
			t.Errorf("remote campaign %s was created for the second wave", rc.Name)
		}
	}
	if got := campaignGauge(t, "fleetwave_campaign_failures", uc, "class", "release"); got != float64(canary.Failures.Release) {
		t.Errorf("fleetwave_campaign_failures{class=release} = %v, want %d", got, canary.Failures.Release)
	}
}

func TestUnconfirmedSuccessesCountAsFailures(t *testing.T) {
	ns := newNamespace(t)
	// 6 healthy devices; 2 report success and boot back into their old image; 1 reports success and
	// is never heard of again.
	f := newFleet(t, ns, devices{count: 6}, devices{count: 2, failure: sim.FailureRevert}, devices{count: 1, failure: sim.FailureVanish})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	uc.Spec.Confirmation = &v1.Confirmation{ConfirmTimeout: &metav1.Duration{Duration: 2 * time.Second}}
	create(t, uc)

	waitPhase(t, uc, v1.CampaignPaused)
	w := uc.Status.Waves[0]
	if w.Succeeded != 6 || w.Failed != 3 || w.Failures == nil || w.Failures.Unconfirmed != 3 || w.Pending != 0 {
		t.Fatalf("wave counts %+v (failures %+v): want 6 succeeded and 3 unconfirmed", w.DeviceCounts, w.Failures)
	}
	// The directory agrees: six devices run the new payload, three the old one.
	byDigest := map[[32]byte]int{}
	for _, id := range f.ids {
		d, _ := service.sim.Device(id)
		byDigest[d.FirmwareDigest]++
	}
	if len(byDigest) != 2 {
		t.Errorf("the devices run %d payloads, want the new one and the old one", len(byDigest))
	}
	ready := findCondition(uc.Status.Conditions, v1.ConditionReady)
	if ready == nil || !v1.IsFailurePolicyReason(ready.Reason) {
		t.Errorf("Ready %+v, want paused by the failure policy", ready)
	}
}

func TestWithoutConfirmationReportedSuccessCounts(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 3}, devices{count: 2, failure: sim.FailureRevert})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	create(t, uc)

	waitPhase(t, uc, v1.CampaignCompleted)
	if w := uc.Status.Waves[0]; w.Succeeded != 5 || w.Failed != 0 {
		t.Fatalf("wave counts %+v: without spec.confirmation the service's word is taken", w.DeviceCounts)
	}
}
