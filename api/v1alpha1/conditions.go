package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Condition types. Every kind carries Ready, Reconciling and Stalled, the three conditions kstatus
// (and so Flux, Argo CD and `kubectl wait`) understands: Ready=True once the object has done its job,
// Reconciling=True while work is under way, Stalled=True when it cannot go on without a change from a
// person. UpdateCampaign adds Progressing and Paused.
const (
	// ConditionReady is True when the object is usable: the image is uploaded, the manifest is
	// signed and published, the campaign has completed.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is still working towards Ready.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress until the spec, a
	// referenced object or a person acts. Its reason says what is wrong.
	ConditionStalled = "Stalled"

	// ConditionFirmwareImageReady on a Manifest mirrors the referenced FirmwareImage's readiness.
	ConditionFirmwareImageReady = "FirmwareImageReady"
	// ConditionSigningKeyReady on a Manifest is True when the signing key Secret holds a usable key.
	ConditionSigningKeyReady = "SigningKeyReady"

	// ConditionProgressing on an UpdateCampaign is True while devices are being updated.
	ConditionProgressing = "Progressing"
	// ConditionPaused on an UpdateCampaign is True while the rollout is held: by spec.paused, by the
	// failure policy, or waiting for a person to approve the next wave.
	ConditionPaused = "Paused"
)

// Condition reasons shared by the kinds. Reasons are stable CamelCase words that tools may match on;
// the condition message carries the human detail.
const (
	// ReasonReconciling: the controller has seen the current generation and is working on it.
	ReasonReconciling = "Reconciling"
	// ReasonUpdateServiceUnavailable: the Update Service could not be reached or answered with a
	// server error; the controller retries with backoff.
	ReasonUpdateServiceUnavailable = "UpdateServiceUnavailable"
	// ReasonUpdateServiceRejected: the Update Service refused a request as invalid; retrying the same
	// request cannot succeed.
	ReasonUpdateServiceRejected = "UpdateServiceRejected"
	// ReasonDeleting: the object is being deleted and its remote counterpart cleaned up.
	ReasonDeleting = "Deleting"
	// ReasonReconcileFailed: an unexpected error; the controller retries with backoff.
	ReasonReconcileFailed = "ReconcileFailed"
	// ReasonInvalidSpec: the spec passed admission but cannot be carried out as written.
	ReasonInvalidSpec = "InvalidSpec"
)

// FirmwareImage reasons.
const (
	// ReasonUploaded: the image is registered with the Update Service (Ready=True).
	ReasonUploaded = "Uploaded"
	// ReasonUploading: the image is being fetched and uploaded.
	ReasonUploading = "Uploading"
	// ReasonDigestMismatch: the fetched image does not match spec.sha256. Terminal.
	ReasonDigestMismatch = "DigestMismatch"
	// ReasonSourceNotFound: the ConfigMap or key named in spec.source does not exist.
	ReasonSourceNotFound = "SourceNotFound"
	// ReasonSourceUnavailable: the source URL could not be fetched; retried with backoff.
	ReasonSourceUnavailable = "SourceUnavailable"
	// ReasonSourceRefused: the operator's image source policy refused spec.source.url: a scheme
	// other than https, a destination address that is not public (loopback, private, link-local and
	// the like) and not on the operator's allow-list, or a redirect past the limit or from https to
	// http. Terminal until the spec or the operator's flags change.
	ReasonSourceRefused = "SourceRefused"
	// ReasonImageTooLarge: the image is larger than the operator's --max-image-size (declared or
	// streamed), or the Update Service refused it as too large. Terminal.
	ReasonImageTooLarge = "ImageTooLarge"
	// ReasonInUse: deletion waits because a Manifest still references the image.
	ReasonInUse = "InUse"
	// ReasonEncryptionUnsupported: an encrypted image cannot be delivered as asked: the Update Service
	// did not encrypt an image uploaded with spec.encrypt, or a SUIT Manifest names an encrypted
	// image (service-side encryption is a Pelion v3 feature). Terminal.
	ReasonEncryptionUnsupported = "EncryptionUnsupported"
)

