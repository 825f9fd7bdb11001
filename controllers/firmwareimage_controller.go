package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/egress"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// firmwareImageFinalizer holds a FirmwareImage until its remote image is deleted (or retained).
const firmwareImageFinalizer = "update.fleetwave.io/remote-image"

// FirmwareImageReconciler uploads FirmwareImages to the Update Service.
type FirmwareImageReconciler struct {
	Client client.Client
	// APIReader reads ConfigMaps uncached; the controller caches only their metadata.
	APIReader client.Reader
	Service   UpdateServiceProvider
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// Fetcher fetches images from spec.source.url within the operator's image source policy and
	// limits.
	Fetcher ImageFetcher
	// MissingSourceRetry is the first wait before looking again for a source ConfigMap that does not
	// exist; zero means defaultMissingRetry.
	MissingSourceRetry time.Duration
}

// +kubebuilder:rbac:groups=update.fleetwave.io,resources=firmwareimages,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=firmwareimages/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=firmwareimages/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch

// Reconcile makes the remote image match the FirmwareImage: get, finalizer, observe, act, and one
// status patch at the end.
func (r *FirmwareImageReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return lifecycle[*v1.FirmwareImage]{
		client: r.Client, recorder: r.Recorder, clock: r.Clock, finalizer: firmwareImageFinalizer,
		apply: r.reconcileImage, cleanup: r.reconcileDelete,
	}.reconcile(ctx, req, &v1.FirmwareImage{})
}

// reconcileImage uploads the image, then the delta patches from its precursors, looking again later
// while a precursor is not Ready or a delta failed.
func (r *FirmwareImageReconciler) reconcileImage(ctx context.Context, img *v1.FirmwareImage, _ *statusWriter) (ctrl.Result, error) {
	if err := r.reconcileUpload(ctx, img); err != nil {
		return ctrl.Result{}, err
	}
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.reconcileDeltas(ctx, svc, img)}, nil
}

// reconcileUpload observes the remote image and uploads it when it is missing.
func (r *FirmwareImageReconciler) reconcileUpload(ctx context.Context, img *v1.FirmwareImage) error {
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return err
	}
	remote, err := r.observe(ctx, svc, img)
	if err != nil {
		return err
	}
	if remote == nil {
		if remote, err = r.upload(ctx, svc, img); err != nil {
			return err
		}
	}
	encrypted, err := encryptedDatafile(img, remote)
	if err != nil {
		return err
	}
	img.Status.SHA256 = remote.DatafileChecksum
	img.Status.Size = remote.DatafileSize
	img.Status.ImageID = remote.ID
	img.Status.DatafileURL = remote.Datafile
	img.Status.Encrypted = encrypted
	msg := fmt.Sprintf("Uploaded as %s (%d bytes)", remote.ID, remote.DatafileSize)
	if encrypted != nil {
		msg += fmt.Sprintf(", encrypted by the Update Service (%d bytes)", encrypted.Size)
	}
	markReady(img, r.Clock.Now(), v1.ReasonUploaded, msg)
	return nil
}

// encryptedDatafile is what the service reports of the encrypted datafile spec.encrypt asked for, or
// nil without spec.encrypt. A service that stored the image otherwise than asked (unencrypted, or
// encrypted unasked) is refused: devices would be sent a payload their manifest does not describe.
func encryptedDatafile(img *v1.FirmwareImage, remote *pelion.FirmwareImage) (*v1.EncryptedDatafile, error) {
	switch {
	case !img.Spec.Encrypt && remote.DatafileEncryption:
		return nil, stalled(v1.ReasonEncryptionUnsupported, "remote image %s is encrypted, but spec.encrypt is not set", remote.ID)
	case !img.Spec.Encrypt:
		return nil, nil
	case !remote.DatafileEncryption || remote.EncryptedDatafileChecksum == "" || remote.EncryptedDatafileSize <= 0:
		return nil, stalled(v1.ReasonEncryptionUnsupported,
			"the Update Service did not encrypt image %s (datafile_encryption, encrypted_datafile_checksum and encrypted_datafile_size are missing): devices cannot be sent it as an encrypted payload", remote.ID)
	}
	return &v1.EncryptedDatafile{SHA256: remote.EncryptedDatafileChecksum, Size: remote.EncryptedDatafileSize}, nil
}

