package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

var renderNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at is a time relative to renderNow.
func at(d time.Duration) *metav1.Time {
	t := metav1.NewTime(renderNow.Add(d))
	return &t
}

// fourWaves is a campaign as the API server stores it before the controller writes status: the
// default waves, except that the third needs approval.
func fourWaves() *v1.UpdateCampaign {
	return &v1.UpdateCampaign{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "thermostat-fw-1.1.0", Generation: 1},
		Spec: v1.UpdateCampaignSpec{
			ManifestRef: v1.LocalObjectReference{Name: "thermostat-fw-1.1.0"},
			Waves: []v1.Wave{
				{Name: "canary", Size: intstr.FromInt32(10), Approval: v1.ApprovalAuto},
				{Name: "early", Size: intstr.FromString("10%"), Approval: v1.ApprovalAuto},
				{Name: "half", Size: intstr.FromString("50%"), Approval: v1.ApprovalManual},
				{Name: "rest", Size: intstr.FromString("100%"), Approval: v1.ApprovalAuto},
			},
		},
	}
}

func condition(t, status, reason, message string) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionStatus(status), Reason: reason, Message: message}
}

// soakingEarly is fourWaves with the canary done and the second wave soaking.
func soakingEarly() *v1.UpdateCampaign {
	uc := fourWaves()
	uc.Status = v1.UpdateCampaignStatus{
		ObservedGeneration: 1,
		Phase:              v1.CampaignSoaking,
		Plan:               &v1.CampaignPlan{FleetSize: 1000, WaveSizes: []int64{10, 99, 446, 445}},
		CurrentWave:        1,
		Progress:           "2/4",
		StartedAt:          at(-30 * time.Minute),
		Waves: []v1.WaveStatus{
			{Name: "canary", Phase: v1.WaveSucceeded, DeviceCounts: v1.DeviceCounts{Targeted: 10, Succeeded: 10},
				StartedAt: at(-30 * time.Minute), FinishedAt: at(-25 * time.Minute)},
			{Name: "early", Phase: v1.WaveSoaking, DeviceCounts: v1.DeviceCounts{Targeted: 97, Succeeded: 95, Failed: 1, TimedOut: 1, Skipped: 2},
				StartedAt: at(-20 * time.Minute), FinishedAt: at(-5 * time.Minute), SoakUntil: at(10 * time.Minute)},
		},
		Totals:        v1.DeviceCounts{Targeted: 107, Succeeded: 105, Failed: 1, TimedOut: 1, Skipped: 2},
		ApprovedWaves: []string{"half"},
		Conditions: []metav1.Condition{
			condition(v1.ConditionStalled, "False", "Soaking", "nothing stops the rollout"),
			condition(v1.ConditionReconciling, "True", "Soaking", "not shown"),
			condition(v1.ConditionReady, "False", "Soaking", "wave early soaks until 12:10"),
			condition(v1.ConditionProgressing, "True", "Soaking", "wave early passed, 95 of 97 devices"),
			condition(v1.ConditionPaused, "False", "Soaking", "not paused"),
		},
	}
	return uc
}

// normalized collapses runs of spaces, so cases do not depend on column widths.
func normalized(text string) []string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		lines = append(lines, strings.Join(strings.Fields(line), " "))
	}
	return lines
}

// pausedEarlyAccepted is soakingEarly paused by failures in its second wave (early), with the results of
// early and half accepted and half and rest approved.
func pausedEarlyAccepted() *v1.UpdateCampaign {
	uc := soakingEarly()
	uc.Status.Phase = v1.CampaignPaused
	uc.Status.Waves[1].Phase = v1.WaveFailed
	uc.Status.ApprovedWaves = []string{"half", "rest"}
	uc.Status.AcceptedWaves = []string{"early", "half"}
	return uc
}

