package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RollForwardSuffix ends the name of the campaign that rolls a failed campaign's devices forward.
const RollForwardSuffix = "-rollforward"

// RollForwardName is the name of the campaign that rolls parent's devices forward: deterministic, so
// creating it again after a crash finds the one already made.
func RollForwardName(parent string) string {
	const maxName = 253
	return parent[:min(len(parent), maxName-len(RollForwardSuffix))] + RollForwardSuffix
}

// NewRollForward is the campaign that rolls the devices of parent's started waves forward to the
// known-good Manifest named manifest: the same fleet filter and device timeout, spec.target.rolloutOf
// naming parent, and a single wave that starts at once, paused by any failure for a person to look.
// The operator creates it when a RollForward failure policy trips, `kubectl fleetwave roll-forward`
// by hand; parent owns it either way, so it goes when parent goes.
func NewRollForward(parent *UpdateCampaign, manifest string) *UpdateCampaign {
	threshold, budget := intstr.FromString("95%"), intstr.FromString("5%")
	owner := metav1.NewControllerRef(parent, GroupVersion.WithKind("UpdateCampaign"))
	return &UpdateCampaign{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: parent.Namespace, Name: RollForwardName(parent.Name),
			Labels:          map[string]string{RollForwardOfLabel: parent.Name},
			OwnerReferences: []metav1.OwnerReference{*owner},
		},
		Spec: UpdateCampaignSpec{
			ManifestRef: LocalObjectReference{Name: manifest},
			Target:      CampaignTarget{Filter: parent.Spec.Target.Filter, RolloutOf: parent.Name},
			Waves: []Wave{{Name: "roll-forward", Size: intstr.FromString("100%"), SuccessThreshold: &threshold,
				Approval: ApprovalAuto}},
			FailurePolicy: FailurePolicy{MaxFailures: &budget, MinDevices: 10, Action: FailureActionPause},
			DeviceTimeout: parent.Spec.DeviceTimeout,
			Confirmation:  parent.Spec.Confirmation,
		},
	}
}

// RollForwardOfLabel marks a roll-forward campaign with the name of the campaign it recovers.
const RollForwardOfLabel = "update.fleetwave.io/roll-forward-of"
