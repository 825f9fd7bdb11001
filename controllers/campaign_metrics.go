package controllers

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// Campaign metrics mirror the counts of status: per campaign and wave, never per device, so their
// cardinality is bounded by the campaigns (at most 20 waves each), whatever the size of the fleet.
// They are set in one place, observeCampaign, from the status a reconcile is about to write, and every
// series of a campaign goes with it (forgetCampaign).

// campaignOutcomes are the values of the outcome label: what status counts of a campaign's devices.
var campaignOutcomes = []string{"targeted", "succeeded", "failed", "timed_out", "skipped", "pending"}

// campaignPhases are the values of the phase label of the fleetwave_campaign_phase state set.
var campaignPhases = []v1.CampaignPhase{
	v1.CampaignPending, v1.CampaignScheduled, v1.CampaignWaitingForApproval, v1.CampaignProgressing,
	v1.CampaignSoaking, v1.CampaignPaused, v1.CampaignWatching, v1.CampaignCompleted, v1.CampaignAborted,
	v1.CampaignFailed,
}

var (
	campaignDevices = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwave_campaign_devices",
		Help: "Devices of an UpdateCampaign, all waves summed, by outcome (targeted, succeeded, failed, timed_out, skipped, pending).",
	}, []string{"namespace", "campaign", "outcome"})
	campaignWaveDevices = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwave_campaign_wave_devices",
		Help: "Devices of one wave of an UpdateCampaign, by outcome (targeted, succeeded, failed, timed_out, skipped, pending).",
	}, []string{"namespace", "campaign", "wave", "outcome"})
	campaignPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwave_campaign_phase",
		Help: "Phase of an UpdateCampaign: 1 for the current phase, 0 for every other.",
	}, []string{"namespace", "campaign", "phase"})
	campaignCurrentWave = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwave_campaign_current_wave",
		Help: "Index (from 0) of the wave an UpdateCampaign is rolling out or waiting on.",
	}, []string{"namespace", "campaign"})
	campaignPhaseTransition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwave_campaign_phase_transition_timestamp_seconds",
		Help: "Unix time an UpdateCampaign entered its current phase, as seen by this operator process (completedAt for a campaign first seen ended).",
	}, []string{"namespace", "campaign"})
	campaignFailures = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwave_campaign_failures",
		Help: "Failed devices of an UpdateCampaign, all waves summed, by failure class (release, device, network, unconfirmed, unknown).",
	}, []string{"namespace", "campaign", "class"})
	campaignWaveFailures = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwave_campaign_wave_failures",
		Help: "Failed devices of one wave of an UpdateCampaign, by failure class (release, device, network, unconfirmed, unknown).",
	}, []string{"namespace", "campaign", "wave", "class"})
	campaignRemoteCampaigns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fleetwave_campaign_remote_campaigns",
		Help: "Update Service campaigns the current attempt of a wave created.",
	}, []string{"namespace", "campaign", "wave"})
)

func init() {
	metrics.Registry.MustRegister(campaignDevices, campaignWaveDevices, campaignPhase, campaignCurrentWave,
		campaignPhaseTransition, campaignRemoteCampaigns, campaignFailures, campaignWaveFailures)
}

// failureClassLabel is the class label value of a failure class: its name in lower case.
func failureClassLabel(c rollout.Class) string { return strings.ToLower(c.String()) }

// campaignSeen is what the metrics last showed of a campaign: its phase, since when, and its waves
// (so the series of a wave that left status are removed).
type campaignSeen struct {
	phase v1.CampaignPhase
	since time.Time
	waves []string
}

var seenCampaigns = struct {
	sync.Mutex
	m map[types.NamespacedName]campaignSeen
}{m: map[types.NamespacedName]campaignSeen{}}

// outcomeCounts lists c in the order of campaignOutcomes.
func outcomeCounts(c v1.DeviceCounts) []int64 {
	return []int64{c.Targeted, c.Succeeded, c.Failed, c.TimedOut, c.Skipped, c.Pending}
}

// observeCampaign sets every campaign metric from uc's status.
func observeCampaign(uc *v1.UpdateCampaign, now time.Time) {
	key := types.NamespacedName{Namespace: uc.Namespace, Name: uc.Name}
	st := &uc.Status
	seenCampaigns.Lock()
	defer seenCampaigns.Unlock()
	prev, known := seenCampaigns.m[key]
	next := campaignSeen{phase: st.Phase, since: prev.since}
	if !known || prev.phase != st.Phase {
		next.since = now
		if !known && st.Phase.IsFinal() && st.CompletedAt != nil {
			next.since = st.CompletedAt.Time
		}
	}
	for _, p := range campaignPhases {
		campaignPhase.WithLabelValues(uc.Namespace, uc.Name, string(p)).Set(boolValue(p == st.Phase))
	}
	campaignPhaseTransition.WithLabelValues(uc.Namespace, uc.Name).Set(float64(next.since.UnixNano()) / 1e9)
	campaignCurrentWave.WithLabelValues(uc.Namespace, uc.Name).Set(float64(st.CurrentWave))
	for i, n := range outcomeCounts(st.Totals) {
		campaignDevices.WithLabelValues(uc.Namespace, uc.Name, campaignOutcomes[i]).Set(float64(n))
	}
	for c, n := range classCounts(st.Totals.Failures) {
		campaignFailures.WithLabelValues(uc.Namespace, uc.Name, failureClassLabel(rollout.Class(c))).Set(float64(n))
	}
	current := map[string]bool{}
	for _, w := range st.Waves {
		current[w.Name] = true
		next.waves = append(next.waves, w.Name)
		for i, n := range outcomeCounts(w.DeviceCounts) {
			campaignWaveDevices.WithLabelValues(uc.Namespace, uc.Name, w.Name, campaignOutcomes[i]).Set(float64(n))
		}
		for c, n := range classCounts(w.Failures) {
			campaignWaveFailures.WithLabelValues(uc.Namespace, uc.Name, w.Name, failureClassLabel(rollout.Class(c))).Set(float64(n))
		}
		campaignRemoteCampaigns.WithLabelValues(uc.Namespace, uc.Name, w.Name).Set(float64(w.RemoteCampaigns))
	}
	for _, name := range prev.waves {
		if !current[name] {
			labels := prometheus.Labels{"namespace": uc.Namespace, "campaign": uc.Name, "wave": name}
			campaignWaveDevices.DeletePartialMatch(labels)
			campaignRemoteCampaigns.DeletePartialMatch(labels)
			campaignWaveFailures.DeletePartialMatch(labels)
		}
	}
	seenCampaigns.m[key] = next
}

// forgetCampaign removes every series of a campaign that is gone.
func forgetCampaign(uc *v1.UpdateCampaign) {
	seenCampaigns.Lock()
	defer seenCampaigns.Unlock()
	delete(seenCampaigns.m, types.NamespacedName{Namespace: uc.Namespace, Name: uc.Name})
	labels := prometheus.Labels{"namespace": uc.Namespace, "campaign": uc.Name}
	for _, vec := range []*prometheus.GaugeVec{campaignDevices, campaignWaveDevices, campaignPhase,
		campaignCurrentWave, campaignPhaseTransition, campaignRemoteCampaigns, campaignFailures, campaignWaveFailures} {
		vec.DeletePartialMatch(labels)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
