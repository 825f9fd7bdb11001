// Package v1alpha1 holds the fleetwave API: FirmwareImage, Manifest and UpdateCampaign in the group
// update.fleetwave.io. Validation lives in the CRD schema (OpenAPI markers and CEL rules), so an
// invalid object is refused at admission with a message that names its field. The package imports
// only apimachinery, so clients can use it without pulling in the operator.
//
// +kubebuilder:object:generate=true
// +groupName=update.fleetwave.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of every fleetwave kind.
var GroupVersion = schema.GroupVersion{Group: "update.fleetwave.io", Version: "v1alpha1"}

var (
	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the fleetwave kinds to a runtime.Scheme.
	AddToScheme = schemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&FirmwareImage{}, &FirmwareImageList{},
		&Manifest{}, &ManifestList{},
		&UpdateCampaign{}, &UpdateCampaignList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
