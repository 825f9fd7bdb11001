package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// object is what the shared reconcile machinery needs of a fleetwave kind.
type object interface {
	client.Object
	StatusConditions() *[]metav1.Condition
	StatusObservedGeneration() *int64
}

// lifecycle is the shape every fleetwave reconcile takes: read the object, make sure of its finalizer
// before anything exists remotely, then either apply it or clean up after it, and end with finish.
type lifecycle[T object] struct {
	client    client.Client
	recorder  events.EventRecorder
	clock     clock.PassiveClock
	finalizer string
	// apply makes the world match a live object, and says when to look again if time alone will
	// change things; it may commit status early through the statusWriter before an action that must
	// not be repeated. cleanup removes what it created once the object is being deleted, and removes
	// the finalizer.
	apply   func(context.Context, T, *statusWriter) (ctrl.Result, error)
	cleanup func(context.Context, T) error
}

// untimed adapts an apply step that only ever waits for watches or errors, and never commits status
// before it ends.
func untimed[T object](apply func(context.Context, T) error) func(context.Context, T, *statusWriter) (ctrl.Result, error) {
	return func(ctx context.Context, obj T, _ *statusWriter) (ctrl.Result, error) {
		return ctrl.Result{}, apply(ctx, obj)
	}
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
	readAs := obj.DeepCopyObject().(T)
	status := &statusWriter{client: l.client, written: readAs}
	defer func() {
		res, err = l.finish(ctx, readAs, status, obj, res, err)
	}()
	if !obj.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, l.cleanup(ctx, obj)
	}
	return l.apply(ctx, obj, status)
}

// finish ends every reconcile the same way, deferred right after the object is read: it records the
// outcome in the conditions, writes what status has left to write in one patch (none when nothing
// changed), and emits an event if Ready moved since the object was read.
func (l lifecycle[T]) finish(ctx context.Context, readAs object, status *statusWriter, obj object, res ctrl.Result, err error) (ctrl.Result, error) {
	res, err = recordOutcome(obj, l.clock.Now(), res, err)
	if perr := status.write(ctx, obj); perr != nil {
		if apierrors.IsConflict(perr) {
			// The object changed since it was read (a person approved, or this reconcile started
			// from a cache that had not caught up with the last one): look again from fresh data,
			// through the queue's backoff, so repeated conflicts slow down.
			return ctrl.Result{}, fmt.Errorf("status changed underneath, reconciling again: %w", perr)
		}
		// %v, not %w: a stalled outcome must not make the failed write terminal; retry it.
		return ctrl.Result{}, fmt.Errorf("writing status (after %v): %w", err, perr) //nolint:errorlint // see above
	}
	announceReadyChange(l.recorder, *readAs.StatusConditions(), obj)
	return res, err
}

// statusWriter writes an object's status as merge patches of what changed since its last write (or
// since the object was read), so a reconcile can commit a decision before acting on it (write before
// you act) and still end in one patch of whatever is left.
type statusWriter struct {
	client  client.Client
	written object // the object as status was last written, or as it was read
}

// write patches obj's status changes since the last write. A merge patch leaves alone the fields it
// does not mention, so values that people write into status (approvals, abort) are never clobbered;
// it carries the resourceVersion it was computed from, so a reconcile that started from stale data
// cannot overwrite newer status (and learns so by a conflict). Nothing is sent when nothing changed,
// and an object already gone (its finalizer just removed) needs no status.
func (w *statusWriter) write(ctx context.Context, obj object) error {
	data, err := client.MergeFrom(w.written).Data(obj)
	if err != nil {
		return err
	}
	if string(data) == "{}" {
		return nil
	}
	patch := client.MergeFromWithOptions(w.written, client.MergeFromWithOptimisticLock{})
	if err := w.client.Status().Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	w.written = obj.DeepCopyObject().(object)
	return nil
}
