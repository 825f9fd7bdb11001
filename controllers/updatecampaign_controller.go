package controllers

import (
	"context"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
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
	// APIReader reads uncached what must not be stale: the campaign spec.target.rolloutOf names.
	APIReader client.Reader
	Service   UpdateServiceProvider
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// PollInterval is how often a running wave's remote campaigns are polled for their metrics.
	PollInterval time.Duration
	// DevicesPerRemoteCampaign bounds how many device ids one remote campaign's filter pins.
	DevicesPerRemoteCampaign int
	// MaxConcurrentReconciles is how many campaigns are reconciled at once; 0 means 1.
	MaxConcurrentReconciles int

	// polls remembers what polls found that cannot change, and how quiet each campaign has been.
	polls pollBook
	// pins is the operator's view of the devices active remote campaigns pin (the overlap guard).
	pins pinBoard
}

// +kubebuilder:rbac:groups=update.fleetwave.io,resources=updatecampaigns,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=updatecampaigns/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=updatecampaigns/finalizers,verbs=update
// +kubebuilder:rbac:groups=update.fleetwave.io,resources=manifests,verbs=get;list;watch

// Reconcile advances the rollout: get, finalizer, observe the running waves, let the planner decide,
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

func (r *UpdateCampaignReconciler) reconcileRollout(ctx context.Context, uc *v1.UpdateCampaign, status *statusWriter) (ctrl.Result, error) {
	mf, err := r.readyManifest(ctx, uc)
	if err != nil {
		if uc.Status.StartedAt == nil {
			uc.Status.Phase = v1.CampaignPending
		}
		observeCampaign(uc, r.Clock.Now())
		return ctrl.Result{}, err
	}
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	members, err := r.rolloutMembers(ctx, uc)
	if err != nil {
		return ctrl.Result{}, err
	}
	run, err := r.newCampaignRun(uc, mf, svc, status)
	if err != nil {
		return ctrl.Result{}, err
	}
	run.members = members
	if err := run.ensurePlan(ctx); err != nil {
		return ctrl.Result{}, err
	}
	if err := run.resumeStart(ctx); err != nil {
		return ctrl.Result{}, err
	}
	if err := run.sendDeferred(ctx); err != nil {
		return ctrl.Result{}, err
	}
	if err := run.sendQueued(ctx); err != nil {
		return ctrl.Result{}, err
	}
	var step rollout.Step
	for range maxStepsPerReconcile {
		if err := run.observeWaves(ctx); err != nil {
			return ctrl.Result{}, err
		}
		if err := run.timeOutLateDevices(ctx); err != nil {
			return ctrl.Result{}, err
		}
		if step, err = rollout.Next(run.input(r.Clock.Now())); err != nil {
			return ctrl.Result{}, stalled(v1.ReasonInvalidSpec, "%v", err)
		}
		more, err := run.carryOut(ctx, step)
		if err != nil {
			// Steps already carried out (an accepted wave left, say) stay recorded with the phase
			// they led to, not the one before them; the failed step is tried again.
			recordPhase(uc, step)
			return ctrl.Result{}, err
		}
		if !more {
			break
		}
	}
	if step.Phase == rollout.PhaseWatching && run.mayTarget() {
		if err := run.sendLateDevices(ctx, len(uc.Status.Waves)-1); err != nil {
			return ctrl.Result{}, err
		}
	}
	uc.Status.Window = windowStatus(uc.Spec.Schedule, run.schedule, r.Clock.Now())
	blocked := false
	if step.RollForward {
		var note string
		if note, blocked, err = r.rollForward(ctx, uc, mf); err != nil {
			return ctrl.Result{}, err
		}
		step.Message += note
	}
	recordStep(uc, step, r.Clock.Now())
	observeCampaign(uc, r.Clock.Now())
	if blocked {
		return ctrl.Result{RequeueAfter: rollForwardRecheck}, nil
	}
	return ctrl.Result{RequeueAfter: r.nextLook(uc, step, run.rate)}, nil
}

// rollForwardRecheck is how often a blocked roll-forward is tried again (the Manifest watch wakes
// the campaigns of spec.manifestRef only).
const rollForwardRecheck = 30 * time.Second

