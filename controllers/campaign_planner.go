package controllers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// This file is the one place that translates between the UpdateCampaign API and the pure planner:
// the spec into the planner's waves and policy, the status into its input, the plan both ways, and
// the planner's verdict back into status and conditions.

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
	policy, err := plannerPolicy(spec.FailurePolicy)
	if err != nil {
		return nil, rollout.Policy{}, err
	}
	if spec.DeviceTimeout != nil {
		policy.DeviceTimeout = spec.DeviceTimeout.Duration
	}
	return waves, policy, nil
}

// plannerSchedule translates spec.schedule; the zero Schedule, always open, without one.
func plannerSchedule(spec *v1.Schedule) (rollout.Schedule, error) {
	var sched rollout.Schedule
	if spec == nil {
		return sched, nil
	}
	if spec.StartAfter != nil {
		sched.StartAfter = spec.StartAfter.Time
	}
	for i, w := range spec.Windows {
		window, err := rollout.ParseWindow(w.Start, w.Duration.Duration, w.TimeZone)
		if err != nil {
			return sched, stalled(v1.ReasonInvalidSpec, "spec.schedule.windows[%d]: %v", i, err)
		}
		sched.Windows = append(sched.Windows, window)
	}
	return sched, nil
}

// plannerRate translates spec.rate; the zero Rate, no limit, without one.
func plannerRate(spec *v1.Rate) (rollout.Rate, error) {
	if spec == nil {
		return rollout.Rate{}, nil
	}
	ramp := spec.RampOrZero()
	r, err := rollout.NewRate(int64(spec.MaxDevicesPerMinute), int64(ramp.BaseRatePerMinute), ramp.IncrementFactor, int64(ramp.RaiseAfterSucceeded))
	if err != nil {
		return r, stalled(v1.ReasonInvalidSpec, "spec.rate.ramp: %v", err)
	}
	return r, nil
}

// windowStatus is status.window: what the schedule says now; nil without a schedule.
func windowStatus(spec *v1.Schedule, sched rollout.Schedule, now time.Time) *v1.WindowStatus {
	if spec == nil {
		return nil
	}
	at := sched.At(now)
	st := &v1.WindowStatus{Open: at.Open}
	if !at.Opens.IsZero() {
		st.OpensAt = &metav1.Time{Time: at.Opens.Truncate(time.Second)}
	}
	if !at.Closes.IsZero() {
		st.ClosesAt = &metav1.Time{Time: at.Closes.Truncate(time.Second)}
	}
	return st
}

var halts = map[v1.FailureAction]rollout.Halt{
	v1.FailureActionPause: rollout.HaltPause, v1.FailureActionAbort: rollout.HaltAbort,
	v1.FailureActionRollForward: rollout.HaltRollForward,
}

// plannerPolicy translates the failure policy. Release gets rollout.ReleaseRule when the spec gives it
// no rule of its own (rolling forward instead of aborting under a RollForward policy); a class rule
// without an action takes the policy's.
func plannerPolicy(fp v1.FailurePolicy) (rollout.Policy, error) {
	budget, err := quantity(fp.MaxFailures)
	if err != nil {
		return rollout.Policy{}, stalled(v1.ReasonInvalidSpec, "spec.failurePolicy.maxFailures: %v", err)
	}
	policy := rollout.Policy{MaxFailures: budget, MinDevices: int64(fp.MinDevices), Action: halts[fp.Action]}
	release := rollout.ReleaseRule
	if policy.Action == rollout.HaltRollForward {
		release.Action = rollout.HaltRollForward // recovering is what the campaign asked for
	}
	policy.Classes[rollout.ClassRelease] = &release
	for i, rule := range fp.Classes {
		class, ok := rollout.ParseClass(string(rule.Class))
		max, err := quantity(&rule.MaxFailures)
		if !ok || err != nil {
			return rollout.Policy{}, stalled(v1.ReasonInvalidSpec, "spec.failurePolicy.classes[%d]: class %q, maxFailures %v", i, rule.Class, err)
		}
		action := policy.Action
		if rule.Action != "" {
			action = halts[rule.Action]
		}
		policy.Classes[class] = &rollout.ClassRule{MaxFailures: max, Action: action}
	}
	if cb := fp.Campaign; cb != nil {
		max, err := quantity(&cb.MaxFailures)
		if err != nil {
			return rollout.Policy{}, stalled(v1.ReasonInvalidSpec, "spec.failurePolicy.campaign.maxFailures: %v", err)
		}
		policy.Campaign = &rollout.CampaignBudget{MaxFailures: max, MinDevices: int64(cb.MinDevices)}
	}
	return policy, nil
}

// classCounts reads a status's failures by class.
func classCounts(f *v1.FailureCounts) rollout.ClassCounts {
	var cc rollout.ClassCounts
	if f != nil {
		cc[rollout.ClassRelease], cc[rollout.ClassDevice], cc[rollout.ClassNetwork] = f.Release, f.Device, f.Network
		cc[rollout.ClassUnconfirmed], cc[rollout.ClassUnknown] = f.Unconfirmed, f.Unknown
	}
	return cc
}

// failureCounts is the status form of failures by class; nil when there are none.
func failureCounts(cc rollout.ClassCounts) *v1.FailureCounts {
	if cc.Sum() == 0 {
		return nil
	}
	return &v1.FailureCounts{Release: cc[rollout.ClassRelease], Device: cc[rollout.ClassDevice], Network: cc[rollout.ClassNetwork],
		Unconfirmed: cc[rollout.ClassUnconfirmed], Unknown: cc[rollout.ClassUnknown]}
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
	if spec.Target.RolloutOf != "" {
		fmt.Fprintf(&b, "of=%s|", spec.Target.RolloutOf)
	}
	if spec.Target.MaxDevices != nil {
		fmt.Fprintf(&b, "%d", *spec.Target.MaxDevices)
	}
	for _, w := range spec.Waves {
		fmt.Fprintf(&b, "|%s=%s", w.Name, w.Size.String())
	}
	return shortHash(b.String())
}

