package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FirmwareImageSpec says where a firmware binary comes from and how it is registered with the
// Update Service. It is immutable: a new build is a new FirmwareImage.
//
// +kubebuilder:validation:XValidation:rule="!has(self.source.url) || has(self.sha256)",message="sha256 is required when source.url is set",fieldPath=".sha256"
// +kubebuilder:validation:XValidation:rule="!has(self.deltaFrom) || self.deltaFrom.all(d, self.deltaFrom.exists_one(e, e.image == d.image))",message="deltaFrom names each precursor image once",fieldPath=".deltaFrom"
// +kubebuilder:validation:XValidation:rule="!(has(self.encrypt) && self.encrypt) || !has(self.deltaFrom) || size(self.deltaFrom) == 0",message="deltaFrom cannot be combined with encrypt: the Update Service does not encrypt delta payloads",fieldPath=".deltaFrom"
type FirmwareImageSpec struct {
	// source is where the firmware binary is read from: exactly one of url or configMap.
	// +required
	Source FirmwareImageSource `json:"source"`

	// sha256 is the expected SHA-256 of the binary, as 64 lowercase hex characters. Required with
	// source.url; with source.configMap it is optional and checked when given. A mismatch stops
	// the upload for good (Ready=False, reason DigestMismatch).
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	SHA256 string `json:"sha256,omitempty"`

	// encrypt asks the Update Service to encrypt the datafile (datafile_encryption): devices download
	// it encrypted (AES-128-CCM) and get the key appended to their manifest, so a PelionV3 Manifest of
	// the image is built as encrypted-raw. SUIT Manifests cannot use an encrypted image, and it
	// cannot be combined with deltaFrom.
	// +optional
	Encrypt bool `json:"encrypt,omitempty"`

	// deletionPolicy says what happens to the image in the Update Service when this object is
	// deleted: Delete removes it (once no Manifest references it), Retain keeps it. The delta
	// patches made for deltaFrom follow the same policy.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// deltaFrom names precursor FirmwareImages, in the same namespace, that devices may be running:
	// for each, once both are uploaded, the operator makes an arm-patch-stream patch from the
	// precursor to this image and uploads it, unless the patch is not worth it (see threshold).
	// +optional
	// +kubebuilder:validation:MaxItems=4
	DeltaFrom []DeltaSource `json:"deltaFrom,omitempty"`
}

// DeltaSource names one precursor image to make a delta patch from.
type DeltaSource struct {
	// image is the name of the precursor FirmwareImage.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Image string `json:"image"`

	// blockSize is the largest frame of the patch in bytes, and the size of each of the device's
	// two work buffers. Legacy Update Client devices accept at most 512.
	// +optional
	// +kubebuilder:default=512
	// +kubebuilder:validation:Minimum=64
	// +kubebuilder:validation:Maximum=1048576
	BlockSize int32 `json:"blockSize,omitempty"`

	// threshold is the patch size, in percent of the full image, at and above which the patch is
	// not worth sending: devices then get the full image (manifest-delta-tool's default, 60).
	// +optional
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=99
	Threshold int32 `json:"threshold,omitempty"`
}

// DeltaResult says what became of the delta from one precursor.
// +kubebuilder:validation:Enum=Uploaded;NotWorthIt;ImageTooLarge
type DeltaResult string

const (
	// DeltaUploaded means the patch is uploaded; devices running the precursor can use it.
	DeltaUploaded DeltaResult = "Uploaded"
	// DeltaNotWorthIt means the patch came to threshold percent of the full image or more; devices
	// running the precursor get the full image and no patch is uploaded.
	DeltaNotWorthIt DeltaResult = "NotWorthIt"
	// DeltaImageTooLarge means one of the images is over the largest image the operator diffs (32 MiB);
	// devices running the precursor get the full image.
	DeltaImageTooLarge DeltaResult = "ImageTooLarge"
)

// ConditionDeltaReady on a FirmwareImage with deltaFrom is True once every precursor's delta is
// decided: uploaded, or found not worth it (reason DeltaNotWorthIt when at least one falls back to
// the full image). It is False while a precursor is not Ready yet or a delta failed.
const ConditionDeltaReady = "DeltaReady"

// Reasons of ConditionDeltaReady.
const (
	// ReasonDeltasUploaded: every precursor has an uploaded patch.
	ReasonDeltasUploaded = "DeltasUploaded"
	// ReasonDeltaNotWorthIt: at least one precursor falls back to the full image.
	ReasonDeltaNotWorthIt = "DeltaNotWorthIt"
	// ReasonPrecursorNotReady: a precursor FirmwareImage is missing or not Ready yet.
	ReasonPrecursorNotReady = "PrecursorNotReady"
	// ReasonDeltaFailed: making or uploading a patch failed; retried with backoff.
	ReasonDeltaFailed = "DeltaFailed"
)

