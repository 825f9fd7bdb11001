package controllers

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// publishDeltas signs and uploads an arm-patch-stream manifest for each patch the FirmwareImage
// uploaded, once per patch, and records them in status.deltas. SUIT Manifests get none: fleetwave's
// SUIT manifests carry raw-binary payloads only.
func (r *ManifestReconciler) publishDeltas(ctx context.Context, mf *v1.Manifest, img *v1.FirmwareImage) error {
	if mf.Spec.Format == v1.ManifestFormatSUIT {
		return nil
	}
	var (
		want []v1.ManifestDelta
		key  crypto.Signer
	)
	for _, d := range img.Status.Deltas {
		if d.Result != v1.DeltaUploaded {
			continue
		}
		if have := manifestDeltaFor(mf, d); have != nil {
			want = append(want, *have)
			continue
		}
		if key == nil {
			var err error
			if key, _, err = r.signingKey(ctx, mf); err != nil {
				return err
			}
		}
		md, err := r.publishDelta(ctx, mf, img, d, key)
		if err != nil {
			return err
		}
		want = append(want, *md)
	}
	mf.Status.Deltas = want
	return nil
}

// manifestDeltaFor returns the delta manifest in status made for this patch, if there is one.
func manifestDeltaFor(mf *v1.Manifest, d v1.FirmwareImageDelta) *v1.ManifestDelta {
	for i, md := range mf.Status.Deltas {
		if md.Precursor == d.Precursor && md.PrecursorSHA256 == d.PrecursorSHA256 && md.PatchSHA256 == d.PatchSHA256 {
			return &mf.Status.Deltas[i]
		}
	}
	return nil
}

// publishDelta signs the delta manifest and uploads it under a name carrying its content hash, or
// adopts the one a crash left there (signatures are deterministic, so the name is too).
func (r *ManifestReconciler) publishDelta(ctx context.Context, mf *v1.Manifest, img *v1.FirmwareImage, d v1.FirmwareImageDelta, key crypto.Signer) (*v1.ManifestDelta, error) {
	data, err := signDelta(mf, img, d, key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	md := &v1.ManifestDelta{Precursor: d.Precursor, PrecursorSHA256: d.PrecursorSHA256, PatchSHA256: d.PatchSHA256,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return nil, err
	}
	name := RemoteName(mf, "#"+md.SHA256[:12])
	remote, err := svc.FindFirmwareManifestByName(ctx, name)
	switch {
	case err == nil:
		manifestUploads.WithLabelValues(resultAdopted).Inc()
	case !pelion.IsNotFound(err):
		return nil, serviceError("looking up the remote delta manifest", err)
	default:
		remote, err = svc.CreateFirmwareManifest(ctx, pelion.ManifestUpload{
			Name:        name,
			Description: "Manifest " + mf.Namespace + "/" + mf.Name + " version " + mf.Spec.Version + ", delta from " + d.Precursor,
			FileName:    mf.Name + "-from-" + d.Precursor + ".manifest",
			Data:        data,
		})
		if err != nil {
			manifestUploads.WithLabelValues(resultFailure).Inc()
			return nil, serviceError("uploading the delta manifest", err)
		}
		manifestUploads.WithLabelValues(resultSuccess).Inc()
		manifestUploadBytes.Add(float64(len(data)))
	}
	md.ManifestID = remote.ID
	log.FromContext(ctx).Info("Published the delta manifest", "precursor", d.Precursor, "manifestID", remote.ID)
	return md, nil
}

// signDelta builds the PelionV3 manifest of the patch: the device downloads the patch, applies it to
// the precursor and must end with the full image.
func signDelta(mf *v1.Manifest, img *v1.FirmwareImage, d v1.FirmwareImageDelta, key crypto.Signer) ([]byte, error) {
	spec, err := buildSpec(mf, img)
	if err != nil {
		return nil, err
	}
	patchDigest, err := hex.DecodeString(d.PatchSHA256)
	if err != nil {
		return nil, fmt.Errorf("FirmwareImage %s: delta from %s: patchSHA256: %w", img.Name, d.Precursor, err)
	}
	precursor, err := hex.DecodeString(d.PrecursorSHA256)
	if err != nil {
		return nil, fmt.Errorf("FirmwareImage %s: delta from %s: precursorSHA256: %w", img.Name, d.Precursor, err)
	}
	spec.InstalledDigest, spec.InstalledSize = spec.PayloadDigest, spec.PayloadSize
	spec.PayloadFormat = manifest.PayloadArmPatchStream
	spec.PayloadDigest, spec.PayloadSize, spec.PayloadURI = patchDigest, uint64(d.PatchSize), d.DatafileURL
	spec.PrecursorDigest = precursor
	data, err := manifest.Build(spec, key)
	if err != nil {
		manifestSignatures.WithLabelValues(string(spec.Format), resultFailure).Inc()
		return nil, stalled(v1.ReasonInvalidSpec, "building the delta manifest from %s: %v", d.Precursor, err)
	}
	manifestSignatures.WithLabelValues(string(spec.Format), resultSuccess).Inc()
	return data, nil
}

// deleteDeltaManifests removes the uploaded delta manifests.
func deleteDeltaManifests(ctx context.Context, svc pelion.UpdateService, mf *v1.Manifest) error {
	for _, md := range mf.Status.Deltas {
		if err := svc.DeleteFirmwareManifest(ctx, md.ManifestID); err != nil && !pelion.IsNotFound(err) {
			return serviceError("deleting a remote delta manifest", err)
		}
		log.FromContext(ctx).Info("Deleted the delta manifest", "precursor", md.Precursor, "manifestID", md.ManifestID)
	}
	return nil
}