// observe finds the image's remote counterpart: by the id in status, or, when the status was lost
// (a crash between upload and status write), by its deterministic name. It returns nil when there is
// none.
func (r *FirmwareImageReconciler) observe(ctx context.Context, svc pelion.UpdateService, img *v1.FirmwareImage) (*pelion.FirmwareImage, error) {
	if img.Status.ImageID != "" {
		remote, err := svc.GetFirmwareImage(ctx, img.Status.ImageID)
		switch {
		case err == nil:
			return remote, nil
		case !pelion.IsNotFound(err):
			return nil, serviceError("reading the remote image", err)
		}
		log.FromContext(ctx).Info("Remote image is gone; uploading again", "imageID", img.Status.ImageID)
		img.Status.ImageID, img.Status.DatafileURL = "", ""
	}
	remote, err := svc.FindFirmwareImageByName(ctx, RemoteName(img, ""))
	switch {
	case pelion.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, serviceError("looking up the remote image", err)
	case img.Spec.SHA256 != "" && remote.DatafileChecksum != img.Spec.SHA256:
		// Only this object uploads under this name, so a different digest is a service-side fault.
		return nil, stalled(v1.ReasonDigestMismatch, "remote image %s has sha256 %s, spec.sha256 is %s", remote.ID, remote.DatafileChecksum, img.Spec.SHA256)
	}
	imageUploads.WithLabelValues(resultAdopted).Inc()
	log.FromContext(ctx).Info("Adopted the remote image", "imageID", remote.ID)
	return remote, nil
}

// upload streams the source to the Update Service. A URL whose bytes did not match spec.sha256 is not
// fetched again for the same generation: the mismatch stands until the spec changes (it cannot; a new
// build is a new object) or the object is re-created. A refused or oversized URL is looked at again
// only when the object is reconciled anew (a restart of the operator, perhaps with other flags), never
// in a loop.
func (r *FirmwareImageReconciler) upload(ctx context.Context, svc pelion.UpdateService, img *v1.FirmwareImage) (*pelion.FirmwareImage, error) {
	if _, ok := isStalledFor(img, v1.ReasonDigestMismatch); ok && img.Spec.Source.URL != "" {
		return nil, stalled(v1.ReasonDigestMismatch, "%s", digestMismatchMessage(img.Spec.Source.URL, img.Spec.SHA256))
	}
	markProgressing(img, r.Clock.Now(), v1.ReasonUploading, "Uploading the image")
	fetcher := r.Fetcher.withDefaults()
	// One deadline for everything fetched from the URL: every request, and the reads of an upload that
	// streams from it (which therefore ends with it).
	fetchCtx, cancel := context.WithTimeout(ctx, fetcher.Timeout)
	defer cancel()
	src, err := r.openSource(fetchCtx, fetcher, img)
	if err != nil {
		if failure := sourceFailure(fetchCtx, fetcher, img, err); failure != nil {
			return nil, failure
		}
		return nil, err
	}
	defer src.release()

	remote, err := svc.CreateFirmwareImage(ctx, pelion.ImageUpload{
		Name:        RemoteName(img, ""),
		Description: "FirmwareImage " + img.Namespace + "/" + img.Name,
		FileName:    img.Name + ".bin",
		Size:        src.size,
		SHA256:      src.sha256,
		Open:        src.open,
		Encrypt:     img.Spec.Encrypt,
	})
	if err != nil {
		return nil, uploadFailure(fetchCtx, fetcher, img, src.size, err)
	}
	imageUploads.WithLabelValues(resultSuccess).Inc()
	imageUploadBytes.Add(float64(remote.DatafileSize))
	log.FromContext(ctx).Info("Uploaded the image", "imageID", remote.ID, "bytes", remote.DatafileSize)
	return remote, nil
}

// sourceFailure turns a failure of the image source into the reconcile's outcome, or returns nil when
// err is not one: a digest mismatch, a refusal of the image source policy and an image over the
// maximum size stall (each counted); running out of the download deadline is retried with backoff.
func sourceFailure(fetchCtx context.Context, f ImageFetcher, img *v1.FirmwareImage, err error) error {
	var (
		mismatch *digestMismatchError
		st       *stalledError
	)
	switch {
	case errors.As(err, &mismatch):
		imageUploads.WithLabelValues(resultDigestMismatch).Inc()
		return stalled(v1.ReasonDigestMismatch, "%s", digestMismatchMessage(img.Spec.Source.URL, img.Spec.SHA256))
	case errors.As(err, &st):
		if st.reason == v1.ReasonDigestMismatch {
			imageUploads.WithLabelValues(resultDigestMismatch).Inc()
		} else {
			imageUploads.WithLabelValues(resultFailure).Inc()
		}
		return st
	case errors.Is(fetchCtx.Err(), context.DeadlineExceeded):
		imageUploads.WithLabelValues(resultFailure).Inc()
		return transient(v1.ReasonSourceUnavailable, fmt.Errorf("fetching the image from %s did not finish within %v (--image-download-timeout)",
			egress.Redact(img.Spec.Source.URL), f.Timeout))
	}
	return nil
}

