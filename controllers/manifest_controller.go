package controllers

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// manifestFinalizer holds a Manifest until its remote manifest is deleted.
const manifestFinalizer = "update.fleetwave.io/remote-manifest"

// Keys of a signing key Secret, as `fleetwave init` and kubernetes.io/tls Secrets name them, and the
// SUIT delegation chain (`fleetwave manifest delegate`) from a key devices trust to tls.key, which SUIT
// manifests then carry.
const (
	secretKeyPEM     = corev1.TLSPrivateKeyKey // tls.key
	secretCertPEM    = corev1.TLSCertKey       // tls.crt
	secretDelegation = v1.SigningKeyDelegationKey
)

// ManifestReconciler builds, signs and publishes Manifests.
type ManifestReconciler struct {
	Client client.Client
	// APIReader reads signing key Secrets uncached; the cache holds at most the metadata of Secrets
	// labelled SigningKeyLabel (CacheOptions), so no key material sits in the operator's memory
	// between signatures.
	APIReader client.Reader
	Service   UpdateServiceProvider
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// MissingKeyRetry is the first wait before looking again for a signing key Secret that does not
	// exist; zero means defaultMissingKeyRetry.
	MissingKeyRetry time.Duration
	// WatchKeySecrets watches the metadata of Secrets labelled SigningKeyLabel, so that a key Secret
	// created or fixed wakes its Manifests at once; it needs list and watch on Secrets. Without it a
	// missing key is looked for again with backoff, on get alone.
	WatchKeySecrets bool
}

// +kubebuilder:rbac:groups=update.fleetwave.io,resources=manifests,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=manifests/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=manifests/finalizers,verbs=update
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=firmwareimages,verbs=get;list;watch
// Signing keys are read with get, when a manifest is signed, and that is all the generated (cluster-
// wide) role grants on Secrets: RBAC cannot narrow list or watch to a label (authorisation sees no
// label selector), so they would reach every Secret in the cluster. Installed cluster-wide, the
// operator does not watch Secrets and notices a new key by looking again with backoff (missingKey).
// The namespaced install (config/namespaced) adds list and watch on Secrets in the watched
// namespaces' Roles, and the operator, run with --namespaces, watches labelled ones there
// (WatchKeySecrets).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconcile signs the manifest once and keeps it published: get, finalizer, observe, act, and one
// status patch at the end.
func (r *ManifestReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return lifecycle[*v1.Manifest]{
		client: r.Client, recorder: r.Recorder, clock: r.Clock, finalizer: manifestFinalizer,
		apply: untimed(r.reconcilePublish), cleanup: r.reconcileDelete,
	}.reconcile(ctx, req, &v1.Manifest{})
}

// reconcilePublish waits for the image, signs once, and makes sure the Update Service has the
// manifest and one delta manifest for each patch the image uploaded.
func (r *ManifestReconciler) reconcilePublish(ctx context.Context, mf *v1.Manifest) error {
	img, err := r.readyImage(ctx, mf)
	if err != nil {
		return err
	}
	if !signedFor(mf, img) {
		if err := r.signOnce(ctx, mf, img); err != nil {
			return err
		}
	}
	if err := r.publish(ctx, mf); err != nil {
		return err
	}
	return r.publishDeltas(ctx, mf, img)
}

// signOnce signs unless the API server already holds a signature for this image, and only from an
// up-to-date object: the cache the reconcile started from may not have seen the status of the
// reconcile that signed, and signing again would publish a second manifest.
func (r *ManifestReconciler) signOnce(ctx context.Context, mf *v1.Manifest, img *v1.FirmwareImage) error {
	live := &v1.Manifest{}
	err := confirmFresh(ctx, r.APIReader, mf, live)
	switch {
	case err == nil || errors.Is(err, errStaleCache):
		if signedFor(live, img) {
			mf.Status = *live.Status.DeepCopy()
			return nil
		}
		if err != nil {
			return err
		}
	default:
		return client.IgnoreNotFound(err)
	}
	return r.sign(ctx, mf, img)
}

