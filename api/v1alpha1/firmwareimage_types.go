package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FirmwareImageSpec says where a firmware binary comes from and how it is registered with the
// Update Service. It is immutable: a new build is a new FirmwareImage.
//
// +kubebuilder:validation:XValidation:rule="!has(self.source.url) || has(self.sha256)",message="sha256 is required when source.url is set",fieldPath=".sha256"
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

	// encrypt asks the Update Service to encrypt the datafile at rest and in transit to devices.
	// Not supported yet: such an image needs encrypted-raw manifests, which fleetwave does not
	// build; the image is refused with reason EncryptionUnsupported rather than sent unencrypted.
	// +optional
	Encrypt bool `json:"encrypt,omitempty"`

	// deletionPolicy says what happens to the image in the Update Service when this object is
	// deleted: Delete removes it (once no Manifest references it), Retain keeps it.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
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

	// conditions: Ready, Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
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
