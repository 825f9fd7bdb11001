package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// object is what the shared reconcile machinery needs of a fleetwave kind.
type object interface {
	client.Object
	StatusConditions() *[]metav1.Condition
	StatusObservedGeneration() *int64
}

// Reconcile phases end in one of three ways besides success, and each is recorded differently:
//
//   - stalled: the object cannot progress until a person changes something (a digest mismatch, a
//     malformed key). Ready=False and Stalled=True; not retried (a watch on what it depends on may
//     still bring it back).
//   - waiting: progress depends on something a watch reports (another object becoming Ready, a
//     ConfigMap appearing). Ready=False and Reconciling=True; not requeued: the watch brings it back.
//   - any other error is transient (the Update Service or a source URL is unreachable).
//     Ready=False and Reconciling=True; returned, so the workqueue backs off.

type stalledError struct{ reason, message string }

func (e *stalledError) Error() string { return e.message }

// stalled ends a reconcile until a person acts.
func stalled(reason, format string, args ...any) error {
	return &stalledError{reason: reason, message: fmt.Sprintf(format, args...)}
}

type waitingError struct{ reason, message string }

func (e *waitingError) Error() string { return e.message }

// waiting ends a reconcile until a watched object changes.
func waiting(reason, format string, args ...any) error {
	return &waitingError{reason: reason, message: fmt.Sprintf(format, args...)}
}

type transientError struct {
	reason string
	err    error
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// transient marks err as worth retrying with backoff, and names the condition reason to show.
func transient(reason string, err error) error {
	return &transientError{reason: reason, err: err}
}

// maxMessage bounds condition messages; an error from a remote service can be long.
const maxMessage = 1024

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage-3] + "..."
}

// lifecycle is the shape every fleetwave reconcile takes: read the object, make sure of its finalizer
// before anything exists remotely, then either apply it or clean up after it, and end with finish.
type lifecycle[T object] struct {
	client    client.Client
	recorder  events.EventRecorder
	clock     clock.PassiveClock
	finalizer string
	// apply makes the world match a live object, and says when to look again if time alone will
	// change things; cleanup removes what it created once the object is being deleted, and removes
	// the finalizer.
	apply   func(context.Context, T) (ctrl.Result, error)
	cleanup func(context.Context, T) error
}

// untimed adapts an apply step that only ever waits for watches or errors.
func untimed[T object](apply func(context.Context, T) error) func(context.Context, T) (ctrl.Result, error) {
	return func(ctx context.Context, obj T) (ctrl.Result, error) { return ctrl.Result{}, apply(ctx, obj) }
}

func (l lifecycle[T]) reconcile(ctx context.Context, req ctrl.Request, obj T) (res ctrl.Result, err error) {
	if err := l.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if obj.GetDeletionTimestamp().IsZero() && controllerutil.AddFinalizer(obj, l.finalizer) {
		if err := l.client.Update(ctx, obj); err != nil {
			return ctrl.Result{}, err
		}
	}
	before := obj.DeepCopyObject().(T)
	defer func() {
		res, err = finish(ctx, l.client, l.recorder, l.clock.Now(), before, obj, res, err)
	}()
	if !obj.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, l.cleanup(ctx, obj)
	}
	return l.apply(ctx, obj)
}