// Manifest reasons.
const (
	// ReasonPublished: the manifest is signed and uploaded (Ready=True).
	ReasonPublished = "Published"
	// ReasonFirmwareImageNotReady: the referenced FirmwareImage is missing or not Ready yet.
	ReasonFirmwareImageNotReady = "FirmwareImageNotReady"
	// ReasonKeyNotFound: the signing key Secret, or its tls.key entry, does not exist.
	ReasonKeyNotFound = "KeyNotFound"
	// ReasonKeyInvalid: the signing key is malformed or of a type the format cannot use.
	ReasonKeyInvalid = "KeyInvalid"
	// ReasonCertificateMismatch: tls.crt does not hold the public half of tls.key.
	ReasonCertificateMismatch = "CertificateMismatch"
	// ReasonManifestTooLarge: the signed manifest exceeds the Update Service's 2 KiB limit.
	ReasonManifestTooLarge = "ManifestTooLarge"
	// ReasonKeyReady: the signing key was loaded and checked (SigningKeyReady=True).
	ReasonKeyReady = "KeyReady"
	// ReasonFirmwareImageReady: the referenced FirmwareImage is Ready (FirmwareImageReady=True).
	ReasonFirmwareImageReady = "FirmwareImageReady"
)

// UpdateCampaign reasons.
const (
	// ReasonCompleted: every wave finished within its thresholds (Ready=True).
	ReasonCompleted = "Completed"
	// ReasonManifestNotReady: the referenced Manifest is missing or not Ready yet.
	ReasonManifestNotReady = "ManifestNotReady"
	// ReasonWaveInProgress: devices of the current wave are being updated.
	ReasonWaveInProgress = "WaveInProgress"
	// ReasonSoaking: the current wave finished and its soak time is running.
	ReasonSoaking = "Soaking"
	// ReasonWaitingForApproval: the next wave needs a person's approval.
	ReasonWaitingForApproval = "WaitingForApproval"
	// ReasonPausedBySpec: spec.paused is true.
	ReasonPausedBySpec = "PausedBySpec"
	// ReasonFailureBudgetExceeded: failures passed spec.failurePolicy.maxFailures.
	ReasonFailureBudgetExceeded = "FailureBudgetExceeded"
	// ReasonSuccessThresholdNotMet: a wave finished below its successThreshold.
	ReasonSuccessThresholdNotMet = "SuccessThresholdNotMet"
	// ReasonFailureClassExceeded: a wave's failures of one class passed the class's rule in
	// spec.failurePolicy.classes (by default, any device that rejected the release).
	ReasonFailureClassExceeded = "FailureClassExceeded"
	// ReasonCampaignBudgetExceeded: failures across the waves started so far passed
	// spec.failurePolicy.campaign.maxFailures.
	ReasonCampaignBudgetExceeded = "CampaignBudgetExceeded"
	// ReasonAborted: a person aborted the campaign, or the failure policy did.
	ReasonAborted = "Aborted"
)

// UpdateCampaign reasons about roll-forward.
const (
	// ReasonRolloutOfNotPlanned: the campaign spec.target.rolloutOf names does not exist or has not
	// planned its waves yet, so the devices to reach are not known.
	ReasonRolloutOfNotPlanned = "RolloutOfNotPlanned"
	// EventRolledForward: the failure policy created the roll-forward campaign.
	EventRolledForward = "RolledForward"
	// EventRollForwardBlocked: the roll-forward campaign cannot be created (its Manifest is missing,
	// not Ready or not newer, or another object holds its name).
	EventRollForwardBlocked = "RollForwardBlocked"
)

// IsFailurePolicyReason reports whether a campaign condition reason says the failure policy tripped:
// a budget spent, a failure class over its rule, or a success threshold missed.
func IsFailurePolicyReason(reason string) bool {
	switch reason {
	case ReasonFailureBudgetExceeded, ReasonSuccessThresholdNotMet, ReasonFailureClassExceeded, ReasonCampaignBudgetExceeded:
		return true
	}
	return false
}

// UpdateCampaign event reasons, for the events that mark a wave's start and end.
const (
	// EventWaveStarted: a wave's devices were sent the update.
	EventWaveStarted = "WaveStarted"
	// EventWaveFinished: every device of a wave reported, timed out, or was stopped.
	EventWaveFinished = "WaveFinished"
)

// StatusConditions gives the controllers one way to reach the conditions of every kind.
func (in *FirmwareImage) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// StatusConditions gives the controllers one way to reach the conditions of every kind.
func (in *Manifest) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// StatusConditions gives the controllers one way to reach the conditions of every kind.
func (in *UpdateCampaign) StatusConditions() *[]metav1.Condition { return &in.Status.Conditions }

// StatusObservedGeneration gives the controllers one way to reach status.observedGeneration.
func (in *FirmwareImage) StatusObservedGeneration() *int64 { return &in.Status.ObservedGeneration }

// StatusObservedGeneration gives the controllers one way to reach status.observedGeneration.
func (in *Manifest) StatusObservedGeneration() *int64 { return &in.Status.ObservedGeneration }

// StatusObservedGeneration gives the controllers one way to reach status.observedGeneration.
func (in *UpdateCampaign) StatusObservedGeneration() *int64 { return &in.Status.ObservedGeneration }
