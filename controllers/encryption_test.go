package controllers_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/manifest"
)

func TestEncryptedImageRollsOutAndDevicesCheckThePlaintext(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 4})
	startOperator(t, ns, operatorOptions{})
	plain := randomFirmware(t, 5000)
	img := imageFromConfigMap(ns, "fw", "fw-bin", "")
	img.Spec.Encrypt = true
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
	mf.Spec.DeviceClass.ModelName = f.model
	create(t, firmwareConfigMap(ns, "fw-bin", plain), img, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), mf)

	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	plainDigest := sha256.Sum256(plain)
	enc := img.Status.Encrypted
	if img.Status.SHA256 != hex.EncodeToString(plainDigest[:]) || img.Status.Size != int64(len(plain)) || enc == nil {
		t.Fatalf("status %+v: want the plaintext's digest and size, and the encrypted datafile", img.Status)
	}
	served := download(t, img.Status.DatafileURL)
	servedDigest := sha256.Sum256(served)
	if hex.EncodeToString(servedDigest[:]) != enc.SHA256 || int64(len(served)) != enc.Size || bytes.Contains(served, plain[:64]) {
		t.Errorf("the datafile URL serves %d bytes (sha256 %x), status.encrypted says %+v: want the encrypted image", len(served), servedDigest, enc)
	}

	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	s, err := manifest.Inspect(mf.Status.Data)
	if err != nil {
		t.Fatal(err)
	}
	if s.PayloadFormat != manifest.PayloadEncryptedRaw || hex.EncodeToString(s.PayloadDigest) != enc.SHA256 || s.PayloadSize != uint64(enc.Size) ||
		!bytes.Equal(s.InstalledDigest, plainDigest[:]) || s.InstalledSize != uint64(len(plain)) {
		t.Errorf("manifest describes %s payload %x (%d bytes) installing %x (%d bytes); want encrypted-raw of the encrypted datafile installing the plaintext",
			s.PayloadFormat, s.PayloadDigest, s.PayloadSize, s.InstalledDigest, s.InstalledSize)
	}

	uc := campaign(ns, wave("all", percent("100%")))
	uc.Spec.ManifestRef.Name = mf.Name
	create(t, uc)
	waitPhase(t, uc, v1.CampaignCompleted)
	for _, id := range f.ids {
		if d, _ := service.sim.Device(id); d.FirmwareDigest != plainDigest {
			t.Errorf("device %s runs %x, want the decrypted image %x", id, d.FirmwareDigest, plainDigest)
		}
	}
	if uc.Status.Totals.Succeeded != 4 {
		t.Errorf("totals %+v, want 4 succeeded", uc.Status.Totals)
	}
}

func TestSUITManifestOfAnEncryptedImageIsRefused(t *testing.T) {
	ns := newNamespace(t)
	img := imageFromConfigMap(ns, "fw", "fw-bin", "")
	img.Spec.Encrypt = true
	mf := suitManifest(ns, "fw-suit", "fw", "signing-key", v1.SUITAlgorithmES256)
	create(t, firmwareConfigMap(ns, "fw-bin", firmware(1024, 11)), img, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), mf)
	startOperator(t, ns, operatorOptions{})

	waitCondition(t, mf, v1.ConditionStalled, metav1.ConditionTrue, v1.ReasonEncryptionUnsupported)
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(mf), mf); err != nil {
		t.Fatal(err)
	}
	if len(mf.Status.Data) != 0 || mf.Status.ManifestID != "" {
		t.Errorf("a SUIT manifest of an encrypted image was signed or published: %d bytes, id %q", len(mf.Status.Data), mf.Status.ManifestID)
	}
}
