package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// readyManifest stores a Manifest with the status the controller writes once it is published.
func readyManifest(t *testing.T, ns, name, version string, sequence int64) {
	t.Helper()
	mf := &v1.Manifest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.ManifestSpec{
			FirmwareImageRef: v1.LocalObjectReference{Name: "fw"}, Version: version,
			Vendor: v1.VendorSpec{Domain: "example.com"}, DeviceClass: v1.DeviceClassSpec{ModelName: "thermostat"},
			SigningKey: v1.SigningKeySpec{SecretRef: v1.LocalObjectReference{Name: "key"}},
		},
	}
	ctx := context.Background()
	if err := env.Client.Create(ctx, mf); err != nil {
		t.Fatal(err)
	}
	mf.Status.SequenceNumber = sequence
	meta.SetStatusCondition(&mf.Status.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonPublished, Message: "published"})
	if err := env.Client.Status().Update(ctx, mf); err != nil {
		t.Fatal(err)
	}
}

func TestRollForward(t *testing.T) {
	key := createCampaign(t)
	ns := key.Namespace
	setStatus(t, key, progressing(1))
	readyManifest(t, ns, "thermostat-fw-1.1.0", "1.1.0", 1<<32+1<<16)
	readyManifest(t, ns, "thermostat-fw-1.0.9", "1.0.9", 1<<32+9)
	readyManifest(t, ns, "thermostat-fw-1.1.1", "1.1.1", 1<<32+1<<16+1)

	if _, err := runAs(t, adminKubeconfig, "roll-forward", "uc", "-n", ns, "--to", "thermostat-fw-1.0.9"); !errors.Is(err, errNotNewer) {
		t.Errorf("rolling forward to an older release: error %v, want errNotNewer", err)
	}
	if _, err := runAs(t, adminKubeconfig, "roll-forward", "uc", "-n", ns); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Errorf("roll-forward without --to: error %v, want one naming --to", err)
	}
	if uc := getCampaign(t, key); uc.Status.Abort {
		t.Fatal("a refused roll-forward aborted the campaign")
	}

	out := mustRunAs(t, adminKubeconfig, "roll-forward", "uc", "-n", ns, "--to", "thermostat-fw-1.1.1")
	if !strings.Contains(out, "created updatecampaign "+ns+"/uc-rollforward") {
		t.Errorf("roll-forward printed %q", out)
	}
	uc := getCampaign(t, key)
	if !uc.Status.Abort || len(uc.Status.Interventions) != 1 || uc.Status.Interventions[0].Reason != "roll forward to thermostat-fw-1.1.1" {
		t.Errorf("campaign status abort %t, interventions %+v: want aborted, with the reason recorded", uc.Status.Abort, uc.Status.Interventions)
	}
	var child v1.UpdateCampaign
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "uc-rollforward"}, &child); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(&child, uc) || child.Spec.Target.RolloutOf != "uc" || child.Spec.ManifestRef.Name != "thermostat-fw-1.1.1" {
		t.Errorf("roll-forward campaign: owners %+v, rolloutOf %q, manifest %q", child.OwnerReferences, child.Spec.Target.RolloutOf, child.Spec.ManifestRef.Name)
	}
	if out := mustRunAs(t, adminKubeconfig, "roll-forward", "uc", "-n", ns, "--to", "thermostat-fw-1.1.1"); !strings.Contains(out, "already rolls") {
		t.Errorf("roll-forward again printed %q", out)
	}
}
