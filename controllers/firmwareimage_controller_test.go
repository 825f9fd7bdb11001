package controllers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// firmware returns n recognisable bytes.
func firmware(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func firmwareConfigMap(ns, name string, data []byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		BinaryData: map[string][]byte{"firmware.bin": data},
	}
}

func imageFromConfigMap(ns, name, cm, sha string) *v1.FirmwareImage {
	return &v1.FirmwareImage{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.FirmwareImageSpec{
			Source: v1.FirmwareImageSource{ConfigMap: &v1.ConfigMapKeyReference{Name: cm, Key: "firmware.bin"}},
			SHA256: sha,
		},
	}
}

func imageFromURL(ns, name, url, sha string) *v1.FirmwareImage {
	return &v1.FirmwareImage{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1.FirmwareImageSpec{Source: v1.FirmwareImageSource{URL: url}, SHA256: sha},
	}
}

// firmwareServer serves one binary over HTTP on loopback and counts the downloads.
type firmwareServer struct {
	*httptest.Server
	downloads atomic.Int32
}

func serveFirmware(t *testing.T, data []byte, withLength bool) *firmwareServer {
	t.Helper()
	fs := &firmwareServer{}
	serve := imageHandler(data, withLength)
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.downloads.Add(1)
		serve(w, r)
	}))
	t.Cleanup(fs.Close)
	return fs
}

// checkRemoteImage verifies that the service holds exactly data under the image's id.
func checkRemoteImage(t *testing.T, img *v1.FirmwareImage, data []byte) {
	t.Helper()
	if img.Status.SHA256 != sha256Hex(data) || img.Status.Size != int64(len(data)) {
		t.Errorf("status sha256 %s size %d; want %s and %d", img.Status.SHA256, img.Status.Size, sha256Hex(data), len(data))
	}
	remote, err := service.client.GetFirmwareImage(context.Background(), img.Status.ImageID)
	if err != nil {
		t.Fatalf("remote image %s: %v", img.Status.ImageID, err)
	}
	if remote.DatafileChecksum != sha256Hex(data) || remote.DatafileSize != int64(len(data)) || remote.Datafile != img.Status.DatafileURL {
		t.Errorf("remote image %+v does not match the upload", remote)
	}
	resp, err := http.Get(img.Status.DatafileURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, _ := io.ReadAll(resp.Body)
	if sha256Hex(served) != sha256Hex(data) {
		t.Errorf("the datafile URL serves %d bytes that differ from the image", len(served))
	}
}

func TestImageFromConfigMapIsUploaded(t *testing.T) {
	ns := newNamespace(t)
	data := firmware(64<<10, 1)
	img := imageFromConfigMap(ns, "fw", "fw-bin", "")
	create(t, firmwareConfigMap(ns, "fw-bin", data), img)
	startOperator(t, ns, operatorOptions{})

	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	checkRemoteImage(t, img, data)
	if img.Status.ObservedGeneration != img.Generation {
		t.Errorf("observedGeneration %d, generation %d", img.Status.ObservedGeneration, img.Generation)
	}
	if got := kstatusOf(t, img); got != status.CurrentStatus {
		t.Errorf("kstatus %s, want Current", got)
	}
	waitEvent(t, img, "FirmwareImage", corev1.EventTypeNormal, v1.ReasonUploaded)
}

func TestImageFromURLIsUploaded(t *testing.T) {
	for _, withLength := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", withLength), func(t *testing.T) {
			ns := newNamespace(t)
			data := firmware(300<<10, 2)
			src := serveFirmware(t, data, withLength)
			img := imageFromURL(ns, "fw", src.URL+"/fw.bin", sha256Hex(data))
			create(t, img)
			startOperator(t, ns, operatorOptions{})

			waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
			checkRemoteImage(t, img, data)
			if n := src.downloads.Load(); n != 1 {
				t.Errorf("the image was downloaded %d times, want once", n)
			}
		})
	}
}

