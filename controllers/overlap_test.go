package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestOverlappingCampaignsNeverPinADeviceTogether(t *testing.T) {
	ns := newNamespace(t)
	// Offline devices keep the first campaign's remote campaigns active until its device timeout.
	f := newFleet(t, ns, devices{count: 10}, devices{count: 10, offline: true})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	first := campaign(ns, wave("all", percent("100%")))
	first.Name = "first"
	first.Spec.DeviceTimeout = &metav1.Duration{Duration: 4 * time.Second}
	create(t, first)
	eventually(t, "the first campaign's online devices succeed", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(first), first)
		return first.Status.Totals.Succeeded == 10, string(first.Status.Phase)
	})

	second := campaign(ns, wave("all", percent("100%")))
	second.Name = "second"
	second.Spec.DeviceTimeout = &metav1.Duration{Duration: 2 * time.Second}
	create(t, second)
	eventually(t, "the second campaign defers the devices the first one pins", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(second), second)
		w := second.Status.Waves
		return len(w) == 1 && w[0].StartedAt != nil, string(second.Status.Phase)
	})
	if w := second.Status.Waves[0]; first.Status.CompletedAt == nil && (w.Deferred != 10 || w.AlreadyUpdated != 10 || w.Targeted != 0) {
		t.Fatalf("second campaign's wave while the first runs: %+v, want the 10 updated skipped and the 10 pinned deferred", w.DeviceCounts)
	}

	eventually(t, "the deferred devices are sent once the first campaign let them go", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(second), second)
		return second.Status.Totals.Deferred == 0 && second.Status.Totals.Targeted == 10, fmt.Sprintf("%+v %s", second.Status.Totals, second.Status.Phase)
	})
	_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(first), first)
	released := first.Status.Waves[0].FinishedAt
	if released == nil {
		t.Fatal("the second campaign sent devices the first one had not finished with")
	}
	for _, rc := range remoteCampaignsOf(second) {
		if rc.CreatedAt.Before(released.Time) {
			t.Errorf("remote campaign %s was created at %s, before the first campaign let its devices go at %s", rc.Name, rc.CreatedAt, released.Time)
		}
	}
	if got := pinnedBy(second); len(got) != 10 {
		t.Errorf("the second campaign pinned %d devices, want the 10 it deferred", len(got))
	}
}