// finish ends every reconcile the same way, deferred right after the object is read: it records the
// outcome in the conditions, writes the status in one patch (none when nothing changed), and emits an
// event if Ready moved.
func finish(ctx context.Context, c client.Client, rec events.EventRecorder, now time.Time, before, obj object, res ctrl.Result, err error) (ctrl.Result, error) {
	res, err = recordOutcome(obj, now, res, err)
	perr := patchStatus(ctx, c, before, obj)
	if apierrors.IsConflict(perr) {
		// The object changed since it was read (a person approved, or this reconcile started from a
		// cache that had not caught up with the last one): look again, from fresh data.
		log.FromContext(ctx).V(1).Info("Status changed underneath; reconciling again")
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if perr != nil {
		// %v, not %w: a stalled outcome must not make the failed write terminal; retry it.
		return ctrl.Result{}, fmt.Errorf("writing status (after %v): %w", err, perr) //nolint:errorlint // see above
	}
	announceReadyChange(rec, *before.StatusConditions(), obj)
	return res, err
}

// recordOutcome writes the reconcile's outcome into obj's conditions and observedGeneration and turns
// it into what controller-runtime expects: a TerminalError for stalled (logged, counted, not
// retried), nothing for waiting, the error itself for transient failures (backoff).
func recordOutcome(obj object, now time.Time, res ctrl.Result, err error) (ctrl.Result, error) {
	var (
		st *stalledError
		wt *waitingError
		tr *transientError
	)
	switch {
	case err == nil:
	case errors.Is(err, errStaleCache):
		// Nothing happened that status must show; look again once the cache has caught up.
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	case errors.As(err, &st):
		markStalled(obj, now, st.reason, st.message)
		res, err = ctrl.Result{}, reconcile.TerminalError(err)
	case errors.As(err, &wt):
		markProgressing(obj, now, wt.reason, wt.message)
		res, err = ctrl.Result{}, nil
	case errors.As(err, &tr):
		markProgressing(obj, now, tr.reason, err.Error())
	default:
		markProgressing(obj, now, v1.ReasonReconcileFailed, err.Error())
	}
	*obj.StatusObservedGeneration() = obj.GetGeneration()
	return res, err
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

// isStalledFor reports whether obj is already stalled for reason at its current generation.
func isStalledFor(obj object, reason string) (*metav1.Condition, bool) {
	c := meta.FindStatusCondition(*obj.StatusConditions(), v1.ConditionStalled)
	return c, c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason && c.ObservedGeneration == obj.GetGeneration()
}

// errStaleCache stops a reconcile before a step that must not be repeated (signing, sending a wave
// its update) when the object it read from the cache is older than the API server's: the reconcile
// before it may have done that step already, and its status has not reached the cache yet.
var errStaleCache = errors.New("the cached object is behind the API server")

// confirmFresh returns errStaleCache unless live, read from the API server, is the version obj was
// read at.
func confirmFresh(ctx context.Context, reader client.Reader, obj, live client.Object) error {
	if err := reader.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return err
	}
	if live.GetResourceVersion() != obj.GetResourceVersion() {
		return errStaleCache
	}
	return nil
}

// conflictRetry is how soon a reconcile whose status write met a newer object runs again.
const conflictRetry = 100 * time.Millisecond

// patchStatus writes the status changes between before and after as one merge patch, and nothing at
// all when there are none. A merge patch leaves alone the fields it does not mention, so values that
// people write into status (approvals, abort) are never clobbered; and it carries the resourceVersion
// it was computed from, so a reconcile that started from stale data cannot overwrite newer status.
// An object already gone (its finalizer just removed) needs no status.
func patchStatus(ctx context.Context, c client.Client, before, after object) error {
	data, err := client.MergeFrom(before).Data(after)
	if err != nil {
		return err
	}
	if string(data) == "{}" {
		return nil
	}
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	if err := c.Status().Patch(ctx, after, patch); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
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
	eventType := "Normal"
	if meta.IsStatusConditionTrue(*after.StatusConditions(), v1.ConditionStalled) ||
		(now.Status != metav1.ConditionTrue && isFailureReason(now.Reason)) {
		eventType = "Warning"
	}
	rec.Eventf(after, nil, eventType, now.Reason, "Reconcile", "%s", now.Message)
}

// isFailureReason tells transient failures, which deserve a Warning, from ordinary progress.
func isFailureReason(reason string) bool {
	switch reason {
	case v1.ReasonUpdateServiceUnavailable, v1.ReasonSourceUnavailable, v1.ReasonReconcileFailed,
		v1.ReasonFailureBudgetExceeded, v1.ReasonSuccessThresholdNotMet:
		return true
	}
	return false
}
