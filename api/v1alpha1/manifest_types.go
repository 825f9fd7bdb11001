package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ManifestSpec describes a signed update manifest for one FirmwareImage. It is immutable: a new
// version is a new Manifest.
//
// +kubebuilder:validation:XValidation:rule="!has(self.suit) || self.format == 'SUIT'",message="suit options apply only when format is SUIT",fieldPath=".suit"
// +kubebuilder:validation:XValidation:rule="self.format != 'SUIT' || !has(self.priority) || self.priority == 0",message="priority is not carried by SUIT manifests; leave it unset",fieldPath=".priority"
type ManifestSpec struct {
	// firmwareImageRef names the FirmwareImage, in the same namespace, the manifest points devices at.
	// +required
	FirmwareImageRef LocalObjectReference `json:"firmwareImageRef"`

	// format of the manifest: PelionV3 (ASN.1 DER, what the Pelion Update Service and device client
	// accept) or SUIT (an IETF SUIT envelope signed with COSE_Sign1).
	// +optional
	// +kubebuilder:default=PelionV3
	Format ManifestFormat `json:"format,omitempty"`

	// version of the firmware as semver MAJOR.MINOR.PATCH, each part 0–999. Devices refuse a
	// version not strictly greater than the one they run. Its 64-bit form,
	// 1<<55 | major<<40 | minor<<16 | patch, is also the SUIT sequence number unless
	// suit.sequenceNumber overrides it; SUIT manifests also carry it as suit-set-version with a
	// version condition, so SUIT devices refuse a lower version whatever the sequence number.
	// +required
	// +kubebuilder:validation:MaxLength=11
	// +kubebuilder:validation:Pattern=`^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$`
	// +kubebuilder:validation:XValidation:rule="self != '0.0.0'",message="version 0.0.0 is not a valid firmware version"
	Version string `json:"version"`

	// vendor identifies the device maker: a domain (vendor id = uuid5(DNS, domain)) or an id.
	// +required
	Vendor VendorSpec `json:"vendor"`

	// deviceClass identifies the device model: a model name (class id = uuid5(vendor id, model))
	// or an id.
	// +required
	DeviceClass DeviceClassSpec `json:"deviceClass"`

	// component is the device component the image is for.
	// +optional
	// +kubebuilder:default=MAIN
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]+$`
	Component string `json:"component,omitempty"`

	// priority is passed to the device application, which may use it to decide when to install.
	// PelionV3 only.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	Priority int64 `json:"priority,omitempty"`

	// signingKey names the Secret holding the signing key.
	// +required
	SigningKey SigningKeySpec `json:"signingKey"`

	// suit holds options for format SUIT.
	// +optional
	SUIT *SUITOptions `json:"suit,omitempty"`
}

// ManifestFormat is the wire format of a manifest.
// +kubebuilder:validation:Enum=PelionV3;SUIT
type ManifestFormat string

const (
	// ManifestFormatPelionV3 is the Pelion manifest schema v3 in ASN.1 DER.
	ManifestFormatPelionV3 ManifestFormat = "PelionV3"
	// ManifestFormatSUIT is an IETF SUIT envelope signed with COSE_Sign1.
	ManifestFormatSUIT ManifestFormat = "SUIT"
)

// VendorSpec names the device vendor: exactly one of domain or id.
//
// +kubebuilder:validation:XValidation:rule="has(self.domain) != has(self.id)",message="exactly one of domain or id must be set"
type VendorSpec struct {
	// domain of the vendor, such as example.com; the vendor id is uuid5(DNS, domain).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`
	Domain string `json:"domain,omitempty"`

	// id of the vendor: a UUID, with or without dashes.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$`
	ID string `json:"id,omitempty"`
}

// DeviceClassSpec names the device class: exactly one of modelName or id.
//
// +kubebuilder:validation:XValidation:rule="has(self.modelName) != has(self.id)",message="exactly one of modelName or id must be set"
type DeviceClassSpec struct {
	// modelName of the device; the class id is uuid5(vendor id, modelName).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	ModelName string `json:"modelName,omitempty"`

	// id of the device class: a UUID, with or without dashes.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$`
	ID string `json:"id,omitempty"`
}

// SigningKeyDelegationKey is the entry of a signing key Secret that holds a SUIT delegation chain
// from a key devices trust to tls.key.
const SigningKeyDelegationKey = "delegation.cbor"

// SigningKeySpec says where the manifest signing key lives.
type SigningKeySpec struct {
	// secretRef names a Secret in the same namespace holding tls.key (a PEM private key: ECDSA
	// P-256 for both formats, Ed25519 also for SUIT) and, when devices trust a certificate,
	// tls.crt. `fleetwave init` writes such a Secret (type kubernetes.io/tls); an Opaque Secret
	// with tls.key alone works too. For SUIT, delegation.cbor may hold a delegation chain
	// (`fleetwave manifest delegate`) from a key devices trust to tls.key; manifests carry it.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`
}

