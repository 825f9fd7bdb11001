package controllers

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// campaignRun is one reconcile of one UpdateCampaign: the objects it works on and what it derived
// from them once (the fleet filter, the planner's view of the spec).
type campaignRun struct {
	r        *UpdateCampaignReconciler
	uc       *v1.UpdateCampaign
	mf       *v1.Manifest
	svc      pelion.UpdateService
	fleet    pelion.Filter // the manifest's vendor and class, ANDed with spec.target.filter
	digest   string        // the payload digest devices run once updated
	waves    []rollout.Wave
	policy   rollout.Policy
	plan     rollout.Plan
	planHash string
}

func newCampaignRun(r *UpdateCampaignReconciler, uc *v1.UpdateCampaign, mf *v1.Manifest, svc pelion.UpdateService) (*campaignRun, error) {
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
	run := &campaignRun{r: r, uc: uc, mf: mf, svc: svc, fleet: fleet, digest: hex.EncodeToString(summary.PayloadDigest),
		waves: waves, policy: policy}
	run.planHash = specHash(uc.Spec, mf.Status.ManifestID)
	if err := run.alignWaveStatus(); err != nil {
		return nil, err
	}
	return run, nil
}

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

// plannerSpec translates the CRD's waves and failure policy into the planner's terms.
func plannerSpec(spec v1.UpdateCampaignSpec) ([]rollout.Wave, rollout.Policy, error) {
	waves := make([]rollout.Wave, len(spec.Waves))
	for i, w := range spec.Waves {
		size, err := quantity(&w.Size)
		if err != nil {
			return nil, rollout.Policy{}, stalled(v1.ReasonInvalidSpec, "spec.waves[%d].size: %v", i, err)
		}
		threshold, err := quantity(w.SuccessThreshold)
		if err != nil {
			return nil, rollout.Policy{}, stalled(v1.ReasonInvalidSpec, "spec.waves[%d].successThreshold: %v", i, err)
		}
		waves[i] = rollout.Wave{Name: w.Name, Size: size, SuccessThreshold: threshold, Manual: w.Approval == v1.ApprovalManual}
		if w.Soak != nil {
			waves[i].Soak = w.Soak.Duration
		}
	}
	budget, err := quantity(spec.FailurePolicy.MaxFailures)
	if err != nil {
		return nil, rollout.Policy{}, stalled(v1.ReasonInvalidSpec, "spec.failurePolicy.maxFailures: %v", err)
	}
	policy := rollout.Policy{
		MaxFailures: budget,
		MinDevices:  int64(spec.FailurePolicy.MinDevices),
		Abort:       spec.FailurePolicy.Action == v1.FailureActionAbort,
	}
	if spec.DeviceTimeout != nil {
		policy.DeviceTimeout = spec.DeviceTimeout.Duration
	}
	return waves, policy, nil
}

// quantity reads an IntOrString the schema has already validated; unset means zero.
func quantity(v *intstr.IntOrString) (rollout.Quantity, error) {
	if v == nil {
		return rollout.Quantity{}, nil
	}
	return rollout.ParseQuantity(v.String())
}

// specHash identifies what a plan was made from: the waves, the target and the manifest.
func specHash(spec v1.UpdateCampaignSpec, manifestID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|", manifestID, spec.Target.Filter)
	if spec.Target.MaxDevices != nil {
		fmt.Fprintf(&b, "%d", *spec.Target.MaxDevices)
	}
	for _, w := range spec.Waves {
		fmt.Fprintf(&b, "|%s=%s", w.Name, w.Size.String())
	}
	return shortHash(b.String())
}

// ensurePlan makes the fleet partition before the first wave starts, and reads it back from status
// afterwards: once devices are updating, the plan is fixed.
func (run *campaignRun) ensurePlan(ctx context.Context) error {
	st := &run.uc.Status
	started := st.StartedAt != nil
	if st.Plan != nil && (started || st.Plan.Hash == run.planHash) {
		plan, err := planFromStatus(st.Plan)
		if err != nil {
			return stalled(v1.ReasonInvalidSpec, "status.plan: %v", err)
		}
		run.plan = plan
		return nil
	}
	plan, err := run.makePlan(ctx)
	if err != nil {
		return err
	}
	run.plan = plan
	st.Plan = &v1.CampaignPlan{FleetSize: plan.FleetSize, WaveSizes: plan.Sizes, Hash: run.planHash, Bounds: formatBounds(plan.Bounds)}
	log.FromContext(ctx).Info("Planned the rollout", "fleet", plan.FleetSize, "waves", plan.Sizes)
	return nil
}

// makePlan reads the fleet twice to find wave bounds that give every wave exactly its size; only a
// histogram and a few buckets of points are held, never the fleet.
func (run *campaignRun) makePlan(ctx context.Context) (rollout.Plan, error) {
	var maxDevices int64
	if limit := run.uc.Spec.Target.MaxDevices; limit != nil {
		maxDevices = *limit
	}
	part := rollout.NewPartitioner(run.waves, maxDevices)
	if err := run.eachDevicePoint(ctx, func(_ pelion.Device, p uint64) { part.Count(p) }); err != nil {
		return rollout.Plan{}, err
	}
	if part.NeedSecondPass() {
		if err := run.eachDevicePoint(ctx, func(_ pelion.Device, p uint64) { part.Refine(p) }); err != nil {
			return rollout.Plan{}, err
		}
	}
	plan, err := part.Plan()
	if err != nil {
		// The fleet changed under the two passes; planning again settles it.
		return rollout.Plan{}, fmt.Errorf("planning the waves: %w", err)
	}
	return plan, nil
}

