package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

var campaignMetricNames = []string{
	"fleetwave_campaign_devices", "fleetwave_campaign_wave_devices", "fleetwave_campaign_phase",
	"fleetwave_campaign_current_wave", "fleetwave_campaign_phase_transition_timestamp_seconds",
	"fleetwave_campaign_remote_campaigns",
}

var allCampaignPhases = []v1.CampaignPhase{
	v1.CampaignPending, v1.CampaignScheduled, v1.CampaignWaitingForApproval, v1.CampaignProgressing,
	v1.CampaignSoaking, v1.CampaignPaused, v1.CampaignWatching, v1.CampaignCompleted, v1.CampaignAborted,
	v1.CampaignFailed,
}

// campaignGauge is the value of one campaign series, failing the test unless exactly one matches.
func campaignGauge(t *testing.T, name string, uc *v1.UpdateCampaign, labels ...string) float64 {
	t.Helper()
	want := map[string]string{"namespace": uc.Namespace, "campaign": uc.Name}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	v, n := gaugeValue(t, name, want)
	if n != 1 {
		t.Errorf("%s%v: %d series, want 1", name, want, n)
	}
	return v
}

func TestCampaignMetricsFollowTheRolloutAndGoWithTheCampaign(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 20})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("canary", count(5)), wave("rest", percent("100%")))
	created := time.Now().Add(-time.Second)
	create(t, uc)
	waitPhase(t, uc, v1.CampaignCompleted)
	st := uc.Status

	for _, p := range allCampaignPhases {
		want := 0.0
		if p == v1.CampaignCompleted {
			want = 1
		}
		if got := campaignGauge(t, "fleetwave_campaign_phase", uc, "phase", string(p)); got != want {
			t.Errorf("fleetwave_campaign_phase{phase=%q} = %v, want %v", p, got, want)
		}
	}
	if _, n := gaugeValue(t, "fleetwave_campaign_phase", map[string]string{"namespace": ns}); n != len(allCampaignPhases) {
		t.Errorf("%d phase series, want %d", n, len(allCampaignPhases))
	}
	if len(st.Waves) != 2 {
		t.Fatalf("status has %d waves, want 2", len(st.Waves))
	}
	for _, w := range st.Waves {
		got := campaignGauge(t, "fleetwave_campaign_wave_devices", uc, "wave", w.Name, "outcome", "succeeded")
		if got != float64(w.Succeeded) || w.Succeeded == 0 {
			t.Errorf("wave %s: succeeded gauge %v, status %d", w.Name, got, w.Succeeded)
		}
		if got := campaignGauge(t, "fleetwave_campaign_wave_devices", uc, "wave", w.Name, "outcome", "targeted"); got != float64(w.Targeted) {
			t.Errorf("wave %s: targeted gauge %v, status %d", w.Name, got, w.Targeted)
		}
		if got := campaignGauge(t, "fleetwave_campaign_remote_campaigns", uc, "wave", w.Name); got != float64(w.RemoteCampaigns) || got == 0 {
			t.Errorf("wave %s: remote campaigns gauge %v, status %d", w.Name, got, w.RemoteCampaigns)
		}
	}
	if got := campaignGauge(t, "fleetwave_campaign_devices", uc, "outcome", "succeeded"); got != 20 || st.Totals.Succeeded != 20 {
		t.Errorf("total succeeded gauge %v, status %d, want 20", got, st.Totals.Succeeded)
	}
	if got := campaignGauge(t, "fleetwave_campaign_devices", uc, "outcome", "failed"); got != 0 {
		t.Errorf("total failed gauge %v, want 0", got)
	}
	if got := campaignGauge(t, "fleetwave_campaign_current_wave", uc); got != float64(st.CurrentWave) || got != 1 {
		t.Errorf("current wave gauge %v, status %d, want 1", got, st.CurrentWave)
	}
	since := campaignGauge(t, "fleetwave_campaign_phase_transition_timestamp_seconds", uc)
	if at := time.Unix(0, int64(since*1e9)); at.Before(created) || at.After(time.Now()) {
		t.Errorf("phase transition at %v, not between the campaign's creation %v and now", at, created)
	}

	if err := env.Client.Delete(context.Background(), uc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the campaign and all its series are gone", func() (bool, string) {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), &v1.UpdateCampaign{})
		var left []string
		for _, name := range campaignMetricNames {
			if _, n := gaugeValue(t, name, map[string]string{"namespace": ns, "campaign": uc.Name}); n > 0 {
				left = append(left, fmt.Sprintf("%s: %d series", name, n))
			}
		}
		return apierrors.IsNotFound(err) && len(left) == 0, fmt.Sprintf("get: %v; left: %s", err, strings.Join(left, ", "))
	})
}