func TestWrongDigestFromURLStallsWithoutRedownloading(t *testing.T) {
	for _, withLength := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", withLength), func(t *testing.T) {
			ns := newNamespace(t)
			data := firmware(200<<10, 3)
			src := serveFirmware(t, data, withLength)
			img := imageFromURL(ns, "fw", src.URL+"/fw.bin", sha256Hex([]byte("something else")))
			create(t, img)
			op := startOperator(t, ns, operatorOptions{})

			waitCondition(t, img, v1.ConditionStalled, metav1.ConditionTrue, v1.ReasonDigestMismatch)
			waitEvent(t, img, "FirmwareImage", corev1.EventTypeWarning, v1.ReasonDigestMismatch)
			if got := kstatusOf(t, img); got != status.FailedStatus {
				t.Errorf("kstatus %s, want Failed", got)
			}
			// A restarted operator reconciles every object again; the mismatch must stand without
			// another download.
			op.stop()
			before := reconciles(t, "firmwareimage")
			startOperator(t, ns, operatorOptions{})
			waitReconciled(t, "firmwareimage", before)
			waitCondition(t, img, v1.ConditionStalled, metav1.ConditionTrue, v1.ReasonDigestMismatch)
			if n := src.downloads.Load(); n != 1 {
				t.Errorf("the image was downloaded %d times, want once", n)
			}
			if n := service.creates(pelion.ObjectFirmwareImage, controllers.RemoteName(img, "")); n != 0 {
				t.Errorf("a mismatching image reached the service")
			}
			if _, err := service.client.FindFirmwareImageByName(context.Background(), controllers.RemoteName(img, "")); !pelion.IsNotFound(err) {
				t.Errorf("the service holds a mismatching image: %v", err)
			}
		})
	}
}

func TestWrongDigestInConfigMapRecoversWhenTheConfigMapIsFixed(t *testing.T) {
	ns := newNamespace(t)
	good := firmware(10<<10, 4)
	// Labelled, so the operator watches it: a fix to it wakes the stalled image.
	cm := labelled(firmwareConfigMap(ns, "fw-bin", firmware(10<<10, 5)), controllers.FirmwareImageLabel)
	img := imageFromConfigMap(ns, "fw", "fw-bin", sha256Hex(good))
	create(t, cm, img)
	startOperator(t, ns, operatorOptions{})

	waitCondition(t, img, v1.ConditionStalled, metav1.ConditionTrue, v1.ReasonDigestMismatch)
	cm.BinaryData["firmware.bin"] = good
	if err := env.Client.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	checkRemoteImage(t, img, good)
}

func TestMissingConfigMapWaitsForIt(t *testing.T) {
	ns := newNamespace(t)
	img := imageFromConfigMap(ns, "fw", "fw-bin", "")
	create(t, img)
	startOperator(t, ns, operatorOptions{})

	waitCondition(t, img, v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonSourceNotFound)
	if got := kstatusOf(t, img); got != status.InProgressStatus {
		t.Errorf("kstatus %s, want InProgress", got)
	}
	data := firmware(1000, 6)
	create(t, firmwareConfigMap(ns, "fw-bin", data))
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	checkRemoteImage(t, img, data)
}

func TestUpdateServiceOutageBacksOffAndRecovers(t *testing.T) {
	ns := newNamespace(t)
	data := firmware(8<<10, 7)
	img := imageFromConfigMap(ns, "fw", "fw-bin", "")
	service.down(t)
	create(t, firmwareConfigMap(ns, "fw-bin", data), img)
	startOperator(t, ns, operatorOptions{})

	waitCondition(t, img, v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonUpdateServiceUnavailable)
	waitEvent(t, img, "FirmwareImage", corev1.EventTypeWarning, v1.ReasonUpdateServiceUnavailable)
	service.up(t)
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	checkRemoteImage(t, img, data)
}

// crashAfter is an Update Service that "crashes the operator" right after a create of the given
// kind succeeded: it stops the manager and reports an error, so the status write never happens.
type crashAfter struct {
	pelion.UpdateService
	kind   string
	cancel context.CancelFunc
}

func (c *crashAfter) CreateFirmwareImage(ctx context.Context, up pelion.ImageUpload) (*pelion.FirmwareImage, error) {
	img, err := c.UpdateService.CreateFirmwareImage(ctx, up)
	if err == nil && c.kind == "image" {
		c.cancel()
		return nil, errCrashed
	}
	return img, err
}

