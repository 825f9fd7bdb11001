package controllers

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// campaignRun is one reconcile of one UpdateCampaign: the objects it works on, what it derived from
// them once (the fleet filter, the planner's view of the spec), and what it acts through.
type campaignRun struct {
	uc       *v1.UpdateCampaign
	mf       *v1.Manifest
	svc      pelion.UpdateService
	remote   remoteCampaigns
	status   *statusWriter
	recorder events.EventRecorder
	now      func() time.Time
	perChunk int

	fleet   pelion.Filter        // the manifest's vendor and class, ANDed with spec.target.filter
	members func(id string) bool // spec.target.rolloutOf's devices; nil: the whole fleet
	foreign func(id string) bool // whether other campaigns pin a device, read when first needed
	pins    *pinBoard
	reader  client.Reader // uncached, to confirm the campaign is fresh before an act a stale copy would get wrong
	// firstWave holds the first wave's devices when this reconcile made the plan: the planning walk
	// met them, so the wave's start need not walk the fleet again.
	firstWave *waveDevices
	digest    string // the digest of the image devices run once updated (the plaintext of an encrypted payload)
	waves     []rollout.Wave
	policy    rollout.Policy
	schedule  rollout.Schedule
	rate      rollout.Rate
	plan      rollout.Plan
	planHash  string
}

func (r *UpdateCampaignReconciler) newCampaignRun(uc *v1.UpdateCampaign, mf *v1.Manifest, svc pelion.UpdateService, status *statusWriter) (*campaignRun, error) {
	fleet, err := fleetFilter(mf, uc.Spec.Target.Filter)
	if err != nil {
		return nil, err
	}
	summary, err := manifest.Inspect(mf.Status.Data)
	if err != nil {
		return nil, stalled(v1.ReasonManifestNotReady, "Manifest %s: status.data: %v", mf.Name, err)
	}
	waves, policy, err := plannerSpec(uc.Spec)
	if err != nil {
		return nil, err
	}
	schedule, err := plannerSchedule(uc.Spec.Schedule)
	if err != nil {
		return nil, err
	}
	rate, err := plannerRate(uc.Spec.Rate)
	if err != nil {
		return nil, err
	}
	run := &campaignRun{
		uc: uc, mf: mf, svc: svc, remote: remoteCampaigns{svc: svc, uc: uc, seen: r.polls.of(uc, r.Clock.Now())}, status: status,
		recorder: r.Recorder, now: r.Clock.Now, perChunk: r.DevicesPerRemoteCampaign,
		fleet: fleet, digest: hex.EncodeToString(summary.InstalledDigest), waves: waves, policy: policy, schedule: schedule, rate: rate,
		planHash: specHash(uc.Spec, mf.Status.ManifestID), pins: &r.pins, reader: r.APIReader,
	}
	if c := uc.Spec.Confirmation; c != nil {
		run.remote.confirm = &confirmer{svc: svc, digest: run.digest, timeout: defaultConfirmTimeout, now: run.now()}
		if c.ConfirmTimeout != nil {
			run.remote.confirm.timeout = c.ConfirmTimeout.Duration
		}
	}
	if err := run.alignWaveStatus(); err != nil {
		return nil, err
	}
	return run, nil
}

// input is the planner's view of the campaign now.
func (run *campaignRun) input(now time.Time) rollout.Input {
	in := plannerInput(run.uc, run.waves, run.policy, run.plan, now)
	in.Schedule = run.schedule
	in.StopAtWindowEnd = run.uc.Spec.Schedule != nil && run.uc.Spec.Schedule.EndBehavior == v1.WindowEndStop
	return in
}

// mayTarget says whether the schedule lets devices be sent the update now: new targeting (devices
// that joined late, deferred ones) waits for a window as wave starts do.
func (run *campaignRun) mayTarget() bool {
	return run.schedule.At(run.now()).Open
}

// defaultConfirmTimeout is spec.confirmation.confirmTimeout's schema default, for an object stored
// without it.
const defaultConfirmTimeout = 10 * time.Minute

