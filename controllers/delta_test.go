package controllers_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/delta"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// editedFirmware is old with a few bytes changed and a few appended: a small release.
func editedFirmware(old []byte) []byte {
	updated := append(bytes.Clone(old), []byte("build 1.1.0, with a fix")...)
	copy(updated[5000:], "patched routine")
	return updated
}

func randomFirmware(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// download fetches a datafile from the simulator over loopback.
func download(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestDeltaPatchesAreMadeUploadedAndSigned(t *testing.T) {
	ns := newNamespace(t)
	// Random bytes do not compress: only what the images share makes a patch small.
	oldData, unrelated := randomFirmware(t, 16<<10), randomFirmware(t, 16<<10)
	newData := editedFirmware(oldData)
	img := imageFromConfigMap(ns, "fw-new", "new-bin", "")
	img.Spec.DeltaFrom = []v1.DeltaSource{{Image: "fw-old"}, {Image: "fw-other"}}
	mf := pelionManifest(ns, "fw-1.1.0", "fw-new", "signing-key")
	// fw-old's ConfigMap comes later: the delta waits for its precursor while the image is Ready.
	create(t, firmwareConfigMap(ns, "new-bin", newData), firmwareConfigMap(ns, "other-bin", unrelated),
		imageFromConfigMap(ns, "fw-old", "old-bin", ""), imageFromConfigMap(ns, "fw-other", "other-bin", ""),
		img, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), mf)
	startOperator(t, ns, operatorOptions{})

	waitCondition(t, img, v1.ConditionDeltaReady, metav1.ConditionFalse, v1.ReasonPrecursorNotReady)
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	if got := img.Spec.DeltaFrom[0]; got.BlockSize != delta.DefaultBlockSize || got.Threshold != delta.DefaultThreshold {
		t.Errorf("deltaFrom defaults %+v, want block size %d and threshold %d", got, delta.DefaultBlockSize, delta.DefaultThreshold)
	}
	create(t, firmwareConfigMap(ns, "old-bin", oldData))
	waitCondition(t, img, v1.ConditionDeltaReady, metav1.ConditionTrue, v1.ReasonDeltaNotWorthIt)

	patched := checkUploadedDelta(t, img, "fw-old", oldData, newData)
	checkNotWorthIt(t, img, "fw-other", unrelated)
	deltaManifest := checkDeltaManifest(t, mf, img, patched, oldData)

	deleteAll(t, mf, img)
	if _, err := service.client.GetFirmwareImage(context.Background(), patched.ImageID); !pelion.IsNotFound(err) {
		t.Errorf("remote patch after deletion: %v", err)
	}
	if _, err := service.client.GetFirmwareManifest(context.Background(), deltaManifest); !pelion.IsNotFound(err) {
		t.Errorf("remote delta manifest after deletion: %v", err)
	}
}

// checkUploadedDelta checks the patch from precursor: uploaded, served, and turning old into new.
func checkUploadedDelta(t *testing.T, img *v1.FirmwareImage, precursor string, oldData, newData []byte) v1.FirmwareImageDelta {
	t.Helper()
	d := findDelta(t, img, precursor)
	if d.Result != v1.DeltaUploaded || d.PrecursorSHA256 != sha256Hex(oldData) || d.ImageID == "" {
		t.Fatalf("delta from %s: %+v", precursor, d)
	}
	patch := download(t, d.DatafileURL)
	if sha256Hex(patch) != d.PatchSHA256 || int64(len(patch)) != d.PatchSize {
		t.Errorf("served patch has %d bytes, sha256 %s; status says %d, %s", len(patch), sha256Hex(patch), d.PatchSize, d.PatchSHA256)
	}
	if !delta.WorthIt(d.PatchSize, int64(len(newData)), delta.DefaultThreshold) {
		t.Errorf("a patch of %d bytes for %d was uploaded", d.PatchSize, len(newData))
	}
	got, err := delta.ApplyBytes(oldData, patch, delta.MaxImageSize)
	if err != nil {
		t.Fatalf("applying the uploaded patch: %v", err)
	}
	if !bytes.Equal(got, newData) {
		t.Errorf("the patch applied to the precursor gives %d bytes that differ from the new image", len(got))
	}
	t.Logf("patch of %d bytes for a %d-byte image", d.PatchSize, len(newData))
	return d
}

// checkNotWorthIt checks that the delta from an unrelated image fell back to the full image and was
// never uploaded.
func checkNotWorthIt(t *testing.T, img *v1.FirmwareImage, precursor string, precursorData []byte) {
	t.Helper()
	d := findDelta(t, img, precursor)
	if d.Result != v1.DeltaNotWorthIt || d.ImageID != "" || d.DatafileURL != "" || d.PatchSize*100 < delta.DefaultThreshold*img.Status.Size {
		t.Errorf("delta from %s: %+v", precursor, d)
	}
	name := controllers.RemoteName(img, "/delta-"+sha256Hex(precursorData)[:12])
	if n := service.creates(pelion.ObjectFirmwareImage, name); n != 0 {
		t.Errorf("a patch not worth it was uploaded %d times", n)
	}
}

func findDelta(t *testing.T, img *v1.FirmwareImage, precursor string) v1.FirmwareImageDelta {
	t.Helper()
	for _, d := range img.Status.Deltas {
		if d.Precursor == precursor {
			return d
		}
	}
	t.Fatalf("no delta from %s in %+v", precursor, img.Status.Deltas)
	return v1.FirmwareImageDelta{}
}

// checkDeltaManifest waits for the Manifest's delta manifest, checks it names the patch, the precursor
// and the full image and verifies with the signing key, and returns its remote id.
func checkDeltaManifest(t *testing.T, mf *v1.Manifest, img *v1.FirmwareImage, patched v1.FirmwareImageDelta, oldData []byte) string {
	t.Helper()
	eventually(t, "a delta manifest in the Manifest's status", func() (bool, string) {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(mf), mf); err != nil {
			return false, err.Error()
		}
		return len(mf.Status.Deltas) == 1, fmt.Sprintf("deltas %+v", mf.Status.Deltas)
	})
	md := mf.Status.Deltas[0]
	remote, err := service.client.GetFirmwareManifest(context.Background(), md.ManifestID)
	if err != nil {
		t.Fatal(err)
	}
	data := download(t, remote.Datafile)
	if sha256Hex(data) != md.SHA256 || int64(len(data)) != md.Size || md.PatchSHA256 != patched.PatchSHA256 {
		t.Errorf("remote delta manifest of %d bytes, sha256 %s; status %+v", len(data), sha256Hex(data), md)
	}
	summary, err := manifest.Verify(data, []crypto.PublicKey{ecKey.Public()})
	if err != nil {
		t.Fatalf("the delta manifest does not verify: %v", err)
	}
	if summary.PayloadFormat != manifest.PayloadArmPatchStream || hex.EncodeToString(summary.PrecursorDigest) != sha256Hex(oldData) ||
		hex.EncodeToString(summary.PayloadDigest) != patched.PatchSHA256 || summary.PayloadURI != patched.DatafileURL ||
		summary.PayloadSize != uint64(patched.PatchSize) {
		t.Errorf("delta manifest says %s payload %x (%d bytes) at %s from %x", summary.PayloadFormat, summary.PayloadDigest,
			summary.PayloadSize, summary.PayloadURI, summary.PrecursorDigest)
	}
	decoded, err := manifest.DecodePelionV3(data)
	if err != nil {
		t.Fatal(err)
	}
	if md := decoded.Manifest.Metadata; md == nil || hex.EncodeToString(md.InstalledDigest) != img.Status.SHA256 || md.InstalledSize != uint64(img.Status.Size) {
		t.Errorf("installed image %+v, want the full image %s (%d bytes)", md, img.Status.SHA256, img.Status.Size)
	}
	return md.ManifestID
}

// deleteAll deletes the objects and waits until they are gone.
func deleteAll(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, obj := range objs {
		if err := env.Client.Delete(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the objects gone", func() (bool, string) {
		for _, obj := range objs {
			err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
			if !apierrors.IsNotFound(err) {
				return false, fmt.Sprintf("%s: %v", obj.GetName(), err)
			}
		}
		return true, ""
	})
}