// FirmwareImageDelta is the delta patch from one precursor.
type FirmwareImageDelta struct {
	// precursor is the name of the precursor FirmwareImage.
	// +required
	Precursor string `json:"precursor"`

	// precursorSHA256 is the SHA-256 of the precursor image the patch applies to.
	// +required
	PrecursorSHA256 string `json:"precursorSHA256"`

	// result says whether the patch was uploaded or devices fall back to the full image.
	// +required
	Result DeltaResult `json:"result"`

	// patchSHA256 is the SHA-256 of the patch (set unless result is ImageTooLarge).
	// +optional
	PatchSHA256 string `json:"patchSHA256,omitempty"`

	// patchSize is the size of the patch in bytes (set unless result is ImageTooLarge).
	// +optional
	PatchSize int64 `json:"patchSize,omitempty"`

	// imageID is the Update Service's id of the uploaded patch (result Uploaded only).
	// +optional
	ImageID string `json:"imageID,omitempty"`

	// datafileURL is where devices download the patch from (result Uploaded only).
	// +optional
	DatafileURL string `json:"datafileURL,omitempty"`
}

// FirmwareImageSource names exactly one place to read the firmware binary from.
//
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.configMap)",message="exactly one of url or configMap must be set"
type FirmwareImageSource struct {
	// url is the https URL of the binary. It is streamed and hashed on the way through, never held
	// whole in memory. Loopback, private and link-local destinations, and plain http, are refused
	// unless the operator's --image-source-allow (and --image-source-allow-http) name them.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	URL string `json:"url,omitempty"`

	// configMap names a key of a ConfigMap in the same namespace whose binaryData holds the
	// binary. Suited to small images and tests (a ConfigMap holds at most 1 MiB).
	// +optional
	ConfigMap *ConfigMapKeyReference `json:"configMap,omitempty"`
}

// ConfigMapKeyReference names one key of a ConfigMap in the object's namespace.
type ConfigMapKeyReference struct {
	// name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key in the ConfigMap's binaryData (or data) that holds the binary.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// DeletionPolicy says whether deleting a Kubernetes object deletes its Update Service counterpart.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes the remote object when the Kubernetes object is deleted.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain leaves the remote object in place.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// FirmwareImageStatus is what the controller observed of the image and its upload.
type FirmwareImageStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// sha256 is the SHA-256 of the uploaded binary, as 64 lowercase hex characters.
	// +optional
	SHA256 string `json:"sha256,omitempty"`

	// size of the binary in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`

	// imageID is the Update Service's id of the firmware image.
	// +optional
	ImageID string `json:"imageID,omitempty"`

	// datafileURL is where devices download the image from; manifests point devices at it.
	// +optional
	DatafileURL string `json:"datafileURL,omitempty"`

	// encrypted describes the encrypted datafile the Update Service serves for spec.encrypt: what
	// devices download. sha256 and size above stay those of the image as uploaded and installed.
	// +optional
	Encrypted *EncryptedDatafile `json:"encrypted,omitempty"`

	// deltas are the delta patches from spec.deltaFrom's precursors, one per precursor once decided.
	// +optional
	// +kubebuilder:validation:MaxItems=4
	Deltas []FirmwareImageDelta `json:"deltas,omitempty"`

	// conditions: Ready, Reconciling, Stalled and, with deltaFrom, DeltaReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// EncryptedDatafile is the encrypted form of an image, as the Update Service stores and serves it.
type EncryptedDatafile struct {
	// sha256 of the encrypted datafile, as 64 lowercase hex characters.
	// +required
	SHA256 string `json:"sha256"`

	// size of the encrypted datafile in bytes.
	// +required
	Size int64 `json:"size"`
}

// FirmwareImage is a firmware binary registered with the Update Service.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fwi;fwimage,categories=fleetwave
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Image ID",type=string,JSONPath=`.status.imageID`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.size`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="SHA256",type=string,JSONPath=`.status.sha256`,priority=1
// +kubebuilder:printcolumn:name="Encrypted",type=boolean,JSONPath=`.spec.encrypt`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type FirmwareImage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is immutable: a new build is a new FirmwareImage.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable; create a new FirmwareImage for a new build"
	Spec FirmwareImageSpec `json:"spec"`

	// status is written by the controller. Its schema default makes a new object read back with
	// observedGeneration 0, which kstatus (Flux, Argo CD) reports as in progress until the first
	// reconcile, instead of reporting an object nobody looked at yet as current.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status FirmwareImageStatus `json:"status,omitempty"`
}

// FirmwareImageList is a list of FirmwareImages.
//
// +kubebuilder:object:root=true
type FirmwareImageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FirmwareImage `json:"items"`
}
