package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// campaignFinalizer holds an UpdateCampaign until the remote campaigns of its running wave are stopped.
const campaignFinalizer = "update.fleetwave.io/remote-campaigns"

// UpdateCampaignReconciler rolls a Manifest out in waves. The decisions (start a wave, finish it on
// timeout, pause, abort, soak, advance) come from the pure planner in internal/rollout; this
// reconciler observes the Update Service, carries the decisions out and records them in status.
type UpdateCampaignReconciler struct {
	Client client.Client
	// APIReader confirms, before a wave starts, that the cached campaign is the latest.
	APIReader client.Reader
	Service   UpdateServiceProvider
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// PollInterval is how often a running wave's remote campaigns are polled for their metrics.
	PollInterval time.Duration
	// DevicesPerRemoteCampaign bounds how many device ids one remote campaign's filter pins.
	DevicesPerRemoteCampaign int

	remote remoteIDs
}

// +kubebuilder:rbac:groups=update.fleetwave.io,resources=updatecampaigns,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=updatecampaigns/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=updatecampaigns/finalizers,verbs=update
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=manifests,verbs=get;list;watch

// Reconcile advances the rollout: get, finalizer, observe the running wave, let the planner decide,
// act, and one status patch at the end.
func (r *UpdateCampaignReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return lifecycle[*v1.UpdateCampaign]{
		client: r.Client, recorder: r.Recorder, clock: r.Clock, finalizer: campaignFinalizer,
		apply: r.reconcileRollout, cleanup: r.reconcileDelete,
	}.reconcile(ctx, req, &v1.UpdateCampaign{})
}

// maxStepsPerReconcile bounds how many planner decisions one reconcile carries out (start, finish,
// advance, start the next...), so a bug can never spin; each real wave needs at most a few.
const maxStepsPerReconcile = 64

func (r *UpdateCampaignReconciler) reconcileRollout(ctx context.Context, uc *v1.UpdateCampaign) (ctrl.Result, error) {
	mf, err := r.readyManifest(ctx, uc)
	if err != nil {
		return ctrl.Result{}, err
	}
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	run, err := newCampaignRun(r, uc, mf, svc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := run.ensurePlan(ctx); err != nil {
		return ctrl.Result{}, err
	}
	var step rollout.Step
	for range maxStepsPerReconcile {
		if err := run.observeCurrentWave(ctx); err != nil {
			return ctrl.Result{}, err
		}
		if step, err = rollout.Next(run.input(r.Clock.Now())); err != nil {
			return ctrl.Result{}, stalled(v1.ReasonInvalidSpec, "%v", err)
		}
		more, err := run.carryOut(ctx, step)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !more {
			break
		}
	}
	run.record(step)
	return ctrl.Result{RequeueAfter: r.nextLook(uc, step)}, nil
}

// nextLook is when the campaign should be looked at again without an event: at the planner's
// recheck time, and at least every PollInterval while a wave's devices are updating.
func (r *UpdateCampaignReconciler) nextLook(uc *v1.UpdateCampaign, step rollout.Step) time.Duration {
	now := r.Clock.Now()
	var wait time.Duration
	if !step.RecheckAt.IsZero() {
		wait = max(step.RecheckAt.Sub(now), time.Second)
	}
	if waveRunning(uc) && (wait == 0 || wait > r.PollInterval) {
		wait = r.PollInterval
	}
	return wait
}

// waveRunning reports whether the current wave has remote campaigns still sending to devices.
func waveRunning(uc *v1.UpdateCampaign) bool {
	k := int(uc.Status.CurrentWave)
	return k < len(uc.Status.Waves) && uc.Status.Waves[k].StartedAt != nil && uc.Status.Waves[k].FinishedAt == nil
}

// readyManifest returns the referenced Manifest once it is published; until then the campaign
// waits, and a watch on Manifests wakes it.
func (r *UpdateCampaignReconciler) readyManifest(ctx context.Context, uc *v1.UpdateCampaign) (*v1.Manifest, error) {
	mf := &v1.Manifest{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: uc.Namespace, Name: uc.Spec.ManifestRef.Name}, mf)
	switch {
	case apierrors.IsNotFound(err):
		uc.Status.Phase = v1.CampaignPending
		return nil, waiting(v1.ReasonManifestNotReady, "Manifest %s does not exist", uc.Spec.ManifestRef.Name)
	case err != nil:
		return nil, err
	case !meta.IsStatusConditionTrue(mf.Status.Conditions, v1.ConditionReady) || mf.Status.ManifestID == "":
		uc.Status.Phase = v1.CampaignPending
		return nil, waiting(v1.ReasonManifestNotReady, "Manifest %s is not Ready yet", mf.Name)
	}
	return mf, nil
}

