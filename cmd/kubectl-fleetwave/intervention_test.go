package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// checkEntries compares a campaign's interventions with want, ignoring times, which must be now.
func checkEntries(t *testing.T, got, want []v1.Intervention) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d interventions %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		e := got[i]
		if since := time.Since(e.Time.Time); since < -time.Minute || since > time.Minute {
			t.Errorf("interventions[%d] made at %v, not now", i, e.Time)
		}
		e.Time = metav1.Time{}
		if e != want[i] {
			t.Errorf("interventions[%d] = %+v, want %+v", i, e, want[i])
		}
	}
}

// TestVerbsRecordWhoAndWhy runs approve, abort and retry and checks that each recorded one entry in
// status.interventions with the user the API server authenticated (here by client certificate),
// the wave and --reason, and that a command that changes nothing records nothing.
func TestVerbsRecordWhoAndWhy(t *testing.T) {
	key := createCampaign(t)
	ns := key.Namespace
	const user = "cli-admin" // adminKubeconfig's user
	mustRunAs(t, adminKubeconfig, "approve", "uc", "half", "-n", ns, "--reason", "canary clean for a day")
	mustRunAs(t, adminKubeconfig, "approve", "uc", "half", "-n", ns, "--reason", "again")
	setStatus(t, key, failurePause(1, v1.ReasonFailureBudgetExceeded, v1.DeviceCounts{Targeted: 100, Succeeded: 80, Failed: 20}, true))
	mustRunAs(t, adminKubeconfig, "approve", "uc", "-n", ns)
	mustRunAs(t, adminKubeconfig, "abort", "uc", "-n", ns, "--reason", "battery drain reports")
	mustRunAs(t, adminKubeconfig, "abort", "uc", "-n", ns)
	setStatus(t, key, ended(v1.CampaignAborted, v1.ReasonAborted, "aborted"))
	mustRunAs(t, adminKubeconfig, "retry", "uc", "-n", ns, "--reason", "fixed the reboot loop")

	st := getCampaign(t, key).Status
	checkEntries(t, st.Interventions, []v1.Intervention{
		{Action: v1.InterventionApprove, Wave: "half", User: user, Reason: "canary clean for a day"},
		{Action: v1.InterventionAccept, Wave: "early", User: user},
		{Action: v1.InterventionAbort, User: user, Reason: "battery drain reports"},
		{Action: v1.InterventionRetry, Wave: "early", User: user, Reason: "fixed the reboot loop"},
	})
	out := mustRunAs(t, adminKubeconfig, "status", "uc", "-n", ns)
	for _, want := range []string{
		"WHEN USER ACTION WAVE REASON",
		"cli-admin Approve half canary clean for a day",
		"cli-admin Accept early -",
		"cli-admin Abort - battery drain reports",
	} {
		if !containsFields(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestVerbsNeedToKnowTheUser checks that abort does not act when it cannot learn from the API
// server who the user is: the entry could not name them.
func TestVerbsNeedToKnowTheUser(t *testing.T) {
	cfg, err := clientcmd.LoadFromFile(adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, cluster := range cfg.Clusters {
		cluster.Server = "https://127.0.0.1:1" // nothing listens there
	}
	unreachable := filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, unreachable); err != nil {
		t.Fatal(err)
	}
	_, err = runAs(t, unreachable, "abort", "uc", "-n", "fleet")
	if err == nil || !strings.HasPrefix(err.Error(), "abort updatecampaign fleet/uc: asking the API server who you are (SelfSubjectReview): ") {
		t.Errorf("abort without an API server: error %v, want one saying it could not learn who you are", err)
	}
}

// TestTooManyInterventions fills status.interventions and checks that a further approval is
// refused with a message that names the field, rather than dropping an older entry.
func TestTooManyInterventions(t *testing.T) {
	key := createCampaign(t)
	setStatus(t, key, func(st *v1.UpdateCampaignStatus) {
		for i := range v1.MaxInterventions {
			st.Interventions = append(st.Interventions, v1.Intervention{Action: v1.InterventionAbort, User: fmt.Sprint("u", i), Time: metav1.Now()})
		}
	})
	_, err := runAs(t, adminKubeconfig, "approve", "uc", "half", "-n", key.Namespace)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.interventions") {
		t.Errorf("the 101st intervention: error %v, want Invalid naming status.interventions", err)
	}
	var cmdErr *commandError
	if !errors.As(err, &cmdErr) || cmdErr.verb != "approve" {
		t.Errorf("error %v does not say approve failed", err)
	}
}

// TestRenderInterventions checks the Interventions table of `status`: the latest ten entries,
// oldest first, with how many earlier ones are not shown, and what people wrote made safe for a
// terminal.
func TestRenderInterventions(t *testing.T) {
	uc := soakingEarly()
	if got := renderCampaign(uc, renderNow); strings.Contains(got, "Interventions:") {
		t.Errorf("a campaign without interventions shows the table:\n%s", got)
	}
	for i := range 11 {
		uc.Status.Interventions = append(uc.Status.Interventions, v1.Intervention{
			Action: v1.InterventionRetry, Wave: "early", User: fmt.Sprint("sre-", i), Time: *at(time.Duration(i-60) * time.Minute)})
	}
	uc.Status.Interventions = append(uc.Status.Interventions, v1.Intervention{
		Action: v1.InterventionApprove, Wave: "half", User: "system:serviceaccount:argocd:argocd-server",
		Reason: "ok\tby\x1b[31m me\nand you", Time: *at(-time.Minute)})

	got := renderCampaign(uc, renderNow)
	want := []string{
		"Interventions:",
		"2 earlier not shown (status.interventions holds them all)",
		"WHEN USER ACTION WAVE REASON",
		"58m ago sre-2 Retry early -",
		"50m ago sre-10 Retry early -",
		"60s ago system:serviceaccount:argocd:argocd-server Approve half ok?by?[31m me?and you",
	}
	lines := normalized(got)
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("missing line %q in:\n%s", w, got)
		}
	}
	for _, absent := range []string{"sre-1 ", "\x1b", "\t"} {
		if strings.Contains(got[strings.Index(got, "Interventions:"):], absent) {
			t.Errorf("unexpected %q in the interventions:\n%s", absent, got)
		}
	}
}
