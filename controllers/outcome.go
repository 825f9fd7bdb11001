package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// Reconcile phases end in one of three ways besides success, and each is recorded differently:
//
//   - stalled: the object cannot progress until a person changes something (a digest mismatch, a
//     malformed key). Ready=False and Stalled=True; not retried (a watch on what it depends on may
//     still bring it back).
//   - waiting: progress depends on something a watch reports (another object becoming Ready, a
//     ConfigMap appearing), or on time (remote campaigns settling). Ready=False and
//     Reconciling=True; requeued at the time it names, or else not: the watch brings it back.
//   - any other error is transient (the Update Service or a source URL is unreachable).
//     Ready=False and Reconciling=True; returned, so the workqueue backs off.

type stalledError struct{ reason, message string }

func (e *stalledError) Error() string { return e.message }

// stalled ends a reconcile until a person acts.
func stalled(reason, format string, args ...any) error {
	return &stalledError{reason: reason, message: fmt.Sprintf(format, args...)}
}

type waitingError struct {
	reason, message string
	after           time.Duration // 0: until a watch event
}

func (e *waitingError) Error() string { return e.message }

// waiting ends a reconcile until a watched object changes.
func waiting(reason, format string, args ...any) error {
	return &waitingError{reason: reason, message: fmt.Sprintf(format, args...)}
}

// waitingFor ends a reconcile for a while: nothing failed, but something outside the cluster has to
// move on first.
func waitingFor(after time.Duration, reason, format string, args ...any) error {
	return &waitingError{reason: reason, message: fmt.Sprintf(format, args...), after: after}
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
		// Nothing happened that status must show; look again, through the queue's backoff, once
		// the cache has caught up.
		return ctrl.Result{}, err
	case errors.As(err, &st):
		markStalled(obj, now, st.reason, st.message)
		res, err = ctrl.Result{}, reconcile.TerminalError(err)
	case errors.As(err, &wt):
		markProgressing(obj, now, wt.reason, wt.message)
		res, err = ctrl.Result{RequeueAfter: wt.after}, nil
	case errors.As(err, &tr):
		markProgressing(obj, now, tr.reason, err.Error())
	default:
		markProgressing(obj, now, v1.ReasonReconcileFailed, err.Error())
	}
	*obj.StatusObservedGeneration() = obj.GetGeneration()
	return res, err
}

// A referenced object the cache cannot see (an unlabelled Secret or ConfigMap: only labelled ones are
// watched) is looked for again after defaultMissingRetry, then after waits that double up to
// maxMissingRetry, so one that is created later is found without a watch and without a hot loop.
const (
	defaultMissingRetry = 5 * time.Second
	maxMissingRetry     = 5 * time.Minute
)

// missingWait is the wait before looking again for an object missing for missingFor: as long as that,
// within [first, maxMissingRetry] (or exactly first, should first be longer); first 0 means
// defaultMissingRetry.
func missingWait(missingFor, first time.Duration) time.Duration {
	if first <= 0 {
		first = defaultMissingRetry
	}
	return min(max(missingFor, first), max(first, maxMissingRetry))
}

// errStaleCache stops a reconcile before a step that must not be repeated (signing, uploading) when
// the object it read from the cache is older than the API server's: the reconcile before it may have
// done that step already, and its status has not reached the cache yet.
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
