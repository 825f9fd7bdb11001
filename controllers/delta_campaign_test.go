package controllers_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

func TestCampaignSendsTheDeltaToDevicesOnThePrecursor(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 3, attributes: map[string]string{"ring": "pre"}},
		devices{count: 3, attributes: map[string]string{"ring": "rest"}})
	startOperator(t, ns, operatorOptions{})
	oldData := randomFirmware(t, 16<<10)
	newData := editedFirmware(oldData)
	oldMf := pelionManifest(ns, "fw-1.1.0", "fw-old", "signing-key")
	newMf := pelionManifest(ns, "fw-1.2.0", "fw-new", "signing-key")
	oldMf.Spec.DeviceClass.ModelName, newMf.Spec.DeviceClass.ModelName, newMf.Spec.Version = f.model, f.model, "1.2.0"
	newImg := imageFromConfigMap(ns, "fw-new", "new-bin", "")
	newImg.Spec.DeltaFrom = []v1.DeltaSource{{Image: "fw-old"}}
	create(t, firmwareConfigMap(ns, "old-bin", oldData), firmwareConfigMap(ns, "new-bin", newData),
		imageFromConfigMap(ns, "fw-old", "old-bin", ""), newImg, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), oldMf, newMf)

	// Half the fleet runs the precursor release.
	pre := campaign(ns, wave("all", percent("100%")))
	pre.Name, pre.Spec.ManifestRef.Name, pre.Spec.Target.Filter = "precursor", oldMf.Name, "custom_attributes__ring__eq=pre"
	create(t, pre)
	waitPhase(t, pre, v1.CampaignCompleted)
	eventually(t, "the new release has its delta manifest", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(newMf), newMf)
		return len(newMf.Status.Deltas) == 1 && newMf.Status.Deltas[0].ManifestID != "", fmt.Sprintf("%+v", newMf.Status.Deltas)
	})

	uc := campaign(ns, wave("all", percent("100%")))
	uc.Spec.ManifestRef.Name = newMf.Name
	create(t, uc)
	waitPhase(t, uc, v1.CampaignCompleted)

	onPrecursor := map[string]bool{}
	for _, rc := range remoteCampaignsOf(pre) {
		for _, target := range rc.Targets {
			onPrecursor[target.DeviceID] = true
		}
	}
	sent := map[string]string{}
	for _, rc := range remoteCampaignsOf(uc) {
		for _, target := range rc.Targets {
			sent[target.DeviceID] = target.Payload
			if strings.Contains(rc.Name, ".d0") != onPrecursor[target.DeviceID] {
				t.Errorf("device %s (on the precursor: %v) was in remote campaign %s", target.DeviceID, onPrecursor[target.DeviceID], rc.Name)
			}
		}
	}
	want := sha256.Sum256(newData)
	for _, id := range f.ids {
		wantPayload := map[bool]string{true: "delta", false: "full"}[onPrecursor[id]]
		if sent[id] != wantPayload {
			t.Errorf("device %s (on the precursor: %v) downloaded %q, want %q", id, onPrecursor[id], sent[id], wantPayload)
		}
		if d, _ := service.sim.Device(id); d.FirmwareDigest != want {
			t.Errorf("device %s does not run the new release", id)
		}
	}
	if len(onPrecursor) != 3 || uc.Status.Totals.Succeeded != 6 {
		t.Errorf("%d devices on the precursor, totals %+v; want 3 and 6 succeeded", len(onPrecursor), uc.Status.Totals)
	}
}