// failedAfterARetry is soakingEarly failed at its second wave, with an abort and a retry (attempt 2)
// requested, and its spec paused since the controller last saw it (generation 3, observed 2).
func failedAfterARetry() *v1.UpdateCampaign {
	uc := soakingEarly()
	uc.Generation = 3
	uc.Spec.Paused = true
	uc.Status.ObservedGeneration = 2
	uc.Status.Phase = v1.CampaignFailed
	uc.Status.Abort = true
	uc.Status.Attempt = 2
	uc.Status.CompletedAt = at(-time.Minute)
	uc.Status.Waves[1].Phase = v1.WaveFailed
	uc.Status.Conditions = []metav1.Condition{
		condition(v1.ConditionStalled, "True", v1.ReasonSuccessThresholdNotMet, "wave early: 95 of 99 succeeded, below 97"),
	}
	return uc
}

type renderCase struct {
	name   string
	uc     *v1.UpdateCampaign
	want   []string // lines that must appear, with spaces collapsed
	absent []string // substrings that must not appear
}

// renderCampaignCases are campaigns at points of their life, with what `fleetwave campaign` shows of each.
func renderCampaignCases() []renderCase {
	return []renderCase{
		{
			name: "not reconciled yet",
			uc:   fourWaves(),
			want: []string{
				"UpdateCampaign: fleet/thermostat-fw-1.1.0",
				"Manifest: thermostat-fw-1.1.0",
				"Phase: - (not reconciled yet)",
				"Wave: - (canary)",
				"Reconciling: the controller has not yet seen generation 1 (status describes generation 0)",
				"WAVE PHASE APPROVAL PLANNED TARGETED SUCCEEDED FAILED TIMED OUT PENDING STARTED FINISHED SOAK UNTIL",
				"canary Pending Auto - - - - - - - - -",
				"half Pending Manual - - - - - - - - -",
				"Totals: targeted 0, succeeded 0, failed 0, timed out 0, pending 0, skipped 0",
				"none yet: the controller has not reported on this campaign",
			},
			absent: []string{"Fleet:", "Started:", "Requested:", "Paused:"},
		},
		{
			name: "soaking, next wave approved ahead",
			uc:   soakingEarly(),
			want: []string{
				"Phase: Soaking",
				"Wave: 2/4 (early)",
				"Fleet: 1000 devices planned",
				"Started: 30m ago",
				"canary Succeeded Auto 10 10 10 0 0 0 30m ago 25m ago -",
				"early Soaking Auto 99 97 95 1 1 0 20m ago 5m ago in 10m",
				"half Pending Manual (approved) 446 - - - - - - - -",
				"rest Pending Auto 445 - - - - - - - -",
				"Totals: targeted 107, succeeded 105, failed 1, timed out 1, pending 0, skipped 2",
				"Conditions:",
				"Ready False Soaking wave early soaks until 12:10",
				"Progressing True Soaking wave early passed, 95 of 97 devices",
				"Paused False Soaking not paused",
				"Stalled False Soaking nothing stops the rollout",
			},
			absent: []string{"Reconciling", "not reconciled", "none yet", "Requested:"},
		},
		{
			name: "paused by failures, the wave's result accepted",
			uc:   pausedEarlyAccepted(),
			want: []string{
				"Phase: Paused",
				"canary Succeeded Auto 10 10 10 0 0 0 30m ago 25m ago -",
				"early Failed Auto (accepted) 99 97 95 1 1 0 20m ago 5m ago in 10m",
				"half Pending Manual (approved, accepted) 446 - - - - - - - -",
				"rest Pending Auto 445 - - - - - - - -",
			},
			absent: []string{"Requested:"},
		},
		{
			name: "failed after an abort and a retry, spec changed since",
			uc:   failedAfterARetry(),
			want: []string{
				"Phase: Failed",
				"Finished: 60s ago",
				"Paused: spec.paused is true",
				"Requested: abort, retry attempt 2",
				"Reconciling: the controller has not yet seen generation 3 (status describes generation 2)",
				"early Failed Auto 99 97 95 1 1 0 20m ago 5m ago in 10m",
				"Stalled True SuccessThresholdNotMet wave early: 95 of 99 succeeded, below 97",
			},
			absent: []string{"Ready ", "Progressing True"},
		},
	}
}

