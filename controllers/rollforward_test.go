package controllers_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"maps"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// badRelease is a Manifest for the fleet at version 1.0.5, signed with a key no device trusts.
func badRelease(t *testing.T, ns string, f *fleet) *v1.Manifest {
	t.Helper()
	_, keyPEM, certPEM, err := newSigningKey(func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	if err != nil {
		t.Fatal(err)
	}
	mf := pelionManifest(ns, "fw-bad", "fw", "stranger-key")
	mf.Spec.Version = "1.0.5"
	mf.Spec.DeviceClass.ModelName = f.model
	create(t, tlsSecret(ns, "stranger-key", keyPEM, certPEM), mf)
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	return mf
}

// pinnedBy is the set of devices a campaign's remote campaigns selected.
func pinnedBy(uc *v1.UpdateCampaign) map[string]bool {
	ids := map[string]bool{}
	for _, rc := range remoteCampaignsOf(uc) {
		for _, target := range rc.Targets {
			ids[target.DeviceID] = true
		}
	}
	return ids
}

func TestRollForwardSendsTheFailedReleasesDevicesAKnownGoodOne(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 12})
	startOperator(t, ns, operatorOptions{})
	good := publishedManifest(t, ns, f) // 1.1.0, signed with the key the devices trust
	bad := badRelease(t, ns, f)
	uc := campaign(ns, wave("canary", count(3)), wave("rest", percent("100%")))
	uc.Spec.ManifestRef.Name = bad.Name
	uc.Spec.FailurePolicy = v1.FailurePolicy{Action: v1.FailureActionRollForward,
		RollForward: &v1.RollForwardPolicy{ManifestRef: v1.LocalObjectReference{Name: good.Name}}}
	create(t, uc)

	waitPhase(t, uc, v1.CampaignFailed)
	eventually(t, "the roll-forward is recorded", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc)
		return uc.Status.RolledForwardBy == v1.RollForwardName(uc.Name), uc.Status.RolledForwardBy
	})
	child := &v1.UpdateCampaign{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: uc.Status.RolledForwardBy}}
	waitPhase(t, child, v1.CampaignCompleted)
	if !metav1.IsControlledBy(child, uc) {
		t.Errorf("the roll-forward campaign's owners %+v do not name %s", child.OwnerReferences, uc.Name)
	}

	tried := pinnedBy(uc)
	if len(tried) == 0 || len(tried) > 3 || uc.Status.Waves[1].StartedAt != nil {
		t.Fatalf("the failed release reached %d devices (rest started: %v), want the canary's alone", len(tried), uc.Status.Waves[1].StartedAt != nil)
	}
	if got := pinnedBy(child); !maps.Equal(got, tried) {
		t.Errorf("rolled forward %v, want exactly the devices the failed release reached %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tried)))
	}
	if child.Status.Totals.Succeeded != int64(len(tried)) {
		t.Errorf("roll-forward counts %+v, want %d succeeded", child.Status.Totals, len(tried))
	}
	updated := 0
	for _, id := range f.ids {
		d, _ := service.sim.Device(id)
		if d.InstalledVersion == uint64(good.Status.SequenceNumber) {
			updated++
			if !tried[id] {
				t.Errorf("device %s runs the known-good release without having met the failed one", id)
			}
		}
	}
	if updated != len(tried) {
		t.Errorf("%d devices run the known-good release, want %d", updated, len(tried))
	}
	waitEvent(t, uc, "UpdateCampaign", "Normal", v1.EventRolledForward)
}

func TestRollForwardToAnOlderManifestIsBlocked(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 4, distrust: true})
	startOperator(t, ns, operatorOptions{})
	older := publishedManifest(t, ns, f) // 1.1.0
	newer := pelionManifest(ns, "fw-1.2.0", "fw", "signing-key")
	newer.Spec.Version, newer.Spec.DeviceClass.ModelName = "1.2.0", f.model
	create(t, newer)
	waitCondition(t, newer, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	uc := campaign(ns, wave("all", percent("100%")))
	uc.Spec.ManifestRef.Name = newer.Name
	uc.Spec.FailurePolicy = v1.FailurePolicy{Action: v1.FailureActionRollForward,
		RollForward: &v1.RollForwardPolicy{ManifestRef: v1.LocalObjectReference{Name: older.Name}}}
	create(t, uc)

	waitPhase(t, uc, v1.CampaignFailed)
	waitEvent(t, uc, "UpdateCampaign", "Warning", v1.EventRollForwardBlocked)
	if uc.Status.RolledForwardBy != "" {
		t.Errorf("rolled forward to an older release: %s", uc.Status.RolledForwardBy)
	}
	var list v1.UpdateCampaignList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil || len(list.Items) != 1 {
		t.Errorf("%d campaigns in the namespace (err %v), want the failed one alone", len(list.Items), err)
	}
}