// SUITOptions tune a SUIT manifest.
type SUITOptions struct {
	// algorithm of the COSE_Sign1 signature: ES256 (ECDSA P-256 with SHA-256), ESP256 (the same,
	// under its fully specified identifier) or EdDSA (Ed25519). The key must match.
	// +optional
	// +kubebuilder:default=ES256
	Algorithm SUITAlgorithm `json:"algorithm,omitempty"`

	// sequenceNumber overrides the manifest sequence number, which by default is the 64-bit
	// form of spec.version. Devices refuse a sequence number not greater than their own.
	// +optional
	// +kubebuilder:validation:Minimum=1
	SequenceNumber *int64 `json:"sequenceNumber,omitempty"`
}

// SUITAlgorithm is a COSE signature algorithm for SUIT manifests.
// +kubebuilder:validation:Enum=ES256;ESP256;EdDSA
type SUITAlgorithm string

const (
	// SUITAlgorithmES256 is ECDSA P-256 with SHA-256 (COSE -7).
	SUITAlgorithmES256 SUITAlgorithm = "ES256"
	// SUITAlgorithmESP256 is ECDSA P-256 with SHA-256 under its fully specified id (COSE -9).
	SUITAlgorithmESP256 SUITAlgorithm = "ESP256"
	// SUITAlgorithmEdDSA is Ed25519 (COSE -8).
	SUITAlgorithmEdDSA SUITAlgorithm = "EdDSA"
)

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// ManifestStatus is the signed manifest and what the Update Service knows it as.
type ManifestStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// data is the signed manifest, base64-encoded; at most 2 KiB, the Update Service's limit.
	// +optional
	// +kubebuilder:validation:MaxLength=2732
	Data []byte `json:"data,omitempty"`

	// sha256 of data, as 64 lowercase hex characters.
	// +optional
	SHA256 string `json:"sha256,omitempty"`

	// size of data in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`

	// manifestID is the Update Service's id of the uploaded manifest.
	// +optional
	ManifestID string `json:"manifestID,omitempty"`

	// vendorID the manifest was built for, as a dashed UUID.
	// +optional
	VendorID string `json:"vendorID,omitempty"`

	// classID the manifest was built for, as a dashed UUID.
	// +optional
	ClassID string `json:"classID,omitempty"`

	// sequenceNumber is the version devices compare with their own: the 64-bit form of
	// spec.version, or suit.sequenceNumber.
	// +optional
	SequenceNumber int64 `json:"sequenceNumber,omitempty"`

	// keyID is the SHA-256 of the signing public key's SubjectPublicKeyInfo, as hex.
	// +optional
	KeyID string `json:"keyID,omitempty"`

	// deltas are the signed arm-patch-stream manifests, one for each delta patch the FirmwareImage
	// uploaded: devices running that precursor may be sent one in place of the full-image manifest.
	// PelionV3 only: SUIT Manifests get no deltas. The manifests themselves live in the Update
	// Service; status keeps their ids and digests.
	// +optional
	// +kubebuilder:validation:MaxItems=4
	Deltas []ManifestDelta `json:"deltas,omitempty"`

	// conditions: Ready, Reconciling, Stalled, FirmwareImageReady and SigningKeyReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ManifestDelta is a signed delta manifest: payload the patch, installed image the full image.
type ManifestDelta struct {
	// precursor is the name of the precursor FirmwareImage.
	// +required
	Precursor string `json:"precursor"`

	// precursorSHA256 is the SHA-256 of the image the device must run to use this manifest.
	// +required
	PrecursorSHA256 string `json:"precursorSHA256"`

	// patchSHA256 is the SHA-256 of the patch the manifest points devices at.
	// +required
	PatchSHA256 string `json:"patchSHA256"`

	// sha256 of the signed manifest, as 64 lowercase hex characters.
	// +required
	SHA256 string `json:"sha256"`

	// size of the signed manifest in bytes.
	// +required
	Size int64 `json:"size"`

	// manifestID is the Update Service's id of the uploaded manifest.
	// +required
	ManifestID string `json:"manifestID"`
}

// Manifest is a signed update manifest for one FirmwareImage, published to the Update Service.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fwm;fwmanifest,categories=fleetwave
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Format",type=string,JSONPath=`.spec.format`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Manifest ID",type=string,JSONPath=`.status.manifestID`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.firmwareImageRef.name`,priority=1
// +kubebuilder:printcolumn:name="Key ID",type=string,JSONPath=`.status.keyID`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type Manifest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is immutable: a new version is a new Manifest.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable; create a new Manifest for a new version"
	Spec ManifestSpec `json:"spec"`

	// status is written by the controller. Its schema default makes a new object read back with
	// observedGeneration 0, which kstatus (Flux, Argo CD) reports as in progress until the first
	// reconcile, instead of reporting an object nobody looked at yet as current.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status ManifestStatus `json:"status,omitempty"`
}

// ManifestList is a list of Manifests.
//
// +kubebuilder:object:root=true
type ManifestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Manifest `json:"items"`
}