func planToStatus(plan rollout.Plan, hash string) *v1.CampaignPlan {
	bounds := make([]string, len(plan.Bounds))
	for i, b := range plan.Bounds {
		bounds[i] = strconv.FormatUint(b, 10)
	}
	return &v1.CampaignPlan{FleetSize: plan.FleetSize, WaveSizes: plan.Sizes, Hash: hash, Bounds: bounds}
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

// plannerInput is the planner's view of the campaign now.
func plannerInput(uc *v1.UpdateCampaign, waves []rollout.Wave, policy rollout.Policy, plan rollout.Plan, now time.Time) rollout.Input {
	st := &uc.Status
	in := rollout.Input{
		Waves:    waves,
		Policy:   policy,
		Plan:     plan,
		Current:  int(st.CurrentWave),
		Progress: make([]rollout.WaveProgress, len(st.Waves)),
		Paused:   uc.Spec.Paused,
		Abort:    st.Abort,
		Approved: setOf(st.ApprovedWaves),
		Accepted: setOf(st.AcceptedWaves),
		Attempt:  st.Attempt,
		Now:      now,
		// An abort after the last wave passed changes nothing.
		Completed:  st.Phase == v1.CampaignCompleted,
		Continuous: uc.Spec.Target.Continuous,
	}
	if uc.Spec.Target.Until != nil {
		in.Until = uc.Spec.Target.Until.Time
	}
	for i, w := range st.Waves {
		in.Progress[i] = rollout.WaveProgress{
			Started:  w.StartedAt != nil,
			Finished: w.FinishedAt != nil,
			Attempt:  w.Attempt,
			Counts: rollout.Counts{Targeted: w.Targeted, Succeeded: w.Succeeded, Failed: w.Failed,
				TimedOut: w.TimedOut, Pending: w.Pending, Skipped: w.Skipped, Failures: classCounts(w.Failures), Deferred: w.Deferred,
				Queued: w.Queued},
		}
		if w.StartedAt != nil {
			in.Progress[i].StartedAt = w.StartedAt.Time
		}
		if w.SentAt != nil {
			in.Progress[i].LastSentAt = w.SentAt.Time
		}
		if w.FinishedAt != nil {
			in.Progress[i].FinishedAt = w.FinishedAt.Time
			if w.LateSentAt != nil && !w.LateSentAt.Before(w.FinishedAt) {
				in.Progress[i].LatePending = w.Pending
			}
		}
		if i < in.Current {
			in.LatePending += w.Pending
		}
		in.Deferred += w.Deferred
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

// waveRunning reports whether wave k has remote campaigns still sending to devices: started and not
// finished, or finished with devices that joined late still updating.
func waveRunning(uc *v1.UpdateCampaign, k int) bool {
	w := uc.Status.Waves[k]
	return w.StartedAt != nil && (w.FinishedAt == nil || w.Pending > 0)
}

// anyWaveRunning reports whether any wave has devices updating, so the campaign must be polled.
func anyWaveRunning(uc *v1.UpdateCampaign) bool {
	for k := range uc.Status.Waves {
		if waveRunning(uc, k) {
			return true
		}
	}
	return false
}

// recordStep writes the planner's verdict into status and conditions.
func recordStep(uc *v1.UpdateCampaign, step rollout.Step, now time.Time) {
	recordPhase(uc, step)
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
	uc.Status.Totals = v1.DeviceCounts{}
	for _, w := range uc.Status.Waves {
		uc.Status.Totals.Add(w.DeviceCounts)
	}
	recordConditions(uc, step, now)
	if uc.Status.Phase.IsFinal() && uc.Status.CompletedAt == nil {
		t := metav1.NewTime(now)
		uc.Status.CompletedAt = &t
	}
}

// recordPhase records the campaign's phase and progress from a step.
func recordPhase(uc *v1.UpdateCampaign, step rollout.Step) {
	uc.Status.Phase = v1.CampaignPhase(step.Phase)
	uc.Status.Progress = fmt.Sprintf("%d/%d", min(int(uc.Status.CurrentWave)+1, len(uc.Spec.Waves)), len(uc.Spec.Waves))
}

// recordConditions sets Ready, Progressing and Paused (and Reconciling or Stalled) for the phase.
func recordConditions(uc *v1.UpdateCampaign, step rollout.Step, now time.Time) {
	progressing, paused := metav1.ConditionFalse, false
	switch uc.Status.Phase {
	case v1.CampaignCompleted, v1.CampaignWatching:
		markReady(uc, now, step.Reason, step.Message)
	case v1.CampaignAborted, v1.CampaignFailed:
		markStalled(uc, now, step.Reason, step.Message)
	case v1.CampaignPaused, v1.CampaignWaitingForApproval:
		markHeld(uc, now, step.Reason, step.Message)
		paused = true
	case v1.CampaignScheduled:
		markHeld(uc, now, step.Reason, step.Message)
	default:
		markProgressing(uc, now, step.Reason, step.Message)
		progressing = metav1.ConditionTrue
	}
	setCondition(uc, now, v1.ConditionProgressing, progressing, step.Reason, step.Message)
	if paused {
		setCondition(uc, now, v1.ConditionPaused, metav1.ConditionTrue, step.Reason, step.Message)
	} else {
		meta.RemoveStatusCondition(&uc.Status.Conditions, v1.ConditionPaused)
	}
}