// readyImage returns the referenced FirmwareImage once it is Ready; until then the Manifest waits, and
// a watch on FirmwareImages wakes it.
func (r *ManifestReconciler) readyImage(ctx context.Context, mf *v1.Manifest) (*v1.FirmwareImage, error) {
	now := r.Clock.Now()
	img := &v1.FirmwareImage{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: mf.Namespace, Name: mf.Spec.FirmwareImageRef.Name}, img)
	var notReady string
	switch {
	case apierrors.IsNotFound(err):
		notReady = fmt.Sprintf("FirmwareImage %s does not exist", mf.Spec.FirmwareImageRef.Name)
	case err != nil:
		return nil, err
	case !meta.IsStatusConditionTrue(img.Status.Conditions, v1.ConditionReady):
		notReady = fmt.Sprintf("FirmwareImage %s is not Ready", img.Name)
		if c := meta.FindStatusCondition(img.Status.Conditions, v1.ConditionReady); c != nil && c.Message != "" {
			notReady += ": " + c.Message
		}
	}
	if notReady != "" {
		setCondition(mf, now, v1.ConditionFirmwareImageReady, metav1.ConditionFalse, v1.ReasonFirmwareImageNotReady, notReady)
		return nil, waiting(v1.ReasonFirmwareImageNotReady, "%s", notReady)
	}
	setCondition(mf, now, v1.ConditionFirmwareImageReady, metav1.ConditionTrue, v1.ReasonFirmwareImageReady,
		fmt.Sprintf("FirmwareImage %s is Ready", img.Name))
	return img, nil
}

// signedFor reports whether status already holds a manifest for the image as it is now. Signing
// happens once: only a changed payload (the image re-uploaded under a new URL) calls for a new one.
func signedFor(mf *v1.Manifest, img *v1.FirmwareImage) bool {
	if len(mf.Status.Data) == 0 {
		return false
	}
	s, err := manifest.Inspect(mf.Status.Data)
	digest, size := downloadedPayload(img)
	return err == nil &&
		hex.EncodeToString(s.PayloadDigest) == digest &&
		s.PayloadSize == uint64(size) &&
		s.PayloadURI == img.Status.DatafileURL
}

// downloadedPayload is the digest and size of what devices download from the image's datafile URL:
// the encrypted datafile of an encrypted image, else the image itself.
func downloadedPayload(img *v1.FirmwareImage) (sha256Hex string, size int64) {
	if e := img.Status.Encrypted; e != nil {
		return e.SHA256, e.Size
	}
	return img.Status.SHA256, img.Status.Size
}

// sign loads the key, builds the manifest for the image and records it in status.
func (r *ManifestReconciler) sign(ctx context.Context, mf *v1.Manifest, img *v1.FirmwareImage) error {
	key, delegation, err := r.signingKey(ctx, mf)
	if err != nil {
		return err
	}
	spec, err := buildSpec(mf, img)
	if err != nil {
		return err
	}
	if spec.Format == manifest.FormatSUIT {
		spec.Delegation = delegation
	}
	format := string(spec.Format)
	data, err := manifest.Build(spec, key)
	switch {
	case err == nil:
	case errors.Is(err, manifest.ErrManifestTooLarge):
		manifestSignatures.WithLabelValues(format, resultFailure).Inc()
		return stalled(v1.ReasonManifestTooLarge, "%v (limit %d bytes)", err, manifest.MaxManifestSize)
	case errors.Is(err, manifest.ErrUnsupportedKey):
		manifestSignatures.WithLabelValues(format, resultFailure).Inc()
		r.markKey(mf, v1.ReasonKeyInvalid, fmt.Sprintf("Secret %s: %v", mf.Spec.SigningKey.SecretRef.Name, err))
		return stalled(v1.ReasonKeyInvalid, "Secret %s: %v", mf.Spec.SigningKey.SecretRef.Name, err)
	default:
		manifestSignatures.WithLabelValues(format, resultFailure).Inc()
		return stalled(v1.ReasonInvalidSpec, "building the manifest: %v", err)
	}
	manifestSignatures.WithLabelValues(format, resultSuccess).Inc()

	keyID, err := manifest.KeyID(key.Public())
	if err != nil {
		return stalled(v1.ReasonKeyInvalid, "Secret %s: %v", mf.Spec.SigningKey.SecretRef.Name, err)
	}
	sum := sha256.Sum256(data)
	mf.Status.Data = data
	mf.Status.SHA256 = hex.EncodeToString(sum[:])
	mf.Status.Size = int64(len(data))
	mf.Status.VendorID = spec.VendorID.String()
	mf.Status.ClassID = spec.ClassID.String()
	mf.Status.KeyID = hex.EncodeToString(keyID)
	mf.Status.SequenceNumber = int64(sequenceNumber(mf))
	log.FromContext(ctx).Info("Signed the manifest", "format", format, "bytes", len(data), "keyID", mf.Status.KeyID)
	return nil
}

