package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

func TestCampaignOutsideItsWindowWaitsAndStartsWhenItOpens(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 6})
	// 00:59:57 in Berlin, three seconds before the nightly window opens.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	fake := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 2, 0, 59, 57, 0, berlin))
	startOperator(t, ns, operatorOptions{clock: fake})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	uc.Spec.Schedule = &v1.Schedule{Windows: []v1.MaintenanceWindow{
		{Start: "0 1 * * *", Duration: metav1.Duration{Duration: 2 * time.Hour}, TimeZone: "Europe/Berlin"}}}
	create(t, uc)

	waitPhase(t, uc, v1.CampaignScheduled)
	opens := time.Date(2026, 12, 2, 1, 0, 0, 0, berlin)
	if w := uc.Status.Window; w == nil || w.Open || w.OpensAt == nil || !w.OpensAt.Equal(&metav1.Time{Time: opens}) {
		t.Fatalf("status.window %+v, want closed until %s", w, opens)
	}
	if len(remoteCampaignsOf(uc)) != 0 {
		t.Fatal("a remote campaign was created outside the window")
	}
	if ready := findCondition(uc.Status.Conditions, v1.ConditionReady); ready == nil || ready.Reason != "OutsideMaintenanceWindow" {
		t.Errorf("Ready %+v, want reason OutsideMaintenanceWindow", ready)
	}

	fake.SetTime(opens.Add(30 * time.Second))
	waitPhase(t, uc, v1.CampaignCompleted)
	if w := uc.Status.Waves[0]; w.StartedAt == nil || w.StartedAt.Time.Before(opens) {
		t.Errorf("the wave started at %v, before the window opened at %s", w.StartedAt, opens)
	}
	eventually(t, "status.window says open until 03:00", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc)
		w := uc.Status.Window
		return w != nil && w.Open && w.ClosesAt != nil && w.ClosesAt.Time.Equal(opens.Add(2*time.Hour)), fmt.Sprintf("%+v", w)
	})
}
