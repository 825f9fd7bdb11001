package controllers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/delta"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

const (
	// precursorRetry is how often an image looks again for a precursor that is not Ready: status
	// changes of other FirmwareImages do not wake it.
	precursorRetry = 10 * time.Second
	// deltaRetry is the wait after a failed delta; the image itself stays Ready meanwhile.
	deltaRetry = time.Minute
	// deltaTimeout bounds making one patch (seconds for images of many MiB).
	deltaTimeout = 5 * time.Minute
)

// errPrecursorNotReady marks a precursor to wait for, not a failure.
var errPrecursorNotReady = errors.New("precursor not Ready")

// reconcileDeltas makes the patch from each precursor in spec.deltaFrom once both images are
// uploaded, records status.deltas and DeltaReady, and says when to look again. It never fails the
// image: devices can always be sent the full image.
func (r *FirmwareImageReconciler) reconcileDeltas(ctx context.Context, svc pelion.UpdateService, img *v1.FirmwareImage) time.Duration {
	if len(img.Spec.DeltaFrom) == 0 {
		return 0
	}
	var pending, failed []string
	for _, from := range img.Spec.DeltaFrom {
		err := r.reconcileDelta(ctx, svc, img, from)
		switch {
		case errors.Is(err, errPrecursorNotReady):
			pending = append(pending, from.Image)
		case err != nil:
			log.FromContext(ctx).Info("Could not make the delta", "precursor", from.Image, "error", err.Error())
			failed = append(failed, fmt.Sprintf("from %s: %v", from.Image, err))
		}
	}
	now := r.Clock.Now()
	switch {
	case len(failed) > 0:
		setCondition(img, now, v1.ConditionDeltaReady, metav1.ConditionFalse, v1.ReasonDeltaFailed, strings.Join(failed, "; "))
		return deltaRetry
	case len(pending) > 0:
		setCondition(img, now, v1.ConditionDeltaReady, metav1.ConditionFalse, v1.ReasonPrecursorNotReady,
			"Waiting for precursor FirmwareImage "+strings.Join(pending, ", ")+" to be Ready")
		return precursorRetry
	}
	reason, message := deltaSummary(img.Status.Deltas)
	setCondition(img, now, v1.ConditionDeltaReady, metav1.ConditionTrue, reason, message)
	return 0
}

// deltaSummary is DeltaReady's reason and message once every delta is decided.
func deltaSummary(deltas []v1.FirmwareImageDelta) (string, string) {
	reason := v1.ReasonDeltasUploaded
	parts := make([]string, 0, len(deltas))
	for _, d := range deltas {
		if d.Result == v1.DeltaUploaded {
			parts = append(parts, fmt.Sprintf("from %s: patch of %d bytes uploaded as %s", d.Precursor, d.PatchSize, d.ImageID))
			continue
		}
		reason = v1.ReasonDeltaNotWorthIt
		parts = append(parts, fmt.Sprintf("from %s: %s, devices running it get the full image", d.Precursor, d.Result))
	}
	return reason, strings.Join(parts, "; ")
}

// reconcileDelta decides the delta from one precursor, unless status already holds it for the
// precursor as it is now.
func (r *FirmwareImageReconciler) reconcileDelta(ctx context.Context, svc pelion.UpdateService, img *v1.FirmwareImage, from v1.DeltaSource) error {
	pre, err := r.readyPrecursor(ctx, img.Namespace, from.Image)
	if err != nil {
		return err
	}
	if d := deltaStatus(img, from.Image); d != nil && d.PrecursorSHA256 == pre.Status.SHA256 {
		return nil
	}
	d, err := r.makeDelta(ctx, svc, img, pre, from)
	if err != nil {
		return err
	}
	setDeltaStatus(img, *d)
	return nil
}

// readyPrecursor returns the precursor once it is Ready; errPrecursorNotReady until then.
func (r *FirmwareImageReconciler) readyPrecursor(ctx context.Context, namespace, name string) (*v1.FirmwareImage, error) {
	pre := &v1.FirmwareImage{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, pre)
	switch {
	case apierrors.IsNotFound(err):
		return nil, errPrecursorNotReady
	case err != nil:
		return nil, err
	case !meta.IsStatusConditionTrue(pre.Status.Conditions, v1.ConditionReady) || pre.Status.SHA256 == "":
		return nil, errPrecursorNotReady
	}
	return pre, nil
}

// makeDelta diffs the two images and uploads the patch when it is worth it.
func (r *FirmwareImageReconciler) makeDelta(ctx context.Context, svc pelion.UpdateService, img, pre *v1.FirmwareImage, from v1.DeltaSource) (*v1.FirmwareImageDelta, error) {
	d := &v1.FirmwareImageDelta{Precursor: pre.Name, PrecursorSHA256: pre.Status.SHA256}
	if img.Status.Size > delta.MaxImageSize || pre.Status.Size > delta.MaxImageSize {
		d.Result = v1.DeltaImageTooLarge
		return d, nil
	}
	oldImage, err := r.readImage(ctx, pre)
	if err != nil {
		return nil, fmt.Errorf("reading the precursor: %w", err)
	}
	newImage, err := r.readImage(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("reading the image: %w", err)
	}
	diffCtx, cancel := context.WithTimeout(ctx, deltaTimeout)
	defer cancel()
	patch, err := delta.Create(diffCtx, oldImage, newImage, blockSizeOf(from))
	if err != nil {
		return nil, fmt.Errorf("making the patch: %w", err)
	}
	sum := sha256.Sum256(patch)
	d.PatchSHA256, d.PatchSize = hex.EncodeToString(sum[:]), int64(len(patch))
	if !delta.WorthIt(d.PatchSize, img.Status.Size, thresholdOf(from)) {
		d.Result = v1.DeltaNotWorthIt
		return d, nil
	}
	remote, err := uploadPatch(ctx, svc, img, d, patch)
	if err != nil {
		return nil, err
	}
	d.Result, d.ImageID, d.DatafileURL = v1.DeltaUploaded, remote.ID, remote.Datafile
	return d, nil
}