// signingKey reads the Secret and checks its key, its certificate and its SUIT delegation chain when
// there are. Errors name the Secret and what is wrong, never anything of the key itself.
func (r *ManifestReconciler) signingKey(ctx context.Context, mf *v1.Manifest) (crypto.Signer, manifest.Delegation, error) {
	name := mf.Spec.SigningKey.SecretRef.Name
	var secret corev1.Secret
	fail := func(reason, format string, args ...any) (crypto.Signer, manifest.Delegation, error) {
		msg := fmt.Sprintf("Secret %s: ", name) + fmt.Sprintf(format, args...)
		if secret.Labels[SigningKeyLabel] != "true" {
			// Only a labelled Secret's changes reach the operator; labelling it is a change too.
			msg += fmt.Sprintf(" (label the Secret %s=true for fleetwave to notice a fix)", SigningKeyLabel)
		}
		r.markKey(mf, reason, msg)
		return nil, nil, stalled(reason, "%s", msg)
	}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: mf.Namespace, Name: name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, r.missingKey(mf, name)
		}
		return nil, nil, fmt.Errorf("reading Secret %s: %w", name, err)
	}
	keyPEM, ok := secret.Data[secretKeyPEM]
	if !ok {
		return fail(v1.ReasonKeyNotFound, "has no %s entry", secretKeyPEM)
	}
	key, err := manifest.ParsePrivateKey(keyPEM)
	if err != nil {
		return fail(v1.ReasonKeyInvalid, "%s: %v", secretKeyPEM, err)
	}
	if certPEM := secret.Data[secretCertPEM]; len(certPEM) > 0 {
		cert, err := parseCertificatePEM(certPEM)
		if err != nil {
			return fail(v1.ReasonKeyInvalid, "%s: %v", secretCertPEM, err)
		}
		if err := manifest.CheckCertificateKey(cert, key); err != nil {
			return fail(v1.ReasonCertificateMismatch, "%s does not certify the public key of %s", secretCertPEM, secretKeyPEM)
		}
	}
	var delegation manifest.Delegation
	if chain := secret.Data[secretDelegation]; len(chain) > 0 {
		delegation = chain
		if err := delegation.CheckDelegation(key.Public()); err != nil {
			return fail(v1.ReasonKeyInvalid, "%s does not delegate to the public key of %s", secretDelegation, secretKeyPEM)
		}
	}
	setCondition(mf, r.Clock.Now(), v1.ConditionSigningKeyReady, metav1.ConditionTrue, v1.ReasonKeyReady,
		fmt.Sprintf("Secret %s holds a usable signing key", name))
	return key, delegation, nil
}

// missingKey waits for a signing key Secret that does not exist yet: GitOps tools and secret
// operators may well create it after the Manifest. With WatchKeySecrets, a Secret created with
// SigningKeyLabel wakes the Manifest through the watch at once. Any other (every one, without the
// watch) is invisible to the cache, so the Manifest looks again: after MissingKeyRetry, then after
// waits as long as the key has been missing (so they double), up to maxMissingKeyRetry.
func (r *ManifestReconciler) missingKey(mf *v1.Manifest, name string) error {
	msg := fmt.Sprintf("Secret %s does not exist yet; it is looked for again within minutes", name)
	if r.WatchKeySecrets {
		msg = fmt.Sprintf("Secret %s does not exist yet; one labelled %s=true is noticed as soon as it is created, any other within minutes",
			name, SigningKeyLabel)
	}
	r.markKey(mf, v1.ReasonKeyNotFound, msg)
	now := r.Clock.Now()
	missingFor := time.Duration(0)
	if c := meta.FindStatusCondition(mf.Status.Conditions, v1.ConditionSigningKeyReady); c != nil {
		missingFor = now.Sub(c.LastTransitionTime.Time)
	}
	return waitingFor(missingWait(missingFor, r.MissingKeyRetry), v1.ReasonKeyNotFound, "%s", msg)
}

func (r *ManifestReconciler) markKey(mf *v1.Manifest, reason, message string) {
	setCondition(mf, r.Clock.Now(), v1.ConditionSigningKeyReady, metav1.ConditionFalse, reason, message)
}

func parseCertificatePEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// buildSpec turns the Manifest and its image into the library's typed inputs.
func buildSpec(mf *v1.Manifest, img *v1.FirmwareImage) (manifest.Spec, error) {
	vendor, class, err := deviceIdentity(mf.Spec)
	if err != nil {
		return manifest.Spec{}, err
	}
	digest, err := hex.DecodeString(img.Status.SHA256)
	if err != nil {
		return manifest.Spec{}, fmt.Errorf("FirmwareImage %s: status.sha256: %w", img.Name, err)
	}
	spec := manifest.Spec{
		Format:        manifest.FormatPelionV3,
		VendorID:      vendor,
		ClassID:       class,
		Component:     mf.Spec.Component,
		Priority:      mf.Spec.Priority,
		Version:       mf.Spec.Version,
		PayloadDigest: digest,
		PayloadSize:   uint64(img.Status.Size),
		PayloadURI:    img.Status.DatafileURL,
	}
	if img.Status.Encrypted != nil {
		if err := encryptedPayload(&spec, mf, img); err != nil {
			return manifest.Spec{}, err
		}
	}
	if mf.Spec.Format == v1.ManifestFormatSUIT {
		spec.Format = manifest.FormatSUIT
		if o := mf.Spec.SUIT; o != nil {
			spec.Algorithm = string(o.Algorithm)
			if o.SequenceNumber != nil {
				seq := uint64(*o.SequenceNumber)
				spec.SequenceNumber = &seq
			}
		}
	}
	return spec, nil
}

// encryptedPayload makes spec describe the image's encrypted datafile as an encrypted-raw payload:
// devices download and check the encrypted bytes, decrypt them with the key the Update Service
// appends to the manifest, and check the plaintext against the installed digest and size.
func encryptedPayload(spec *manifest.Spec, mf *v1.Manifest, img *v1.FirmwareImage) error {
	if mf.Spec.Format == v1.ManifestFormatSUIT {
		return stalled(v1.ReasonEncryptionUnsupported,
			"FirmwareImage %s is encrypted by the Update Service (spec.encrypt), which only Pelion v3 manifests can carry: set spec.format to PelionV3, or name an unencrypted image", img.Name)
	}
	encrypted, err := hex.DecodeString(img.Status.Encrypted.SHA256)
	if err != nil {
		return fmt.Errorf("FirmwareImage %s: status.encrypted.sha256: %w", img.Name, err)
	}
	spec.InstalledDigest, spec.InstalledSize = spec.PayloadDigest, spec.PayloadSize
	spec.PayloadFormat = manifest.PayloadEncryptedRaw
	spec.PayloadDigest, spec.PayloadSize = encrypted, uint64(img.Status.Encrypted.Size)
	return nil
}

// deviceIdentity derives the vendor and class ids the spec names.
func deviceIdentity(spec v1.ManifestSpec) (vendor, class uuid.UUID, err error) {
	if spec.Vendor.Domain != "" {
		vendor, err = manifest.VendorIDFromDomain(spec.Vendor.Domain)
	} else {
		vendor, err = uuid.Parse(spec.Vendor.ID)
	}
	if err != nil {
		return vendor, class, stalled(v1.ReasonInvalidSpec, "spec.vendor: %v", err)
	}
	if spec.DeviceClass.ModelName != "" {
		class, err = manifest.ClassIDFromModel(vendor, spec.DeviceClass.ModelName)
	} else {
		class, err = uuid.Parse(spec.DeviceClass.ID)
	}
	if err != nil {
		return vendor, class, stalled(v1.ReasonInvalidSpec, "spec.deviceClass: %v", err)
	}
	return vendor, class, nil
}

// sequenceNumber is what devices compare with their own version: suit.sequenceNumber when set, else
// the 64-bit form of spec.version (validated by the CRD schema).
func sequenceNumber(mf *v1.Manifest) uint64 {
	if o := mf.Spec.SUIT; o != nil && o.SequenceNumber != nil {
		return uint64(*o.SequenceNumber)
	}
	v, _ := manifest.EncodeVersion(mf.Spec.Version)
	return v
}

// publish makes sure the signed manifest is in the Update Service: observed by id, adopted by name
// after a crash, uploaded otherwise. The remote name carries the content hash, so a re-signed
// manifest never adopts its predecessor.
func (r *ManifestReconciler) publish(ctx context.Context, mf *v1.Manifest) error {
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return err
	}
	name := RemoteName(mf, "#"+mf.Status.SHA256[:12])
	previous := mf.Status.ManifestID
	remote, err := r.observeRemote(ctx, svc, mf, name)
	if err != nil {
		return err
	}
	if remote == nil {
		remote, err = svc.CreateFirmwareManifest(ctx, pelion.ManifestUpload{
			Name:        name,
			Description: "Manifest " + mf.Namespace + "/" + mf.Name + " version " + mf.Spec.Version,
			FileName:    mf.Name + ".manifest",
			Data:        mf.Status.Data,
		})
		if err != nil {
			manifestUploads.WithLabelValues(resultFailure).Inc()
			return serviceError("uploading the manifest", err)
		}
		manifestUploads.WithLabelValues(resultSuccess).Inc()
		manifestUploadBytes.Add(float64(len(mf.Status.Data)))
		log.FromContext(ctx).Info("Uploaded the manifest", "manifestID", remote.ID)
	}
	mf.Status.ManifestID = remote.ID
	if previous != "" && previous != remote.ID {
		// The manifest was re-signed for a new payload; its predecessor points devices nowhere.
		if err := svc.DeleteFirmwareManifest(ctx, previous); err != nil {
			log.FromContext(ctx).Info("Could not delete the superseded remote manifest", "manifestID", previous, "error", err.Error())
		}
	}
	markReady(mf, r.Clock.Now(), v1.ReasonPublished, fmt.Sprintf("Published as %s (%s, %d bytes)", remote.ID, mf.Spec.Format, mf.Status.Size))
	return nil
}

