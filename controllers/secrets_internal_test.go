package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

func TestMissingKeyWaitDoubles(t *testing.T) {
	cases := []struct {
		missingFor, first, want time.Duration
	}{
		{0, 0, defaultMissingRetry},
		{3 * time.Second, 0, defaultMissingRetry},
		{20 * time.Second, 0, 20 * time.Second}, // as long as it has been missing: the waits double
		{time.Hour, 0, maxMissingRetry},
		{2 * time.Second, time.Second, 2 * time.Second},
		{0, 10 * time.Minute, 10 * time.Minute}, // a first wait above the cap stands
		{time.Hour, 10 * time.Minute, 10 * time.Minute},
	}
	for _, tc := range cases {
		if got := missingWait(tc.missingFor, tc.first); got != tc.want {
			t.Errorf("missingWait(%v, %v) = %v, want %v", tc.missingFor, tc.first, got, tc.want)
		}
	}
}

func TestStripToMetadataKeepsNameAndLabelsOnly(t *testing.T) {
	objectMeta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: "signing-key", Namespace: "ns", ResourceVersion: "7",
			Labels:        map[string]string{SigningKeyLabel: "true"},
			Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"tls.key":"c2VjcmV0"}}`},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		}
	}
	secret := &corev1.Secret{ObjectMeta: objectMeta(), Data: map[string][]byte{"tls.key": []byte("secret")}, StringData: map[string]string{"k": "v"}}
	cm := &corev1.ConfigMap{ObjectMeta: objectMeta(), Data: map[string]string{"a": "b"}, BinaryData: map[string][]byte{"fw.bin": {1}}}
	partial := &metav1.PartialObjectMetadata{ObjectMeta: objectMeta()}
	for _, obj := range []metav1.Object{secret, cm, partial} {
		out, err := stripToMetadata(obj)
		if err != nil {
			t.Fatal(err)
		}
		m := out.(metav1.Object)
		if m.GetAnnotations() != nil || m.GetManagedFields() != nil {
			t.Errorf("%T keeps annotations %v or managed fields %v", obj, m.GetAnnotations(), m.GetManagedFields())
		}
		if m.GetName() != "signing-key" || m.GetLabels()[SigningKeyLabel] != "true" || m.GetResourceVersion() != "7" {
			t.Errorf("%T lost what a watch needs: %+v", obj, m)
		}
	}
	if secret.Data != nil || secret.StringData != nil || cm.Data != nil || cm.BinaryData != nil {
		t.Errorf("contents kept: Secret %v %v, ConfigMap %v %v", secret.Data, secret.StringData, cm.Data, cm.BinaryData)
	}
	tombstone := toolscache.DeletedFinalStateUnknown{Key: "ns/signing-key"}
	if out, err := stripToMetadata(tombstone); err != nil || out != tombstone {
		t.Errorf("a tombstone came back as %v, %v", out, err)
	}
}