// alignWaveStatus keeps one status entry per spec wave, in spec order. Before the rollout starts the
// waves may change freely; once devices are updating, the recorded progress is kept and a spec whose
// waves no longer match it stops the campaign rather than losing track of what was sent.
func (run *campaignRun) alignWaveStatus() error {
	uc := run.uc
	matches := len(uc.Status.Waves) == len(uc.Spec.Waves)
	for i := 0; matches && i < len(uc.Spec.Waves); i++ {
		matches = uc.Status.Waves[i].Name == uc.Spec.Waves[i].Name
	}
	switch {
	case matches:
		return nil
	case uc.Status.StartedAt != nil:
		return stalled(v1.ReasonInvalidSpec, "spec.waves changed after the rollout started; restore them, or abort and create a new UpdateCampaign")
	}
	uc.Status.Waves = make([]v1.WaveStatus, len(uc.Spec.Waves))
	for i, w := range uc.Spec.Waves {
		uc.Status.Waves[i] = v1.WaveStatus{Name: w.Name, Phase: v1.WavePending}
	}
	return nil
}

// fleetFilter selects the devices a campaign may reach: the manifest's vendor and class (in the
// service's 32-hex form), narrowed by the user's filter.
func fleetFilter(mf *v1.Manifest, target string) (pelion.Filter, error) {
	f := pelion.Filter{}.
		Eq("vendor_id", strings.ReplaceAll(mf.Status.VendorID, "-", "")).
		Eq("device_class", strings.ReplaceAll(mf.Status.ClassID, "-", ""))
	if target == "" {
		return f, nil
	}
	user, err := pelion.ParseFilter(target)
	if err != nil {
		return f, stalled(v1.ReasonInvalidSpec, "spec.target.filter: %v", err)
	}
	return f.And(user), nil
}

// ensurePlan makes the fleet partition before the first wave starts and commits it to status at once,
// so a conflict or a crash later in the reconcile does not walk the fleet again; once devices are
// updating, the plan is read back from status and never changes.
func (run *campaignRun) ensurePlan(ctx context.Context) error {
	st := &run.uc.Status
	if st.Plan != nil && (st.StartedAt != nil || st.Plan.Hash == run.planHash) {
		plan, err := planFromStatus(st.Plan)
		if err != nil {
			return stalled(v1.ReasonInvalidSpec, "status.plan: %v", err)
		}
		run.plan = plan
		return nil
	}
	plan, updated, err := run.makePlan(ctx)
	if err != nil {
		return err
	}
	run.plan = plan
	st.Plan = planToStatus(plan, run.planHash)
	if run.uc.Spec.Paused {
		st.Plan.AlreadyUpdated = countByWave(plan, updated)
	}
	log.FromContext(ctx).Info("Planned the rollout", "fleet", plan.FleetSize, "waves", plan.Sizes)
	return run.status.write(ctx, run.uc)
}

// countByWave counts points by the plan's wave: for a paused campaign's preview, the devices that
// already run the payload.
func countByWave(plan rollout.Plan, points []uint64) []int64 {
	counts := make([]int64, len(plan.Sizes))
	for _, p := range points {
		if k := plan.WaveOf(p); k >= 0 {
			counts[k]++
		}
	}
	return counts
}

// makePlan walks the fleet once. The partitioner holds every device's point (8 bytes a device) to give
// every wave exactly its size; the devices that may fall in the first wave are kept as well, so that
// wave starts without walking the fleet again (run.firstWave). For a paused campaign's preview it
// also returns the points of the devices that already run the payload.
func (run *campaignRun) makePlan(ctx context.Context) (rollout.Plan, []uint64, error) {
	var maxDevices int64
	if limit := run.uc.Spec.Target.MaxDevices; limit != nil {
		maxDevices = *limit
	}
	part := rollout.NewPartitioner(run.waves, maxDevices)
	first := &waveDevices{}
	var updated []uint64
	err := run.eachDevicePoint(ctx, func(d pelion.Device, p uint64) error {
		if part.Add(p) {
			run.keep(first, d, p)
			first.trim(part.MayBeFirst)
		}
		if run.uc.Spec.Paused && d.FirmwareChecksum == run.digest {
			updated = append(updated, p)
		}
		return nil
	})
	if err != nil {
		return rollout.Plan{}, nil, err
	}
	plan, err := part.Plan()
	if err != nil {
		return rollout.Plan{}, nil, fmt.Errorf("planning the waves: %w", err)
	}
	if part.HoldsFirstWave() {
		first.keepRange(plan.Range(0))
		run.firstWave = first
	}
	return plan, updated, nil
}

