package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

func TestRateLimitPacesTheWave(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 25})
	fake := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	startOperator(t, ns, operatorOptions{clock: fake})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	uc.Spec.Rate = &v1.Rate{MaxDevicesPerMinute: 10}
	create(t, uc)

	// Each minute of the operator's clock sends at most ten devices; the wave goes on until all went.
	for minute, want := range []int64{10, 20, 25} {
		eventually(t, fmt.Sprintf("minute %d: %d devices sent", minute, want), func() (bool, string) {
			_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc)
			if len(uc.Status.Waves) == 0 {
				return false, "not reconciled yet"
			}
			w := uc.Status.Waves[0]
			return w.Targeted == want && w.Queued == 25-want, fmt.Sprintf("targeted %d, queued %d, phase %s", w.Targeted, w.Queued, uc.Status.Phase)
		})
		if got := int64(len(pinnedBy(uc))); got != want {
			t.Fatalf("minute %d: the remote campaigns pin %d devices, want %d", minute, got, want)
		}
		if minute < 2 && uc.Status.Phase != v1.CampaignProgressing {
			t.Fatalf("minute %d: phase %s with devices queued", minute, uc.Status.Phase)
		}
		fake.SetTime(fake.Now().Add(time.Minute))
	}
	waitPhase(t, uc, v1.CampaignCompleted)
	for _, rc := range remoteCampaignsOf(uc) {
		if n := len(rc.Targets); n > 10 {
			t.Errorf("remote campaign %s pins %d devices, more than a minute's worth", rc.Name, n)
		}
	}
	checkEachDeviceTargetedOnce(t, uc)
}