// uploadFailure turns a failed upload into the reconcile's outcome: the source's failures first, as
// the upload streams from the source and ends with its error.
func uploadFailure(fetchCtx context.Context, f ImageFetcher, img *v1.FirmwareImage, size int64, err error) error {
	if failure := sourceFailure(fetchCtx, f, img, err); failure != nil {
		return failure
	}
	imageUploads.WithLabelValues(resultFailure).Inc()
	switch {
	case pelion.StatusOf(err) == http.StatusRequestEntityTooLarge:
		return stalled(v1.ReasonImageTooLarge, "the Update Service refused %d bytes as too large", size)
	case pelion.IsSourceError(err):
		return transient(v1.ReasonSourceUnavailable, err)
	}
	return serviceError("uploading the image", err)
}

func (r *FirmwareImageReconciler) openSource(ctx context.Context, f ImageFetcher, img *v1.FirmwareImage) (*imageSource, error) {
	if ref := img.Spec.Source.ConfigMap; ref != nil {
		src, err := configMapSource(ctx, r.APIReader, img.Namespace, ref, img.Spec.SHA256)
		return src, r.lookAgainIfMissing(img, err)
	}
	return f.source(ctx, img.Spec.Source.URL, img.Spec.SHA256)
}

// lookAgainIfMissing turns the wait for a missing ConfigMap (or key) into one that looks again with
// backoff: an unlabelled ConfigMap is invisible to the cache, so no watch event would bring it.
func (r *FirmwareImageReconciler) lookAgainIfMissing(img *v1.FirmwareImage, err error) error {
	var wt *waitingError
	if !errors.As(err, &wt) || wt.reason != v1.ReasonSourceNotFound {
		return err
	}
	var missingFor time.Duration
	if c := meta.FindStatusCondition(img.Status.Conditions, v1.ConditionReady); c != nil && c.Reason == v1.ReasonSourceNotFound {
		missingFor = r.Clock.Now().Sub(c.LastTransitionTime.Time)
	}
	return waitingFor(missingWait(missingFor, r.MissingSourceRetry), wt.reason, "%s", wt.message)
}

// reconcileDelete removes the remote image, unless the policy retains it, once no Manifest in the
// namespace references the FirmwareImage any more; then it lets the object go.
func (r *FirmwareImageReconciler) reconcileDelete(ctx context.Context, img *v1.FirmwareImage) error {
	if !controllerutil.ContainsFinalizer(img, firmwareImageFinalizer) {
		return nil
	}
	if img.Spec.DeletionPolicy != v1.DeletionPolicyRetain {
		users, err := r.manifestsUsing(ctx, img)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			// A watch on Manifests brings the image back when they go.
			return waiting(v1.ReasonInUse, "Deletion waits: the image is referenced by Manifest %s", strings.Join(users, ", "))
		}
		markProgressing(img, r.Clock.Now(), v1.ReasonDeleting, "Deleting the remote image and its delta patches")
		if err := r.deleteRemote(ctx, img); err != nil {
			return err
		}
	}
	controllerutil.RemoveFinalizer(img, firmwareImageFinalizer)
	return r.Client.Update(ctx, img)
}

func (r *FirmwareImageReconciler) manifestsUsing(ctx context.Context, img *v1.FirmwareImage) ([]string, error) {
	var manifests v1.ManifestList
	if err := r.Client.List(ctx, &manifests, client.InNamespace(img.Namespace),
		client.MatchingFields{indexManifestImage: img.Name}); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(manifests.Items))
	for _, m := range manifests.Items {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names, nil
}

func (r *FirmwareImageReconciler) deleteRemote(ctx context.Context, img *v1.FirmwareImage) error {
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return err
	}
	if err := deletePatches(ctx, svc, img); err != nil {
		return err
	}
	id := img.Status.ImageID
	if id == "" {
		found, err := svc.FindFirmwareImageByName(ctx, RemoteName(img, ""))
		if pelion.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return serviceError("looking up the remote image", err)
		}
		id = found.ID
	}
	if err := svc.DeleteFirmwareImage(ctx, id); err != nil {
		return serviceError("deleting the remote image", err)
	}
	log.FromContext(ctx).Info("Deleted the remote image", "imageID", id)
	return nil
}

// SetupWithManager watches FirmwareImages, the ConfigMaps they read (metadata only; with the
// manager's cache set up by CacheOptions, of the ConfigMaps labelled FirmwareImageLabel only) and the
// Manifests that hold their deletion.
func (r *FirmwareImageReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.FirmwareImage{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(
			referencing(r.Client, &v1.FirmwareImageList{}, indexImageConfigMap)), builder.OnlyMetadata).
		Watches(&v1.Manifest{}, handler.EnqueueRequestsFromMapFunc(imageOfManifest)).
		Named("firmwareimage").
		Complete(r)
}

// imageOfManifest wakes the FirmwareImage a Manifest references, so an image waiting to be deleted
// notices when its last Manifest goes.
func imageOfManifest(_ context.Context, m client.Object) []reconcile.Request {
	mf, ok := m.(*v1.Manifest)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: mf.Namespace, Name: mf.Spec.FirmwareImageRef.Name}}}
}
