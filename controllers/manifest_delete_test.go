package controllers_test

import (
	"context"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// A Manifest whose status lost its manifestID is deleted while the Update Service is down: the
// remote manifest can only be found by name, and the lookup fails. The finalizer must stay until the
// service is back and the remote manifest is deleted; dropping it would leak the remote manifest.
func TestDeletingAManifestWithLostStatusDuringAnOutageKeepsTheFinalizer(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	cm, img := readyImageObjects(ns, 61)
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
	create(t, cm, img, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), mf)
	startOperator(t, ns, operatorOptions{})
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	remoteID := mf.Status.ManifestID
	if _, err := service.client.GetFirmwareManifest(ctx, remoteID); err != nil {
		t.Fatalf("the published manifest is not in the service: %v", err)
	}

	// The service goes down first, so no reconcile can find the manifest again by name and put the
	// id back before the deletion.
	service.down(t)
	down := true
	t.Cleanup(func() {
		if down {
			service.up(t)
		}
	})
	mf.Status.ManifestID = ""
	if err := env.Client.Status().Update(ctx, mf); err != nil {
		t.Fatalf("clearing status.manifestID: %v", err)
	}
	count := reconciles(t, "manifest")
	if err := env.Client.Delete(ctx, mf); err != nil {
		t.Fatal(err)
	}
	waitReconciled(t, "manifest", count)
	waitCondition(t, mf, v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonUpdateServiceUnavailable)
	// And it stays so through the retries that follow.
	waitReconciled(t, "manifest", reconciles(t, "manifest"))
	var held v1.Manifest
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(mf), &held); err != nil {
		t.Fatalf("the Manifest went while the service was down: %v", err)
	}
	if !controllerutil.ContainsFinalizer(&held, "update.fleetwave.io/remote-manifest") || held.DeletionTimestamp.IsZero() {
		t.Fatalf("during the outage: finalizers %v, deletion %v; want the finalizer held", held.Finalizers, held.DeletionTimestamp)
	}
	if held.Status.ManifestID != "" {
		t.Fatalf("status.manifestID came back as %q; the test needs it lost", held.Status.ManifestID)
	}

	service.up(t)
	down = false
	eventually(t, "the Manifest gone", func() (bool, string) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(mf), &v1.Manifest{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if _, err := service.client.GetFirmwareManifest(ctx, remoteID); !pelion.IsNotFound(err) {
		t.Errorf("the remote manifest %s after the Manifest went: %v, want it deleted", remoteID, err)
	}
}
