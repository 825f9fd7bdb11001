package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// maxMessage bounds condition messages; an error from a remote service can be long.
const maxMessage = 1024

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage-3] + "..."
}

func setCondition(obj object, now time.Time, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(obj.StatusConditions(), metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message),
		ObservedGeneration: obj.GetGeneration(),
		LastTransitionTime: metav1.NewTime(now),
	})
}

// markReady says the object has done its job. Reconciling and Stalled are abnormal-true conditions:
// they are removed rather than kept False.
func markReady(obj object, now time.Time, reason, message string) {
	setCondition(obj, now, v1.ConditionReady, metav1.ConditionTrue, reason, message)
	meta.RemoveStatusCondition(obj.StatusConditions(), v1.ConditionReconciling)
	meta.RemoveStatusCondition(obj.StatusConditions(), v1.ConditionStalled)
}

// markProgressing says the controller is still working towards Ready.
func markProgressing(obj object, now time.Time, reason, message string) {
	setCondition(obj, now, v1.ConditionReady, metav1.ConditionFalse, reason, message)
	setCondition(obj, now, v1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	meta.RemoveStatusCondition(obj.StatusConditions(), v1.ConditionStalled)
}

// markStalled says the controller cannot go on without a change from a person.
func markStalled(obj object, now time.Time, reason, message string) {
	setCondition(obj, now, v1.ConditionReady, metav1.ConditionFalse, reason, message)
	setCondition(obj, now, v1.ConditionStalled, metav1.ConditionTrue, reason, message)
	meta.RemoveStatusCondition(obj.StatusConditions(), v1.ConditionReconciling)
}

// markHeld says the object waits on a person (a pause, an approval): Ready is False (kstatus: in
// progress) but nothing is reconciling and nothing is stalled.
func markHeld(obj object, now time.Time, reason, message string) {
	setCondition(obj, now, v1.ConditionReady, metav1.ConditionFalse, reason, message)
	meta.RemoveStatusCondition(obj.StatusConditions(), v1.ConditionReconciling)
	meta.RemoveStatusCondition(obj.StatusConditions(), v1.ConditionStalled)
}

// isStalledFor reports whether obj is already stalled for reason at its current generation.
func isStalledFor(obj object, reason string) (*metav1.Condition, bool) {
	c := meta.FindStatusCondition(*obj.StatusConditions(), v1.ConditionStalled)
	return c, c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason && c.ObservedGeneration == obj.GetGeneration()
}

// announceReadyChange emits an event when the Ready condition changed status or reason: one event per
// transition, not one per reconcile.
func announceReadyChange(rec events.EventRecorder, before []metav1.Condition, after object) {
	now := meta.FindStatusCondition(*after.StatusConditions(), v1.ConditionReady)
	if now == nil {
		return
	}
	if was := meta.FindStatusCondition(before, v1.ConditionReady); was != nil && was.Status == now.Status && was.Reason == now.Reason {
		return
	}
	eventType := corev1.EventTypeNormal
	if meta.IsStatusConditionTrue(*after.StatusConditions(), v1.ConditionStalled) ||
		(now.Status != metav1.ConditionTrue && isFailureReason(now.Reason)) {
		eventType = corev1.EventTypeWarning
	}
	rec.Eventf(after, nil, eventType, now.Reason, "Reconcile", "%s", now.Message)
}

// isFailureReason tells transient failures, which deserve a Warning, from ordinary progress.
func isFailureReason(reason string) bool {
	switch reason {
	case v1.ReasonUpdateServiceUnavailable, v1.ReasonSourceUnavailable, v1.ReasonReconcileFailed, v1.ReasonKeyNotFound:
		return true
	}
	return v1.IsFailurePolicyReason(reason)
}
