package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels that put a Secret or a ConfigMap in the operator's view. The operator caches the metadata of
// labelled objects only, so that creating or changing one wakes the objects that use it at once; it
// reads the contents of any, labelled or not, with a direct GET when it needs them, and looks again
// for a missing one with backoff.
const (
	// SigningKeyLabel marks a Secret holding a manifest signing key; `fleetwave init` sets it. Such
	// Secrets are watched only with Options.WatchSigningKeySecrets (a namespaced install).
	SigningKeyLabel = "update.fleetwave.io/signing-key"
	// FirmwareImageLabel marks a ConfigMap holding a firmware binary for a FirmwareImage.
	FirmwareImageLabel = "update.fleetwave.io/firmware-image"
)

// CacheOptions are the settings of the manager's cache that the watches in this package are written
// for; the operator and the tests both use them. The cache holds:
//   - the fleetwave kinds, without managedFields (their annotations stay: the reconcilers write whole
//     objects back with Update when they add or remove a finalizer, and dropping annotations there,
//     kubectl's last-applied-configuration among them, would delete them from the API server);
//   - the metadata of labelled ConfigMaps and, with watchSigningKeySecrets (Options.WatchSigningKeySecrets),
//     of labelled Secrets only, without annotations (a `kubectl apply` of a Secret leaves its data in
//     last-applied-configuration) or managedFields, and never contents. Without it no Secret is
//     cached: nothing watches them, and the client reads them directly (ClientOptions).
//
// namespaces, when not empty, limits the cache, and so every watch, to those namespaces.
func CacheOptions(namespaces []string, watchSigningKeySecrets bool) cache.Options {
	o := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {
				Label:     labels.SelectorFromSet(labels.Set{FirmwareImageLabel: "true"}),
				Transform: stripToMetadata,
			},
		},
	}
	if watchSigningKeySecrets {
		o.ByObject[&corev1.Secret{}] = cache.ByObject{
			Label:     labels.SelectorFromSet(labels.Set{SigningKeyLabel: "true"}),
			Transform: stripToMetadata,
		}
	}
	if len(namespaces) > 0 {
		o.DefaultNamespaces = make(map[string]cache.Config, len(namespaces))
		for _, ns := range namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}

// ClientOptions make the manager's client read Secrets and ConfigMaps from the API server, never
// from the cache: a cached read would start an informer on their full contents.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{
		DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
	}}
}

// stripToMetadata keeps of a Secret or ConfigMap what a watch needs: its name, labels and versions.
// The watches ask for metadata only; the contents go too should anything ever start an informer on
// the full objects.
func stripToMetadata(in any) (any, error) {
	switch o := in.(type) {
	case *corev1.Secret:
		o.Data, o.StringData = nil, nil
	case *corev1.ConfigMap:
		o.Data, o.BinaryData = nil, nil
	}
	if obj, err := meta.Accessor(in); err == nil {
		obj.SetAnnotations(nil)
		obj.SetManagedFields(nil)
	}
	return in, nil
}