// readImage reads an uploaded image's bytes from its source, checked against the digest it was
// uploaded with, at most delta.MaxImageSize of them.
func (r *FirmwareImageReconciler) readImage(ctx context.Context, img *v1.FirmwareImage) ([]byte, error) {
	fetcher := r.Fetcher.withDefaults()
	fetchCtx, cancel := context.WithTimeout(ctx, fetcher.Timeout)
	defer cancel()
	var (
		src *imageSource
		err error
	)
	if ref := img.Spec.Source.ConfigMap; ref != nil {
		src, err = configMapSource(fetchCtx, r.APIReader, img.Namespace, ref, img.Status.SHA256)
	} else {
		src, err = fetcher.source(fetchCtx, img.Spec.Source.URL, img.Status.SHA256)
	}
	if err != nil {
		return nil, err
	}
	defer src.release()
	if src.size > delta.MaxImageSize {
		return nil, fmt.Errorf("%d bytes, more than the %d a delta is made from", src.size, delta.MaxImageSize)
	}
	body, err := src.open()
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, src.size))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != img.Status.SHA256 {
		return nil, fmt.Errorf("the source no longer holds the uploaded image (sha256 %s)", img.Status.SHA256)
	}
	return data, nil
}

// uploadPatch uploads the patch under its deterministic name, or adopts the one already there after a
// crash between upload and status write.
func uploadPatch(ctx context.Context, svc pelion.UpdateService, img *v1.FirmwareImage, d *v1.FirmwareImageDelta, patch []byte) (*pelion.FirmwareImage, error) {
	name := patchName(img, d.PrecursorSHA256)
	remote, err := svc.FindFirmwareImageByName(ctx, name)
	switch {
	case err == nil && remote.DatafileChecksum == d.PatchSHA256:
		imageUploads.WithLabelValues(resultAdopted).Inc()
		return remote, nil
	case err == nil:
		return nil, fmt.Errorf("remote patch %s has sha256 %s, the patch made %s", remote.ID, remote.DatafileChecksum, d.PatchSHA256)
	case !pelion.IsNotFound(err):
		return nil, serviceError("looking up the remote patch", err)
	}
	remote, err = svc.CreateFirmwareImage(ctx, pelion.ImageUpload{
		Name:        name,
		Description: "Delta of FirmwareImage " + img.Namespace + "/" + img.Name + " from " + d.Precursor,
		FileName:    img.Name + "-from-" + d.Precursor + ".patch",
		Size:        d.PatchSize,
		SHA256:      d.PatchSHA256,
		Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(patch)), nil
		},
	})
	if err != nil {
		imageUploads.WithLabelValues(resultFailure).Inc()
		return nil, serviceError("uploading the patch", err)
	}
	imageUploads.WithLabelValues(resultSuccess).Inc()
	imageUploadBytes.Add(float64(remote.DatafileSize))
	log.FromContext(ctx).Info("Uploaded the delta patch", "precursor", d.Precursor, "imageID", remote.ID, "bytes", remote.DatafileSize)
	return remote, nil
}

// patchName is the remote name of the patch from the precursor with this digest.
func patchName(img *v1.FirmwareImage, precursorSHA256 string) string {
	return RemoteName(img, "/delta-"+precursorSHA256[:12])
}

// deletePatches removes the uploaded patches, found by name so that one uploaded just before a lost
// status write goes too.
func deletePatches(ctx context.Context, svc pelion.UpdateService, img *v1.FirmwareImage) error {
	for _, d := range img.Status.Deltas {
		remote, err := svc.FindFirmwareImageByName(ctx, patchName(img, d.PrecursorSHA256))
		if pelion.IsNotFound(err) {
			continue
		}
		if err != nil {
			return serviceError("looking up a remote patch", err)
		}
		if err := svc.DeleteFirmwareImage(ctx, remote.ID); err != nil {
			return serviceError("deleting a remote patch", err)
		}
		log.FromContext(ctx).Info("Deleted the delta patch", "precursor", d.Precursor, "imageID", remote.ID)
	}
	return nil
}

func deltaStatus(img *v1.FirmwareImage, precursor string) *v1.FirmwareImageDelta {
	for i := range img.Status.Deltas {
		if img.Status.Deltas[i].Precursor == precursor {
			return &img.Status.Deltas[i]
		}
	}
	return nil
}

func setDeltaStatus(img *v1.FirmwareImage, d v1.FirmwareImageDelta) {
	if old := deltaStatus(img, d.Precursor); old != nil {
		*old = d
		return
	}
	img.Status.Deltas = append(img.Status.Deltas, d)
}

// blockSizeOf and thresholdOf read the defaulted fields, falling back to the schema defaults for
// objects stored before the fields existed.
func blockSizeOf(from v1.DeltaSource) int {
	if from.BlockSize == 0 {
		return delta.DefaultBlockSize
	}
	return int(from.BlockSize)
}

func thresholdOf(from v1.DeltaSource) int {
	if from.Threshold == 0 {
		return delta.DefaultThreshold
	}
	return int(from.Threshold)
}
