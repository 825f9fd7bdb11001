package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// Field indexes let a watch on a referenced object (a Secret, a ConfigMap, a FirmwareImage) find the
// objects that reference it without listing everything.
const (
	indexManifestImage    = "spec.firmwareImageRef.name"
	indexManifestSecret   = "spec.signingKey.secretRef.name" //nolint:gosec // a field path, not a credential
	indexImageConfigMap   = "spec.source.configMap.name"
	indexCampaignManifest = "spec.manifestRef.name"
)

// SetupIndexes registers the field indexes the reconcilers query. Call it once per manager, before
// the reconcilers are set up.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1.Manifest{}, indexManifestImage, func(o client.Object) []string {
		return []string{o.(*v1.Manifest).Spec.FirmwareImageRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &v1.Manifest{}, indexManifestSecret, func(o client.Object) []string {
		return []string{o.(*v1.Manifest).Spec.SigningKey.SecretRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &v1.FirmwareImage{}, indexImageConfigMap, func(o client.Object) []string {
		if ref := o.(*v1.FirmwareImage).Spec.Source.ConfigMap; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &v1.UpdateCampaign{}, indexCampaignManifest, func(o client.Object) []string {
		return []string{o.(*v1.UpdateCampaign).Spec.ManifestRef.Name}
	})
}

// referencing maps a watched object to the objects of list's kind in its namespace that name it
// through index, so a change to a Secret or a FirmwareImage wakes exactly the objects that use it.
func referencing(c client.Client, list client.ObjectList, index string) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		found := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, found, client.InNamespace(obj.GetNamespace()),
			client.MatchingFields{index: obj.GetName()}); err != nil {
			log.FromContext(ctx).Error(err, "Listing referencing objects", "index", index, "name", obj.GetName())
			return nil
		}
		var reqs []reconcile.Request
		_ = meta.EachListItem(found, func(item runtime.Object) error {
			o := item.(client.Object)
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
			return nil
		})
		return reqs
	}
}