// eachDevicePoint walks the campaign's fleet page by page (limited to spec.target.rolloutOf's devices
// when set), handing each device and its point to fn; the walk stops at fn's first error.
func (run *campaignRun) eachDevicePoint(ctx context.Context, fn func(pelion.Device, uint64) error) error {
	uid := string(run.uc.UID)
	opts := pelion.ListOptions{Limit: pelion.MaxPageSize, Filter: run.fleet}
	for d, err := range pelion.All(ctx, opts, run.svc.ListDevices) {
		if err != nil {
			return serviceError("listing the fleet", err)
		}
		if run.members != nil && !run.members(d.ID) {
			continue
		}
		if err := fn(d, rollout.Point(uid, d.ID)); err != nil {
			return err
		}
	}
	return nil
}

// observeWaves refreshes the counts of every wave with devices updating from its remote campaigns.
func (run *campaignRun) observeWaves(ctx context.Context) error {
	for k := range run.uc.Status.Waves {
		if !waveRunning(run.uc, k) {
			continue
		}
		if err := run.observeWave(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// observeWave sets wave k's counts from its current attempt's remote campaigns: targeted is what their
// filters pin, and devices that left the fleet before their campaign selected them count as skipped.
func (run *campaignRun) observeWave(ctx context.Context, k int) error {
	w := &run.uc.Status.Waves[k]
	got, err := run.remote.observe(ctx, k, w.Attempt)
	if err != nil {
		return err
	}
	w.RemoteCampaigns = got.campaigns
	w.Targeted, w.Succeeded, w.Failed, w.Failures = got.targeted, got.succeeded, got.failed, failureCounts(got.failures)
	w.Skipped = w.AlreadyUpdated + got.skipped + got.left
	// Devices counted as timed out stay pending in their stopped remote campaigns.
	w.Pending = max(got.pending-w.TimedOut, 0)
	return nil
}

// carryOut does what the planner decided and records it; it reports whether the planner should be
// asked again at once (after a start, a finish or an advance, the next decision may follow).
func (run *campaignRun) carryOut(ctx context.Context, step rollout.Step) (bool, error) {
	uc := run.uc
	switch step.Action {
	case rollout.StartWave:
		if err := run.startWave(ctx, step.Wave); err != nil {
			return false, err
		}
		// Show the wave running at once: the rest of the reconcile may take a while (finishing the
		// wave and walking the fleet for the next, when its devices are quick).
		recordStep(uc, step, run.now())
		return true, run.status.write(ctx, uc)
	case rollout.FinishWave:
		return true, run.finishWave(ctx, step.Wave, step.TimedOut)
	case rollout.StopWave:
		if err := run.remote.stopAll(ctx, step.Wave); err != nil {
			return false, err
		}
		if err := run.observeWave(ctx, step.Wave); err != nil {
			return false, err
		}
		w := &uc.Status.Waves[step.Wave]
		w.FinishedAt = run.timestamp()
		w.Phase = v1.WavePhase(step.WavePhase)
		return true, nil
	case rollout.Advance:
		uc.Status.Waves[step.Wave].Phase = wavePhaseOr(step, v1.WaveSucceeded)
		uc.Status.CurrentWave = int32(step.Wave + 1)
		return true, nil
	case rollout.Complete:
		uc.Status.Waves[step.Wave].Phase = wavePhaseOr(step, v1.WaveSucceeded)
		return false, nil
	default:
		return false, nil
	}
}

func (run *campaignRun) timestamp() *metav1.Time {
	t := metav1.NewTime(run.now())
	return &t
}

func (run *campaignRun) event(reason, action, format string, args ...any) {
	run.recorder.Eventf(run.uc, nil, corev1.EventTypeNormal, reason, action, format, args...)
}

func wavePhaseOr(step rollout.Step, fallback v1.WavePhase) v1.WavePhase {
	if step.WavePhase != "" {
		return v1.WavePhase(step.WavePhase)
	}
	return fallback
}
