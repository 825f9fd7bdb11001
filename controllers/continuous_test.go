package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/manifest"
)

func TestContinuousCampaignUpdatesDevicesThatJoinLater(t *testing.T) {
	watched, once := newNamespace(t), newNamespace(t)
	fw := newFleet(t, watched, devices{count: 6})
	fo := newFleet(t, once, devices{count: 6})
	startOperator(t, watched, operatorOptions{})
	startOperator(t, once, operatorOptions{})
	publishedManifest(t, watched, fw)
	publishedManifest(t, once, fo)
	continuous := campaign(watched, wave("canary", count(2)), wave("rest", percent("100%")))
	continuous.Spec.Target.Continuous = true
	create(t, continuous)
	single := campaign(once, wave("canary", count(2)), wave("rest", percent("100%")))
	create(t, single)
	waitPhase(t, continuous, v1.CampaignWatching)
	waitPhase(t, single, v1.CampaignCompleted)

	joinedWatched := newFleet(t, watched, devices{count: 5}).ids
	joinedOnce := newFleet(t, once, devices{count: 5}).ids
	eventually(t, "the continuous campaign updates the devices that joined", func() (bool, string) {
		updated := 0
		for _, id := range joinedWatched {
			if d, _ := service.sim.Device(id); d.InstalledVersion != factoryVersion(t) {
				updated++
			}
		}
		return updated == len(joinedWatched), ""
	})
	eventually(t, "the continuous campaign counts them", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(continuous), continuous)
		late := continuous.Status.Waves[0].LateDevices + continuous.Status.Waves[1].LateDevices
		st := continuous.Status
		return late == 5 && st.Totals.Succeeded == 11 && st.Phase == v1.CampaignWatching,
			fmt.Sprintf("%d late, totals %+v, phase %s", late, st.Totals, st.Phase)
	})
	checkEachDeviceTargetedOnce(t, continuous)

	// The campaign that completed looks no more: after several of the continuous one's looks, the
	// devices that joined its fleet still run what they came with.
	time.Sleep(3 * time.Second)
	for _, id := range joinedOnce {
		if d, _ := service.sim.Device(id); d.InstalledVersion != factoryVersion(t) {
			t.Errorf("device %s joined after the campaign completed and was updated", id)
		}
	}
}

// factoryVersion is the version newFleet's devices run before any update.
func factoryVersion(t *testing.T) uint64 {
	t.Helper()
	v, err := manifest.EncodeVersion("1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	return v
}