func TestRenderCampaign(t *testing.T) {
	for _, tt := range renderCampaignCases() {
		t.Run(tt.name, func(t *testing.T) {
			got := renderCampaign(tt.uc, renderNow)
			lines := normalized(got)
			for _, want := range tt.want {
				found := false
				for _, line := range lines {
					if line == want {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("missing line %q in:\n%s", want, got)
				}
			}
			for _, absent := range tt.absent {
				if strings.Contains(got, absent) {
					t.Errorf("unexpected %q in:\n%s", absent, got)
				}
			}
		})
	}
}

func TestRenderCampaignOrdersConditions(t *testing.T) {
	got := renderCampaign(soakingEarly(), renderNow)
	order := []string{"\n  Ready ", "\n  Progressing ", "\n  Paused ", "\n  Stalled "}
	last := -1
	for _, c := range order {
		i := strings.Index(got, c)
		if i <= last {
			t.Fatalf("conditions not in the order Ready, Progressing, Paused, Stalled:\n%s", got)
		}
		last = i
	}
}

func TestKubeconfigNamespace(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	const config = `apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: sre
  user: {token: not-a-real-token}
contexts:
- name: ops
  context: {cluster: lab, user: sre, namespace: fleet}
- name: bare
  context: {cluster: lab, user: sre}
current-context: ops
`
	if err := os.WriteFile(kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts kubeOptions
		want string
	}{
		{"the current context's namespace", kubeOptions{kubeconfig: kubeconfig}, "fleet"},
		{"--namespace wins", kubeOptions{kubeconfig: kubeconfig, namespace: "staging"}, "staging"},
		{"a context without one: default", kubeOptions{kubeconfig: kubeconfig, context: "bare"}, "default"},
		{"--namespace with --context", kubeOptions{kubeconfig: kubeconfig, context: "bare", namespace: "staging"}, "staging"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := tt.opts.clientConfig().Namespace()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("namespace %q, want %q", got, tt.want)
			}
		})
	}

	missing := kubeOptions{kubeconfig: kubeconfig, context: "nowhere"}
	if _, _, err := missing.connect("uc"); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("connect with an unknown context: error %v, want one naming the context", err)
	}
}

func TestRenderShowsFailureClassesDeferralAndRollForward(t *testing.T) {
	uc := fourWaves()
	uc.Status.Phase = v1.CampaignFailed
	uc.Status.Waves = []v1.WaveStatus{{Name: "canary", Phase: v1.WaveFailed, DeviceCounts: v1.DeviceCounts{
		Targeted: 10, Succeeded: 6, Failed: 4, Deferred: 2, Queued: 3, Failures: &v1.FailureCounts{Release: 1, Network: 3}}}}
	uc.Spec.Rate = &v1.Rate{MaxDevicesPerMinute: 5}
	uc.Status.Totals = uc.Status.Waves[0].DeviceCounts
	uc.Status.RolledForwardBy = "thermostat-fw-1.1.0-rollforward"
	out := renderCampaign(uc, time.Now())
	for _, want := range []string{
		"Failures by class: network 3, release 1\n",
		"Deferred: 2 devices another campaign holds",
		"Queued: 3 devices wait for spec.rate (5 a minute at most)",
		"Rolled forward by: updatecampaign thermostat-fw-1.1.0-rollforward\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not say %q:\n%s", want, out)
		}
	}
	notes := strings.Join(failuresNote(waveRows(uc)[0], time.Now()), " ") + " " + strings.Join(deferredNote(waveRows(uc)[0], time.Now()), " ")
	if notes != "4 failed (network 3, release 1) 2 deferred 3 queued" {
		t.Errorf("wave notes %q", notes)
	}
}

func TestRenderShowsTheWindow(t *testing.T) {
	now := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	uc := fourWaves()
	uc.Spec.Schedule = &v1.Schedule{}
	uc.Status.Window = &v1.WindowStatus{OpensAt: &metav1.Time{Time: now.Add(3 * time.Hour)}}
	if out := renderCampaign(uc, now); !strings.Contains(out, "closed, opens in 3h (2026-12-02T01:00:00Z)") {
		t.Errorf("status of a closed schedule:\n%s", out)
	}
	uc.Status.Window = &v1.WindowStatus{Open: true, ClosesAt: &metav1.Time{Time: now.Add(90 * time.Minute)}}
	if out := renderCampaign(uc, now); !strings.Contains(out, "open, closes in 90m (2026-12-01T23:30:00Z)") {
		t.Errorf("status of an open schedule:\n%s", out)
	}
}