func (r *ManifestReconciler) observeRemote(ctx context.Context, svc pelion.UpdateService, mf *v1.Manifest, name string) (*pelion.FirmwareManifest, error) {
	if id := mf.Status.ManifestID; id != "" {
		remote, err := svc.GetFirmwareManifest(ctx, id)
		switch {
		case err == nil && remote.Name == name:
			return remote, nil
		case err != nil && !pelion.IsNotFound(err):
			return nil, serviceError("reading the remote manifest", err)
		}
	}
	remote, err := svc.FindFirmwareManifestByName(ctx, name)
	switch {
	case pelion.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, serviceError("looking up the remote manifest", err)
	case remote.DatafileSize != mf.Status.Size:
		return nil, stalled(v1.ReasonUpdateServiceRejected, "remote manifest %s holds %d bytes, the signed manifest %d", remote.ID, remote.DatafileSize, mf.Status.Size)
	}
	manifestUploads.WithLabelValues(resultAdopted).Inc()
	log.FromContext(ctx).Info("Adopted the remote manifest", "manifestID", remote.ID)
	return remote, nil
}

// reconcileDelete removes the remote manifest, then lets the object go.
func (r *ManifestReconciler) reconcileDelete(ctx context.Context, mf *v1.Manifest) error {
	if !controllerutil.ContainsFinalizer(mf, manifestFinalizer) {
		return nil
	}
	markProgressing(mf, r.Clock.Now(), v1.ReasonDeleting, "Deleting the remote manifest")
	if len(mf.Status.Deltas) > 0 {
		svc, err := r.Service.UpdateService(ctx)
		if err != nil {
			return err
		}
		if err := deleteDeltaManifests(ctx, svc, mf); err != nil {
			return err
		}
	}
	id, err := r.remoteID(ctx, mf)
	if err != nil {
		// Not knowing whether a remote manifest exists is no reason to forget it: keep the
		// finalizer and retry.
		return err
	}
	if id != "" {
		svc, err := r.Service.UpdateService(ctx)
		if err != nil {
			return err
		}
		if err := svc.DeleteFirmwareManifest(ctx, id); err != nil {
			return serviceError("deleting the remote manifest", err)
		}
		log.FromContext(ctx).Info("Deleted the remote manifest", "manifestID", id)
	}
	controllerutil.RemoveFinalizer(mf, manifestFinalizer)
	return r.Client.Update(ctx, mf)
}

// remoteID is the id of the remote manifest: from status, or, when the status was lost, by name; ""
// when there is none (never signed, or the service has no manifest of that name). A failed lookup is
// an error, never "", so an outage cannot let the finalizer go and leak the remote manifest.
func (r *ManifestReconciler) remoteID(ctx context.Context, mf *v1.Manifest) (string, error) {
	if mf.Status.ManifestID != "" || len(mf.Status.Data) == 0 {
		return mf.Status.ManifestID, nil
	}
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return "", err
	}
	found, err := svc.FindFirmwareManifestByName(ctx, RemoteName(mf, "#"+mf.Status.SHA256[:12]))
	switch {
	case pelion.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", serviceError("looking up the remote manifest to delete it", err)
	}
	return found.ID, nil
}

// SetupWithManager watches Manifests and the FirmwareImages they wait for and, with WatchKeySecrets,
// the metadata of the Secrets that hold their keys: with the manager's cache set up by CacheOptions,
// of the Secrets labelled SigningKeyLabel only. Without WatchKeySecrets nothing lists or watches
// Secrets.
func (r *ManifestReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1.Manifest{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1.FirmwareImage{}, handler.EnqueueRequestsFromMapFunc(
			referencing(r.Client, &v1.ManifestList{}, indexManifestImage)))
	if r.WatchKeySecrets {
		b = b.Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(
			referencing(r.Client, &v1.ManifestList{}, indexManifestSecret)), builder.OnlyMetadata)
	}
	return b.Named("manifest").Complete(r)
}
