package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// This file is roll-forward: a failed release cannot be rolled back (devices refuse older versions),
// so its devices are sent a known-good payload under a higher version by a campaign of their own.

// +kubebuilder:rbac:groups=update.fleetwave.io,resources=updatecampaigns,verbs=create

// rolloutMembers is the device predicate of a campaign with spec.target.rolloutOf: the devices whose
// point in the named campaign's plan falls in one of the waves it started. Nil without rolloutOf.
func (r *UpdateCampaignReconciler) rolloutMembers(ctx context.Context, uc *v1.UpdateCampaign) (func(id string) bool, error) {
	name := uc.Spec.Target.RolloutOf
	if name == "" {
		return nil, nil
	}
	// Uncached: a cache that has not yet seen the named campaign's waves start would plan too few.
	var of v1.UpdateCampaign
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: uc.Namespace, Name: name}, &of)
	switch {
	case apierrors.IsNotFound(err):
		return nil, waiting(v1.ReasonRolloutOfNotPlanned, "spec.target.rolloutOf: UpdateCampaign %s does not exist", name)
	case err != nil:
		return nil, err
	case of.Status.Plan == nil:
		return nil, waiting(v1.ReasonRolloutOfNotPlanned, "spec.target.rolloutOf: UpdateCampaign %s has not planned its waves yet", name)
	}
	plan, err := planFromStatus(of.Status.Plan)
	if err != nil {
		return nil, stalled(v1.ReasonInvalidSpec, "spec.target.rolloutOf: UpdateCampaign %s: status.plan: %v", name, err)
	}
	last := -1
	for k, w := range of.Status.Waves {
		if w.StartedAt != nil {
			last = k
		}
	}
	if last < 0 {
		return nil, waiting(v1.ReasonRolloutOfNotPlanned, "spec.target.rolloutOf: UpdateCampaign %s has started no wave yet", name)
	}
	uid := string(of.UID)
	return func(id string) bool {
		k := plan.WaveOf(rollout.Point(uid, id))
		return k >= 0 && k <= last
	}, nil
}

// rollForward makes sure the roll-forward campaign of uc, whose RollForward failure policy tripped,
// exists, and records it; it returns what to add to the campaign's message, and whether something
// blocks it. A blocker is said in an event too, and looked at again later: the campaign stays Failed
// meanwhile, its waves already stopped.
func (r *UpdateCampaignReconciler) rollForward(ctx context.Context, uc *v1.UpdateCampaign, bad *v1.Manifest) (string, bool, error) {
	good := uc.Spec.FailurePolicy.RollForward.ManifestRef.Name
	why, err := r.rollForwardBlocker(ctx, uc, bad, good)
	switch {
	case err != nil:
		return "", false, err
	case why != "":
		r.Recorder.Eventf(uc, nil, corev1.EventTypeWarning, v1.EventRollForwardBlocked, "RollForward", "%s", why)
		return "; roll-forward blocked: " + why, true, nil
	}
	if uc.Status.RolledForwardBy == "" {
		uc.Status.RolledForwardBy = v1.RollForwardName(uc.Name)
		r.Recorder.Eventf(uc, nil, corev1.EventTypeNormal, v1.EventRolledForward, "RollForward",
			"UpdateCampaign %s rolls the devices of the started waves forward to Manifest %s", uc.Status.RolledForwardBy, good)
	}
	return fmt.Sprintf("; UpdateCampaign %s rolls its devices forward to Manifest %s", uc.Status.RolledForwardBy, good), false, nil
}

// rollForwardBlocker creates the roll-forward campaign unless something blocks it, which it returns
// for people.
func (r *UpdateCampaignReconciler) rollForwardBlocker(ctx context.Context, uc *v1.UpdateCampaign, bad *v1.Manifest, good string) (string, error) {
	var mf v1.Manifest
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: uc.Namespace, Name: good}, &mf)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("Manifest %s does not exist", good), nil
	case err != nil:
		return "", err
	case !meta.IsStatusConditionTrue(mf.Status.Conditions, v1.ConditionReady):
		return fmt.Sprintf("Manifest %s is not Ready", good), nil
	case mf.Status.SequenceNumber <= bad.Status.SequenceNumber:
		return fmt.Sprintf("Manifest %s (sequence number %d) is not newer than Manifest %s (%d): devices would refuse it",
			good, mf.Status.SequenceNumber, bad.Name, bad.Status.SequenceNumber), nil
	}
	child := v1.NewRollForward(uc, good)
	err = r.Client.Create(ctx, child)
	if apierrors.IsAlreadyExists(err) {
		var existing v1.UpdateCampaign
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(child), &existing); err != nil {
			return "", err
		}
		if !metav1.IsControlledBy(&existing, uc) {
			return fmt.Sprintf("UpdateCampaign %s exists and is not this campaign's", child.Name), nil
		}
		return "", nil
	}
	return "", err
}