// nextLook is when the campaign should be looked at again without an event: at the planner's
// recheck time and the next rate tick, exactly, and while devices are updating at the next poll,
// which backs off while polls change nothing. A campaign that ended is forgotten by the poll book.
func (r *UpdateCampaignReconciler) nextLook(uc *v1.UpdateCampaign, step rollout.Step, rate rollout.Rate) time.Duration {
	now := r.Clock.Now()
	var wait time.Duration
	if !step.RecheckAt.IsZero() {
		wait = max(step.RecheckAt.Sub(now), time.Second)
	}
	look := func(every time.Duration) {
		if wait == 0 || wait > every {
			wait = every
		}
	}
	poll := r.polls.settle(uc, now, r.PollInterval)
	if uc.Status.Phase.IsFinal() {
		r.polls.forget(uc.UID)
	}
	if anyWaveRunning(uc) || uc.Status.Totals.Deferred > 0 {
		look(poll)
	}
	if w := uc.Status.Waves[uc.Status.CurrentWave]; w.Queued > 0 && w.SentAt != nil {
		_, next := rate.Due(w.SentAt.Time, now)
		look(max(next.Sub(now), time.Second))
	}
	if step.Phase == rollout.PhaseWatching {
		look(watchInterval * r.PollInterval)
	}
	return wait
}

// watchInterval is how many poll intervals a continuous campaign waits between two looks for devices
// that joined the fleet: each look walks the fleet.
const watchInterval = 6

// readyManifest returns the referenced Manifest once it is published; until then the campaign
// waits, and a watch on Manifests wakes it.
func (r *UpdateCampaignReconciler) readyManifest(ctx context.Context, uc *v1.UpdateCampaign) (*v1.Manifest, error) {
	mf := &v1.Manifest{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: uc.Namespace, Name: uc.Spec.ManifestRef.Name}, mf)
	switch {
	case apierrors.IsNotFound(err):
		return nil, waiting(v1.ReasonManifestNotReady, "Manifest %s does not exist", uc.Spec.ManifestRef.Name)
	case err != nil:
		return nil, err
	case !meta.IsStatusConditionTrue(mf.Status.Conditions, v1.ConditionReady) || mf.Status.ManifestID == "":
		return nil, waiting(v1.ReasonManifestNotReady, "Manifest %s is not Ready yet", mf.Name)
	}
	return mf, nil
}

// reconcileDelete stops the remote campaigns still sending to devices, then lets the object go.
func (r *UpdateCampaignReconciler) reconcileDelete(ctx context.Context, uc *v1.UpdateCampaign) error {
	if !controllerutil.ContainsFinalizer(uc, campaignFinalizer) {
		forgetCampaign(uc)
		r.polls.forget(uc.UID)
		return nil
	}
	markProgressing(uc, r.Clock.Now(), v1.ReasonDeleting, "Stopping the remote campaigns")
	svc, err := r.Service.UpdateService(ctx)
	if err != nil {
		return err
	}
	remote := remoteCampaigns{svc: svc, uc: uc}
	// Every wave, whatever status says: status may lag what was created just before a crash.
	for k := range uc.Spec.Waves {
		if err := remote.stopAll(ctx, k); err != nil {
			return err
		}
	}
	controllerutil.RemoveFinalizer(uc, campaignFinalizer)
	if err := r.Client.Update(ctx, uc); err != nil {
		return err
	}
	forgetCampaign(uc)
	return nil
}

// SetupWithManager watches UpdateCampaigns (spec changes and the intents people write to status:
// approvals, abort, retry) and the Manifests they roll out.
func (r *UpdateCampaignReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1.UpdateCampaign{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, intentChanged{}))).
		Watches(&v1.Manifest{}, handler.EnqueueRequestsFromMapFunc(
			referencing(r.Client, &v1.UpdateCampaignList{}, indexCampaignManifest))).
		Named("updatecampaign").
		// One Options value: WithOptions replaces what WithLogConstructor would have set.
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1),
			LogConstructor:          campaignLogger(mgr.GetLogger()),
		}).
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
