package controllers_test

import (
	"context"
	"slices"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

func TestPausedCampaignPreviewsThePlanItThenRollsOut(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 30})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	// A first campaign updates a third of the fleet, so the preview has devices already updated.
	first := campaign(ns, wave("all", count(10)), wave("none", percent("100%")))
	first.Name = "first"
	first.Spec.Waves[1].Approval = v1.ApprovalManual
	create(t, first)
	waitPhase(t, first, v1.CampaignWaitingForApproval)

	uc := campaign(ns, wave("canary", count(3)), wave("half", percent("50%")), wave("rest", percent("100%")))
	uc.Spec.Paused = true
	create(t, uc)
	eventually(t, "the paused campaign is planned", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc)
		return uc.Status.Plan != nil, string(uc.Status.Phase)
	})
	preview := *uc.Status.Plan
	if preview.FleetSize != 30 || !slices.Equal(preview.WaveSizes, []int64{3, 15, 12}) {
		t.Fatalf("preview %+v: want 30 devices as 3, 15 and 12", preview)
	}
	var updated int64
	for _, n := range preview.AlreadyUpdated {
		updated += n
	}
	if len(preview.AlreadyUpdated) != 3 || updated != 10 {
		t.Fatalf("preview counts %v devices already updated, want 10 across the 3 waves", preview.AlreadyUpdated)
	}
	if len(remoteCampaignsOf(uc)) != 0 || uc.Status.StartedAt != nil {
		t.Fatal("previewing the plan sent the update")
	}

	patch := client.MergeFrom(uc.DeepCopy())
	uc.Spec.Paused = false
	if err := env.Client.Patch(context.Background(), uc, patch); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, uc, v1.CampaignCompleted)
	for k, w := range uc.Status.Waves {
		if w.Targeted+w.Skipped != preview.WaveSizes[k] || w.AlreadyUpdated != preview.AlreadyUpdated[k] {
			t.Errorf("wave %s rolled out %d devices (%d already updated), the preview said %d (%d)",
				w.Name, w.Targeted+w.Skipped, w.AlreadyUpdated, preview.WaveSizes[k], preview.AlreadyUpdated[k])
		}
	}
}