// eachDevicePoint walks the fleet page by page, handing each device and its point to fn.
func (run *campaignRun) eachDevicePoint(ctx context.Context, fn func(pelion.Device, uint64)) error {
	uid := string(run.uc.UID)
	for d, err := range pelion.All(ctx, pelion.ListOptions{Limit: pelion.MaxPageSize, Filter: run.fleet}, run.svc.ListDevices) {
		if err != nil {
			return serviceError("listing the fleet", err)
		}
		fn(d, rollout.Point(uid, d.ID))
	}
	return nil
}

func formatBounds(bounds []uint64) []string {
	out := make([]string, len(bounds))
	for i, b := range bounds {
		out[i] = strconv.FormatUint(b, 10)
	}
	return out
}

func planFromStatus(p *v1.CampaignPlan) (rollout.Plan, error) {
	plan := rollout.Plan{FleetSize: p.FleetSize, Sizes: p.WaveSizes, Bounds: make([]uint64, len(p.Bounds))}
	for i, s := range p.Bounds {
		b, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return plan, fmt.Errorf("bounds[%d]: %w", i, err)
		}
		plan.Bounds[i] = b
	}
	if len(plan.Bounds) != len(plan.Sizes) {
		return plan, fmt.Errorf("%d bounds for %d waves", len(plan.Bounds), len(plan.Sizes))
	}
	return plan, nil
}

// input is the planner's view of the campaign now.
func (run *campaignRun) input(now time.Time) rollout.Input {
	st := &run.uc.Status
	in := rollout.Input{
		Waves:    run.waves,
		Policy:   run.policy,
		Plan:     run.plan,
		Current:  int(st.CurrentWave),
		Progress: make([]rollout.WaveProgress, len(st.Waves)),
		Paused:   run.uc.Spec.Paused,
		Abort:    st.Abort,
		Approved: setOf(st.ApprovedWaves),
		Accepted: setOf(st.AcceptedWaves),
		Attempt:  st.Attempt,
		Now:      now,
		// An abort after the last wave passed changes nothing.
		Completed: st.Phase == v1.CampaignCompleted,
	}
	for i, w := range st.Waves {
		in.Progress[i] = rollout.WaveProgress{
			Started:  w.StartedAt != nil,
			Finished: w.FinishedAt != nil,
			Attempt:  w.Attempt,
			Counts: rollout.Counts{Targeted: w.Targeted, Succeeded: w.Succeeded, Failed: w.Failed,
				TimedOut: w.TimedOut, Pending: w.Pending, Skipped: w.Skipped},
		}
		if w.StartedAt != nil {
			in.Progress[i].StartedAt = w.StartedAt.Time
		}
		if w.FinishedAt != nil {
			in.Progress[i].FinishedAt = w.FinishedAt.Time
		}
	}
	return in
}

func setOf(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

// carryOut does what the planner decided and records it; it reports whether the planner should be
// asked again at once (after a start, a finish or an advance, the next decision may follow).
func (run *campaignRun) carryOut(ctx context.Context, step rollout.Step) (bool, error) {
	uc, now := run.uc, metav1.NewTime(run.r.Clock.Now())
	switch step.Action {
	case rollout.StartWave:
		// A repeated start would count the devices the first one updated as already updated.
		if err := confirmFresh(ctx, run.r.APIReader, run.uc, &v1.UpdateCampaign{}); err != nil {
			return false, err
		}
		return true, run.startWave(ctx, step.Wave, now)
	case rollout.FinishWave:
		w := &uc.Status.Waves[step.Wave]
		if step.TimedOut {
			if err := run.r.stopWave(ctx, run.svc, uc, step.Wave); err != nil {
				return false, err
			}
			w.TimedOut += w.Pending
			w.Pending = 0
		}
		w.FinishedAt = &now
		run.r.Recorder.Eventf(uc, nil, "Normal", "WaveFinished", "Finish", "Wave %s finished: %d succeeded, %d failed, %d timed out, %d skipped",
			w.Name, w.Succeeded, w.Failed, w.TimedOut, w.Skipped)
		return true, nil
	case rollout.StopWave:
		if err := run.r.stopWave(ctx, run.svc, uc, step.Wave); err != nil {
			return false, err
		}
		w := &uc.Status.Waves[step.Wave]
		w.FinishedAt = &now
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

func wavePhaseOr(step rollout.Step, fallback v1.WavePhase) v1.WavePhase {
	if step.WavePhase != "" {
		return v1.WavePhase(step.WavePhase)
	}
	return fallback
}

// remoteIDs remembers the Update Service ids of remote campaigns by their deterministic names, so a
// poll does not look every chunk up by name. It is a cache: after a restart, names are looked up once.
type remoteIDs struct {
	mu  sync.Mutex
	ids map[string]string
}

func (c *remoteIDs) get(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.ids[name]
	return id, ok
}

func (c *remoteIDs) put(name, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil {
		c.ids = map[string]string{}
	}
	c.ids[name] = id
}