func (c *crashAfter) CreateFirmwareManifest(ctx context.Context, up pelion.ManifestUpload) (*pelion.FirmwareManifest, error) {
	mf, err := c.UpdateService.CreateFirmwareManifest(ctx, up)
	if err == nil && c.kind == "manifest" {
		c.cancel()
		return nil, errCrashed
	}
	return mf, err
}

func TestRestartBetweenUploadAndStatusWriteAdoptsTheImage(t *testing.T) {
	ns := newNamespace(t)
	data := firmware(20<<10, 8)
	img := imageFromConfigMap(ns, "fw", "fw-bin", sha256Hex(data))
	create(t, firmwareConfigMap(ns, "fw-bin", data), img)

	crash := &crashAfter{UpdateService: service.client, kind: "image"}
	op := startOperator(t, ns, operatorOptions{service: staticService{crash}, onStart: func(cancel context.CancelFunc) { crash.cancel = cancel }})
	op.waitCrashed(t) // the manager stops itself right after the upload

	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(img), img); err != nil {
		t.Fatal(err)
	}
	if img.Status.ImageID != "" {
		t.Fatalf("the crash did not prevent the status write: %+v", img.Status)
	}
	name := controllers.RemoteName(img, "")
	if n := service.creates(pelion.ObjectFirmwareImage, name); n != 1 {
		t.Fatalf("%d remote images before the restart, want 1", n)
	}

	startOperator(t, ns, operatorOptions{})
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	checkRemoteImage(t, img, data)
	if n := service.creates(pelion.ObjectFirmwareImage, name); n != 1 {
		t.Errorf("%d remote images after the restart, want 1 (adopted, not uploaded again)", n)
	}
}

func TestDeletingAnImageWaitsForItsManifests(t *testing.T) {
	ns := newNamespace(t)
	data := firmware(4<<10, 9)
	img := imageFromConfigMap(ns, "fw", "fw-bin", "")
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
	create(t, firmwareConfigMap(ns, "fw-bin", data), img, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), mf)
	startOperator(t, ns, operatorOptions{})
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	imageID, manifestID := img.Status.ImageID, mf.Status.ManifestID

	if err := env.Client.Delete(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, img, v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonInUse)
	if _, err := service.client.GetFirmwareImage(context.Background(), imageID); err != nil {
		t.Fatalf("the remote image of a referenced FirmwareImage was touched: %v", err)
	}

	if err := env.Client.Delete(context.Background(), mf); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both objects gone", func() (bool, string) {
		errImg := env.Client.Get(context.Background(), client.ObjectKeyFromObject(img), &v1.FirmwareImage{})
		errMf := env.Client.Get(context.Background(), client.ObjectKeyFromObject(mf), &v1.Manifest{})
		return apierrors.IsNotFound(errImg) && apierrors.IsNotFound(errMf), fmt.Sprintf("image: %v, manifest: %v", errImg, errMf)
	})
	if _, err := service.client.GetFirmwareImage(context.Background(), imageID); !pelion.IsNotFound(err) {
		t.Errorf("remote image after deletion: %v", err)
	}
	if _, err := service.client.GetFirmwareManifest(context.Background(), manifestID); !pelion.IsNotFound(err) {
		t.Errorf("remote manifest after deletion: %v", err)
	}
}

func TestRetainedImageOutlivesItsObject(t *testing.T) {
	ns := newNamespace(t)
	img := imageFromConfigMap(ns, "fw", "fw-bin", "")
	img.Spec.DeletionPolicy = v1.DeletionPolicyRetain
	create(t, firmwareConfigMap(ns, "fw-bin", firmware(1024, 10)), img)
	startOperator(t, ns, operatorOptions{})
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)

	if err := env.Client.Delete(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	eventually(t, "image object gone", func() (bool, string) {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(img), &v1.FirmwareImage{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if _, err := service.client.GetFirmwareImage(context.Background(), img.Status.ImageID); err != nil {
		t.Errorf("a retained remote image was deleted: %v", err)
	}
}