// reconcileDelete stops the remote campaigns still sending to devices, then lets the object go.
func (r *UpdateCampaignReconciler) reconcileDelete(ctx context.Context, uc *v1.UpdateCampaign) error {
	if !controllerutil.ContainsFinalizer(uc, campaignFinalizer) {
		return nil
	}
	markProgressing(uc, r.Clock.Now(), v1.ReasonDeleting, "Stopping the remote campaigns")
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return err
	}
	// Every wave, whatever status says: status may lag what was created just before a crash.
	for k := range uc.Spec.Waves {
		if err := r.stopWave(ctx, svc, uc, k); err != nil {
			return err
		}
	}
	controllerutil.RemoveFinalizer(uc, campaignFinalizer)
	return r.Client.Update(ctx, uc)
}

// SetupWithManager watches UpdateCampaigns (spec changes and the intents people write to status:
// approvals, abort, retry) and the Manifests they roll out.
func (r *UpdateCampaignReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.UpdateCampaign{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, intentChanged{}))).
		Watches(&v1.Manifest{}, handler.EnqueueRequestsFromMapFunc(
			referencing(r.Client, &v1.UpdateCampaignList{}, indexCampaignManifest))).
		Named("updatecampaign").
		Complete(r)
}

// intentChanged passes the status updates people make (approve or accept, abort, retry), which do not change
// the generation, and drops the controller's own status writes.
type intentChanged struct{ predicate.Funcs }

func (intentChanged) Update(e event.UpdateEvent) bool {
	before, ok1 := e.ObjectOld.(*v1.UpdateCampaign)
	after, ok2 := e.ObjectNew.(*v1.UpdateCampaign)
	if !ok1 || !ok2 {
		return false
	}
	return before.Status.Abort != after.Status.Abort ||
		before.Status.Attempt != after.Status.Attempt ||
		!slices.Equal(before.Status.ApprovedWaves, after.Status.ApprovedWaves) ||
		!slices.Equal(before.Status.AcceptedWaves, after.Status.AcceptedWaves)
}

// record writes the planner's verdict into status and conditions.
func (run *campaignRun) record(step rollout.Step) {
	uc, now := run.uc, run.r.Clock.Now()
	uc.Status.Phase = v1.CampaignPhase(step.Phase)
	if k := step.Wave; k >= 0 && k < len(uc.Status.Waves) {
		w := &uc.Status.Waves[k]
		if step.WavePhase != "" {
			w.Phase = v1.WavePhase(step.WavePhase)
		}
		if step.Phase == rollout.PhaseSoaking && !step.RecheckAt.IsZero() {
			soakEnd := metav1.NewTime(step.RecheckAt)
			w.SoakUntil = &soakEnd
		}
	}
	uc.Status.Progress = fmt.Sprintf("%d/%d", min(int(uc.Status.CurrentWave)+1, len(uc.Spec.Waves)), len(uc.Spec.Waves))
	uc.Status.Totals = v1.DeviceCounts{}
	for _, w := range uc.Status.Waves {
		addCounts(&uc.Status.Totals, w.DeviceCounts)
	}
	switch uc.Status.Phase {
	case v1.CampaignCompleted:
		markReady(uc, now, step.Reason, step.Message)
		setCondition(uc, now, v1.ConditionProgressing, metav1.ConditionFalse, step.Reason, step.Message)
		meta.RemoveStatusCondition(&uc.Status.Conditions, v1.ConditionPaused)
	case v1.CampaignAborted, v1.CampaignFailed:
		markStalled(uc, now, step.Reason, step.Message)
		setCondition(uc, now, v1.ConditionProgressing, metav1.ConditionFalse, step.Reason, step.Message)
		meta.RemoveStatusCondition(&uc.Status.Conditions, v1.ConditionPaused)
	case v1.CampaignPaused, v1.CampaignWaitingForApproval:
		// Held, not failing: Ready is False (kstatus: in progress) but nothing is reconciling.
		setCondition(uc, now, v1.ConditionReady, metav1.ConditionFalse, step.Reason, step.Message)
		meta.RemoveStatusCondition(&uc.Status.Conditions, v1.ConditionReconciling)
		meta.RemoveStatusCondition(&uc.Status.Conditions, v1.ConditionStalled)
		setCondition(uc, now, v1.ConditionProgressing, metav1.ConditionFalse, step.Reason, step.Message)
		setCondition(uc, now, v1.ConditionPaused, metav1.ConditionTrue, step.Reason, step.Message)
	default:
		markProgressing(uc, now, step.Reason, step.Message)
		setCondition(uc, now, v1.ConditionProgressing, metav1.ConditionTrue, step.Reason, step.Message)
		meta.RemoveStatusCondition(&uc.Status.Conditions, v1.ConditionPaused)
	}
	if final(uc.Status.Phase) && uc.Status.CompletedAt == nil {
		t := metav1.NewTime(now)
		uc.Status.CompletedAt = &t
	}
}

func final(p v1.CampaignPhase) bool {
	return p == v1.CampaignCompleted || p == v1.CampaignAborted || p == v1.CampaignFailed
}

func addCounts(sum *v1.DeviceCounts, c v1.DeviceCounts) {
	sum.Targeted += c.Targeted
	sum.Succeeded += c.Succeeded
	sum.Failed += c.Failed
	sum.TimedOut += c.TimedOut
	sum.Pending += c.Pending
	sum.Skipped += c.Skipped
}
