package rollout

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidInput is wrapped by Next's errors: the input does not describe a rollout (for example the
// spec's waves changed under a plan made for other waves).
var ErrInvalidInput = errors.New("rollout: invalid input")

// Counts are a wave's device outcomes as the controller observed them (Update Service metrics). Every
// device of the wave is counted once, in exactly one of Succeeded, Failed, TimedOut, Pending and
// Skipped. A device sent the update that has not reported yet is Pending, so right after StartWave,
// before the first metrics arrive, Pending is the number of devices targeted.
type Counts struct {
	Targeted  int64 // devices sent the update (Update Service campaigns were created for them)
	Succeeded int64
	Failed    int64
	TimedOut  int64
	Pending   int64
	Skipped   int64 // devices already running the firmware, left out by the controller or the service
	// Failures splits Failed by class; its Sum is Failed.
	Failures ClassCounts
	// Deferred devices wait for another campaign to be done with them: not counted in Total, since the
	// wave's gate is judged without them; the campaign completes only once none is left (Input.Deferred).
	Deferred int64
	// Queued devices of the wave wait for the rate limit (or a maintenance window) to be sent the update.
	// They are counted in Total, and keep the wave running; they never time out, not having been sent.
	Queued int64
}

// Finished is the number of devices with an outcome: Succeeded + Failed + TimedOut + Skipped.
func (c Counts) Finished() int64 { return c.Succeeded + c.Failed + c.TimedOut + c.Skipped }

// Total is the number of devices of the wave: Finished + Pending + Queued. Success thresholds are a
// share of it.
func (c Counts) Total() int64 { return c.Finished() + c.Pending + c.Queued }

// WaveProgress is what the controller recorded of a wave.
type WaveProgress struct {
	Started   bool
	StartedAt time.Time
	Counts    Counts
	// Finished: nothing of the wave runs any more, because every targeted device reported, or the
	// device timeout ended it (FinishWave), or it was stopped (StopWave).
	Finished   bool
	FinishedAt time.Time
	Attempt    int32 // the Input.Attempt the wave last started under
	// LastSentAt is when the wave last sent devices the update (a rate-limited wave sends over time);
	// the device timeout runs from it.
	LastSentAt time.Time
	// LatePending counts devices of Counts.Pending sent the update after the wave finished (they
	// joined its range late): the wave's gate is judged without them until they report.
	LatePending int64
}

// Policy is the campaign's failure policy and device timeout.
type Policy struct {
	// MaxFailures is how many failed or timed-out devices a wave tolerates, of its planned size
	// (see Budget). One more and the policy acts.
	MaxFailures Quantity
	// MinDevices is how many devices of a running wave must have finished before a percentage
	// MaxFailures is judged, so one early failure does not stop a large wave. A count MaxFailures is
	// judged at once (its failures are failures whatever the sample), and a finished wave always.
	MinDevices int64
	// Action is what a spent budget or a missed success threshold does.
	Action Halt
	// Classes holds a rule of its own for some failure classes, judged before any budget; nil: the
	// class counts against the budgets only.
	Classes [NumClasses]*ClassRule
	// Campaign is the budget across every wave started so far; nil: none.
	Campaign *CampaignBudget
	// DeviceTimeout is how long after its wave started a device may take to report; 0 or less: no
	// timeout.
	DeviceTimeout time.Duration
}

// Halt is what the failure policy does when it trips.
type Halt int

// Halts.
const (
	// HaltPause holds the campaign; devices already updating finish, and a person accepts, retries or
	// aborts.
	HaltPause Halt = iota
	// HaltAbort stops the wave's remote campaigns and fails the campaign.
	HaltAbort
	// HaltRollForward stops the wave's remote campaigns, fails the campaign, and has the controller
	// roll the devices that took or tried the release forward to a known-good one (Step.RollForward).
	HaltRollForward
)

var haltNames = [...]string{"Pause", "Abort", "RollForward"}

// String names the halt as the API's failure actions do.
func (h Halt) String() string {
	if h < 0 || int(h) >= len(haltNames) {
		return fmt.Sprintf("Halt(%d)", int(h))
	}
	return haltNames[h]
}

// ClassRule is a failure class's own budget: more than MaxFailures failed devices of the class in a wave
// (a count, or a percentage of the wave's planned size judged from Policy.MinDevices finished devices
// on) and Action is taken.
type ClassRule struct {
	MaxFailures Quantity
	Action      Halt
}

// ReleaseRule is the rule for ClassRelease when the campaign gives none: the first device that
// rejects the release fails the campaign, because every other device would reject it too.
var ReleaseRule = ClassRule{MaxFailures: Count(0), Action: HaltAbort}

// CampaignBudget is the failure budget across the waves started so far: more than MaxFailures failed
// or timed-out devices of them (a count, or a percentage of their planned sizes, judged from MinDevices
// finished devices on) and Policy.Action is taken.
type CampaignBudget struct {
	MaxFailures Quantity
	MinDevices  int64
}

// Input is everything Next decides from.
type Input struct {
	Waves    []Wave
	Policy   Policy
	Plan     Plan
	Current  int            // the wave being rolled out or waited on
	Progress []WaveProgress // one per wave
	Paused   bool           // spec.paused
	Abort    bool           // a person asked to abort (status.abort)
	// Completed: the campaign reached Completed before (status.phase), so an abort no longer applies.
	Completed bool
	// Approved names the Manual waves a person approved to start (status.approvedWaves). Approving
	// only lets a wave start; it never waives a gate, so approving a wave ahead of time cannot carry
	// the rollout past the failures of the wave before it.
	Approved map[string]bool
	// Accepted names the waves whose result a person accepted (status.acceptedWaves): under the Pause
	// policy, a finished wave named here that did not pass its gate lets the rollout go on as if it
	// passed, staying WaveFailed. Under the Abort policy it waives nothing.
	Accepted map[string]bool
	Attempt  int32 // the retry attempt a person asked for (status.attempt)
	// LatePending counts devices of earlier waves still updating because they joined their wave's
	// range after it started and were sent the update late: the campaign completes only once they
	// reported.
	LatePending int64
	// Deferred counts devices of every wave held back by another campaign's pins: the campaign completes
	// only once they were sent and reported.
	Deferred int64
	// Continuous: once every wave passed, the campaign keeps watching the fleet (PhaseWatching) for
	// devices that join, until Until (zero: until it is deleted), instead of completing.
	Continuous bool
	Until      time.Time
	// Schedule says when waves may start (the zero Schedule: always). A wave already running when the
	// schedule closes goes on (its devices finish), unless StopAtWindowEnd: then it finishes at once,
	// its remote campaigns stopped and its pending devices counted as timed out.
	Schedule        Schedule
	StopAtWindowEnd bool
	Now             time.Time
}

// Action is what the controller carries out, records, and then calls Next again for.
type Action int

// Actions.
const (
	// None: nothing to do now; wait for a watch event, a metrics poll, or RecheckAt.
	None Action = iota
	// StartWave: target the devices of Step.Wave that have not succeeded yet (all of them on the
	// first attempt), create and start their remote campaigns, and record Started, StartedAt = Now,
	// Attempt = Input.Attempt, Finished = false. Devices re-targeted by a retry go back to Pending.
	StartWave
	// FinishWave: the wave is over; record Finished, FinishedAt = Now. With Step.TimedOut, first stop
	// its remote campaigns and count its pending devices as timed out.
	FinishWave
	// StopWave: abort or failure. Stop the wave's remote campaigns (devices stop being sent the update;
	// those already updating may still report) and record Finished, FinishedAt = Now.
	StopWave
	// Advance: the wave passed (or a person accepted its result); record Current = Step.Wave + 1.
	Advance
	// Complete: the last wave passed; the campaign is done. Next keeps returning it for a completed
	// campaign, so carrying it out must be idempotent.
	Complete
)

var actionNames = [...]string{"None", "StartWave", "FinishWave", "StopWave", "Advance", "Complete"}

// String names the action as its constant does.
func (a Action) String() string {
	if a < 0 || int(a) >= len(actionNames) {
		return fmt.Sprintf("Action(%d)", int(a))
	}
	return actionNames[a]
}

// Phase is what the campaign is now: the CRD's CampaignPhase values.
type Phase string

// Campaign phases.
const (
	// PhasePending: not planned yet (the controller's, before it calls Next).
	PhasePending Phase = "Pending"
	// PhaseWaitingForApproval: the current wave is Manual and nobody approved it.
	PhaseWaitingForApproval Phase = "WaitingForApproval"
	// PhaseProgressing: a wave's devices are updating, or the rollout is moving to the next wave.
	PhaseProgressing Phase = "Progressing"
	// PhaseSoaking: the current wave passed and its soak runs.
	PhaseSoaking Phase = "Soaking"
	// PhasePaused: held by spec.paused (reason PausedBySpec) or by the Pause failure policy (reason
	// FailureBudgetExceeded or SuccessThresholdNotMet).
	PhasePaused Phase = "Paused"
	// PhaseCompleted: every wave passed. Final, except for a retry.
	PhaseCompleted Phase = "Completed"
	// PhaseWatching: every wave of a continuous campaign passed; devices that join the fleet are sent
	// the update in follow-up chunks of their wave.
	PhaseWatching Phase = "Watching"
	// PhaseScheduled: the next wave (or retry) may start, but the schedule is closed: before
	// startAfter, or outside every maintenance window.
	PhaseScheduled Phase = "Scheduled"
	// PhaseAborted: a person aborted the campaign. Final while status.abort is set.
	PhaseAborted Phase = "Aborted"
	// PhaseFailed: the Abort failure policy stopped the campaign. Final, except for a retry.
	PhaseFailed Phase = "Failed"
)

// WavePhase is where the wave a Step is about is: the CRD's WavePhase values.
type WavePhase string

// Wave phases.
const (
	// WavePending: the wave has not started.
	WavePending WavePhase = "Pending"
	// WaveWaitingForApproval: the wave is Manual and nobody approved it.
	WaveWaitingForApproval WavePhase = "WaitingForApproval"
	// WaveProgressing: the wave's devices are updating.
	WaveProgressing WavePhase = "Progressing"
	// WaveSoaking: the wave passed (or a person accepted its result) and its soak runs.
	WaveSoaking WavePhase = "Soaking"
	// WaveSucceeded: the wave passed its gate.
	WaveSucceeded WavePhase = "Succeeded"
	// WaveFailed: the wave spent its failure budget or missed its success threshold; it stays Failed
	// when a person accepted its result and the rollout went on.
	WaveFailed WavePhase = "Failed"
	// WaveAborted: a person aborted the campaign at this wave.
	WaveAborted WavePhase = "Aborted"
)

// Condition reasons a Step gives; the same strings as the API's UpdateCampaign reasons.
const (
	ReasonWaveInProgress         = "WaveInProgress"
	ReasonSoaking                = "Soaking"
	ReasonWaitingForApproval     = "WaitingForApproval"
	ReasonPausedBySpec           = "PausedBySpec"
	ReasonFailureBudgetExceeded  = "FailureBudgetExceeded"
	ReasonFailureClassExceeded   = "FailureClassExceeded"
	ReasonCampaignBudgetExceeded = "CampaignBudgetExceeded"
	ReasonSuccessThresholdNotMet = "SuccessThresholdNotMet"
	ReasonAborted                = "Aborted"
	ReasonCompleted              = "Completed"
	ReasonWatching               = "Watching"
	ReasonOutsideWindow          = "OutsideMaintenanceWindow"
	ReasonWindowClosed           = "MaintenanceWindowClosed"
)

// Step is Next's decision.
type Step struct {
	Action    Action
	Wave      int       // the wave the action is about (for Advance, the wave being left)
	Phase     Phase     // what the campaign is now
	WavePhase WavePhase // what Wave is now
	Reason    string    // the condition reason, one of the Reason constants
	Message   string    // for people; the same input gives the same message
	// RecheckAt is when time alone changes a None decision (a soak's end, the device timeout); zero
	// when only new observations or a person can, and with every other action, which is carried out at
	// once. When set it is after Now.
	RecheckAt time.Time
	TimedOut  bool // with FinishWave: the device timeout ended the wave
	// RollForward: the failure policy that failed the campaign asks for a roll-forward. Set on every
	// decision of a campaign failed that way, so carrying it out must be idempotent.
	RollForward bool
}

// Next decides what the rollout does now. It derives everything from its input, so the rules below
// hold on every call, after any restart:
//
//   - Abort (a person) wins over everything but a campaign that already completed (Input.Completed):
//     a running wave is stopped (StopWave), then the campaign stays Aborted (None) while Input.Abort is
//     set, also when the abort came during the last wave's soak. A retry must clear Abort, as
//     `kubectl fleetwave retry` does.
//   - A wave not started: a wave planned empty is passed at once (Advance, or Complete for the last),
//     without approval or soak; a Manual wave not approved waits (WaitingForApproval); otherwise
//     StartWave.
//   - A running wave: FinishWave once no device is pending; FinishWave with TimedOut at
//     StartedAt + DeviceTimeout; otherwise, when a failure rule breaks, its action is taken: Abort and
//     RollForward stop the wave (StopWave, Failed), Pause pauses the campaign while devices already
//     updating finish. The rules, in order: each failure class's own rule (Policy.Classes; a class
//     without one counts against the budgets only), the campaign's budget over the waves started so
//     far (Policy.Campaign), the wave's budget (Policy.MaxFailures).
//   - A finished wave passes its gate when it breaks no failure rule and Succeeded + Skipped reach
//     the success threshold of its Total. A wave that did not pass fails the campaign (Abort policy) or
//     pauses it (Pause policy). Under the Pause policy, a person who accepts the wave's result
//     (Input.Accepted names the wave itself) waives its gate: the rollout goes on as if it passed and
//     the wave stays WaveFailed; the last wave too, and the campaign completes. An acceptance given
//     while the wave runs takes effect when it finishes. Approving (Input.Approved) never waives a
//     gate, and accepting waives only a rule whose action is Pause: a retry is the way on. A passed or
//     accepted wave soaks until FinishedAt + Soak, then the rollout advances, or completes after the
//     last wave.
//   - Retry: when Input.Attempt is above the current wave's Attempt and the wave has finished (passed,
//     failed, stopped or completed), StartWave again for its devices that did not succeed. A retry
//     asked for while the wave runs takes effect when it finishes. A retry of a wave not yet started
//     is its ordinary start.
//   - spec.paused starts nothing: no wave and no retry starts while it is true. Devices already
//     updating finish, timeouts still apply, and bookkeeping (FinishWave, Advance, Complete) goes on.
//     The campaign shows Paused (PausedBySpec) at once, even while the current wave's devices finish,
//     so that pausing is visibly taken; a failure-policy pause keeps its own reason.
func Next(in Input) (Step, error) {
	if err := in.check(); err != nil {
		return Step{}, err
	}
	if in.Abort && !in.Completed {
		return in.aborted(), nil
	}
	return in.holdIfPaused(in.rollOn()), nil
}

func (in Input) check() error {
	switch {
	case len(in.Waves) == 0:
		return fmt.Errorf("%w: no waves", ErrInvalidInput)
	case len(in.Progress) != len(in.Waves):
		return fmt.Errorf("%w: %d waves but progress for %d", ErrInvalidInput, len(in.Waves), len(in.Progress))
	case len(in.Plan.Sizes) != len(in.Waves):
		return fmt.Errorf("%w: %d waves but a plan for %d", ErrInvalidInput, len(in.Waves), len(in.Plan.Sizes))
	case in.Current < 0 || in.Current >= len(in.Waves):
		return fmt.Errorf("%w: current wave %d of %d", ErrInvalidInput, in.Current, len(in.Waves))
	}
	return nil
}

// rollOn is the decision without a person's abort or pause.
func (in Input) rollOn() Step {
	switch w := in.Progress[in.Current]; {
	case !w.Started:
		return in.waveNotStarted()
	case !w.Finished:
		return in.waveRunning()
	default:
		return in.waveFinished()
	}
}

func (in Input) waveNotStarted() Step {
	k, wave := in.Current, in.Waves[in.Current]
	switch {
	case in.Plan.Sizes[k] == 0:
		return in.moveOn(WaveSucceeded, fmt.Sprintf("wave %q has no devices", wave.Name))
	case wave.Manual && !in.Approved[wave.Name]:
		return Step{
			Action: None, Wave: k, Phase: PhaseWaitingForApproval, WavePhase: WaveWaitingForApproval,
			Reason:  ReasonWaitingForApproval,
			Message: fmt.Sprintf("wave %q (%d devices) waits for a person to approve it", wave.Name, in.Plan.Sizes[k]),
		}
	}
	return in.start(WavePending, fmt.Sprintf("wave %q: updating %d devices", wave.Name, in.Plan.Sizes[k]))
}

func (in Input) waveRunning() Step {
	k, name := in.Current, in.Waves[in.Current].Name
	w := in.Progress[k]
	deadline := in.deviceDeadline(w)
	var window WindowState
	if in.StopAtWindowEnd {
		window = in.Schedule.At(in.Now)
		if window.Open && !window.Closes.IsZero() && (deadline.IsZero() || window.Closes.Before(deadline)) {
			deadline = window.Closes // time alone ends the wave there
		}
	}
	running := Step{Action: None, Wave: k, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: deadline}
	switch {
	case w.Counts.Queued > 0 && w.Counts.Pending <= 0:
		running.RecheckAt = time.Time{} // the controller sends them as the rate allows
		running.Message = fmt.Sprintf("wave %q: %d of %d devices finished, %d queued for the rate limit or the window",
			name, w.Counts.Finished(), w.Counts.Total(), w.Counts.Queued)
	case w.Counts.Pending <= 0:
		running.Action, running.RecheckAt = FinishWave, time.Time{}
		running.Message = fmt.Sprintf("wave %q: every device reported", name)
	case !deadline.IsZero() && !in.Now.Before(deadline) && w.Counts.Queued > 0:
		running.RecheckAt = time.Time{} // pending devices wait with the queue; they time out once it is sent
		running.Message = fmt.Sprintf("wave %q: %d devices queued for the rate limit or the window", name, w.Counts.Queued)
	case !deadline.IsZero() && !in.Now.Before(deadline):
		running.Action, running.RecheckAt, running.TimedOut = FinishWave, time.Time{}, true
		running.Message = fmt.Sprintf("wave %q: the device timeout of %s passed; %d pending devices count as timed out",
			name, in.Policy.DeviceTimeout, w.Counts.Pending)
	case in.StopAtWindowEnd && !window.Open:
		running.Action, running.RecheckAt, running.TimedOut = FinishWave, time.Time{}, true
		running.Reason = ReasonWindowClosed
		running.Message = fmt.Sprintf("wave %q: the maintenance window closed (endBehavior Stop); %d pending devices count as timed out",
			name, w.Counts.Pending)
	default:
		if b, ok := in.breach(k, false); ok {
			return in.halt(WaveProgressing, b, deadline)
		}
		running.Message = fmt.Sprintf("wave %q: %d of %d devices finished", name, w.Counts.Finished(), w.Counts.Total())
	}
	return running
}

func (in Input) waveFinished() Step {
	k, wave := in.Current, in.Waves[in.Current]
	b, failed := in.judge(k)
	if in.Attempt > in.Progress[k].Attempt {
		return in.start(wavePhaseOf(!failed), fmt.Sprintf("wave %q: retry attempt %d for its devices that did not succeed", wave.Name, in.Attempt))
	}
	why := b.why
	if failed {
		if !in.waived(b) {
			return in.halt(WaveFailed, b, time.Time{})
		}
		why += "; a person accepted the result, waiving the gate"
	}
	if soakEnd := in.Progress[k].FinishedAt.Add(wave.Soak); in.Now.Before(soakEnd) {
		return Step{
			Action: None, Wave: k, Phase: PhaseSoaking, WavePhase: WaveSoaking, Reason: ReasonSoaking, RecheckAt: soakEnd,
			Message: fmt.Sprintf("%s; soaking until %s", why, soakEnd.UTC().Format(time.RFC3339)),
		}
	}
	return in.moveOn(wavePhaseOf(!failed), why)
}

// policyRule names the failure policy's own action, which budgets and thresholds follow.
const policyRule = "failurePolicy"

// breach is a gate a wave failed: the reason, a message for people, and what the policy does.
type breach struct {
	reason, why string
	action      Halt
	by          string // the rule, as the API names it
}

// judge is a finished wave's gate: the breach, and whether there was one; without one, why says how
// the wave passed.
func (in Input) judge(k int) (breach, bool) {
	if b, ok := in.breach(k, true); ok {
		return b, true
	}
	// Devices sent the update after the wave finished (they joined late) are judged once they report.
	c, wave := in.Progress[k].Counts, in.Waves[k]
	total := c.Total() - in.Progress[k].LatePending
	need := Threshold(wave.SuccessThreshold, total)
	why := fmt.Sprintf("wave %q: %d of %d devices succeeded or were skipped, %d needed (successThreshold %s)",
		wave.Name, c.Succeeded+c.Skipped, total, need, wave.SuccessThreshold)
	if c.Succeeded+c.Skipped < need {
		return breach{ReasonSuccessThresholdNotMet, why, in.Policy.Action, policyRule}, true
	}
	return breach{why: why}, false
}

// breach finds the first failure rule wave k breaks: a failure class's own rule (a release the devices
// reject outranks any budget), then the campaign's budget, then the wave's. Percentages of a running
// wave are judged only from MinDevices finished devices on.
func (in Input) breach(k int, finished bool) (breach, bool) {
	c, size, wave := in.Progress[k].Counts, in.Plan.Sizes[k], in.Waves[k].Name
	sampled := finished || c.Finished() >= in.Policy.MinDevices
	for class, rule := range in.Policy.Classes {
		if rule == nil || rule.MaxFailures.Percent && !sampled {
			continue
		}
		if n, budget := c.Failures[class], Budget(rule.MaxFailures, size); n > budget {
			return breach{ReasonFailureClassExceeded, fmt.Sprintf(
				"wave %q: %d devices failed with class %s, more than the %d tolerated (classes[%s].maxFailures %s)",
				wave, n, Class(class), budget, Class(class), rule.MaxFailures), rule.Action,
				fmt.Sprintf("failurePolicy.classes[%s]", Class(class))}, true
		}
	}
	if b, ok := in.campaignBreach(wave); ok {
		return b, true
	}
	if in.Policy.MaxFailures.Percent && !sampled {
		return breach{}, false
	}
	if n, budget := c.Failed+c.TimedOut, Budget(in.Policy.MaxFailures, size); n > budget {
		return breach{ReasonFailureBudgetExceeded, fmt.Sprintf(
			"wave %q: %d devices failed or timed out, more than the %d tolerated (maxFailures %s of %d)",
			wave, n, budget, in.Policy.MaxFailures, size), in.Policy.Action, policyRule}, true
	}
	return breach{}, false
}

// campaignBreach judges the campaign's budget over every wave started so far, on behalf of wave.
func (in Input) campaignBreach(wave string) (breach, bool) {
	cb := in.Policy.Campaign
	if cb == nil {
		return breach{}, false
	}
	var failed, finished, planned int64
	for k, w := range in.Progress {
		if w.Started {
			failed += w.Counts.Failed + w.Counts.TimedOut
			finished += w.Counts.Finished()
			planned += in.Plan.Sizes[k]
		}
	}
	if cb.MaxFailures.Percent && finished < cb.MinDevices {
		return breach{}, false
	}
	if budget := Budget(cb.MaxFailures, planned); failed > budget {
		return breach{ReasonCampaignBudgetExceeded, fmt.Sprintf(
			"wave %q: %d devices failed or timed out across the waves so far, more than the %d tolerated (campaign.maxFailures %s of %d)",
			wave, failed, budget, cb.MaxFailures, planned), in.Policy.Action, policyRule}, true
	}
	return breach{}, false
}

// waived says whether a person accepted the current wave's result, which lets the rollout go on past a
// gate whose action is Pause. Only an acceptance of the wave itself counts: an approval of the next
// wave, often given ahead of time, must never waive the failures of this one.
func (in Input) waived(b breach) bool {
	return b.action == HaltPause && in.Accepted[in.Waves[in.Current].Name]
}

// halt applies a breach's action: Abort and RollForward stop a running wave and fail the campaign,
// Pause holds it and says what a person can do.
func (in Input) halt(wavePhase WavePhase, b breach, recheckAt time.Time) Step {
	k, w := in.Current, in.Progress[in.Current]
	running := w.Started && !w.Finished
	if b.action != HaltPause {
		step := Step{Action: None, Wave: k, Phase: PhaseFailed, WavePhase: WaveFailed, Reason: b.reason,
			RollForward: b.action == HaltRollForward, Message: fmt.Sprintf("%s; failed (%s %s)", b.why, b.by, b.action)}
		if running {
			step.Action = StopWave
			step.Message += ", stopping its remote campaigns"
		}
		if step.RollForward {
			step.Message += "; rolling the devices that took or tried it forward"
		}
		return step
	}
	var then string
	switch {
	case running && in.waived(b):
		then = "devices already updating finish, then the rollout goes on: a person accepted the result"
	case running:
		then = "devices already updating finish"
	default:
		then = fmt.Sprintf("accept the result of wave %q to go on, retry, or abort", in.Waves[k].Name)
	}
	return Step{Action: None, Wave: k, Phase: PhasePaused, WavePhase: wavePhase, Reason: b.reason, RecheckAt: recheckAt,
		Message: fmt.Sprintf("%s; paused (%s Pause): %s", b.why, b.by, then)}
}

// start starts the current wave, unless spec.paused or a closed schedule holds it, where it stays in
// its resting phase.
func (in Input) start(resting WavePhase, why string) Step {
	if in.Paused {
		return Step{Action: None, Wave: in.Current, Phase: PhasePaused, WavePhase: resting, Reason: ReasonPausedBySpec,
			Message: fmt.Sprintf("spec.paused holds the rollout; when resumed, %s", why)}
	}
	if w := in.Schedule.At(in.Now); !w.Open {
		return Step{Action: None, Wave: in.Current, Phase: PhaseScheduled, WavePhase: resting, Reason: ReasonOutsideWindow,
			RecheckAt: w.Opens, Message: fmt.Sprintf("the schedule is closed %s; then, %s", opensText(w.Opens), why)}
	}
	return Step{Action: StartWave, Wave: in.Current, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, Message: why}
}

// moveOn leaves the current wave: Advance, or Complete after the last wave.
func (in Input) moveOn(left WavePhase, why string) Step {
	k := in.Current
	if k == len(in.Waves)-1 && in.LatePending+in.Deferred > 0 {
		return Step{Action: None, Wave: k, Phase: PhaseProgressing, WavePhase: left, Reason: ReasonWaveInProgress,
			Message: fmt.Sprintf("%s; waiting for %d devices that joined late and %d deferred by other campaigns", why, in.LatePending, in.Deferred)}
	}
	if k == len(in.Waves)-1 && in.Continuous && (in.Until.IsZero() || in.Now.Before(in.Until)) {
		return Step{Action: None, Wave: k, Phase: PhaseWatching, WavePhase: left, Reason: ReasonWatching, RecheckAt: in.Until,
			Message: why + "; every wave is done, and devices that join the fleet are sent the update" + untilText(in.Until)}
	}
	if late := in.Progress[k].LatePending; k == len(in.Waves)-1 && late > 0 {
		// Devices of the last wave sent after it finished (deferred until another campaign let go of
		// them, or joined late) are still updating: complete once they reported.
		return Step{Action: None, Wave: k, Phase: PhaseProgressing, WavePhase: left, Reason: ReasonWaveInProgress,
			Message: fmt.Sprintf("%s; waiting for %d devices sent after the wave finished", why, late)}
	}
	if k == len(in.Waves)-1 {
		return Step{Action: Complete, Wave: k, Phase: PhaseCompleted, WavePhase: left, Reason: ReasonCompleted,
			Message: why + "; every wave is done"}
	}
	return Step{Action: Advance, Wave: k, Phase: PhaseProgressing, WavePhase: left, Reason: ReasonWaveInProgress,
		Message: fmt.Sprintf("%s; moving on to wave %q", why, in.Waves[k+1].Name)}
}

func opensText(opens time.Time) string {
	if opens.IsZero() {
		return "and no maintenance window ever opens"
	}
	return "until " + opens.UTC().Format(time.RFC3339)
}

func untilText(until time.Time) string {
	if until.IsZero() {
		return ""
	}
	return " until " + until.UTC().Format(time.RFC3339)
}

func (in Input) aborted() Step {
	k := in.Current
	step := Step{Action: None, Wave: k, Phase: PhaseAborted, WavePhase: WaveAborted, Reason: ReasonAborted,
		Message: fmt.Sprintf("aborted at wave %q", in.Waves[k].Name)}
	if w := in.Progress[k]; w.Started && !w.Finished {
		step.Action = StopWave
		step.Message += "; stopping its remote campaigns"
	}
	return step
}

// holdIfPaused shows spec.paused on a step that is not already paused, failed or done.
func (in Input) holdIfPaused(step Step) Step {
	switch {
	case !in.Paused:
	case step.Phase == PhaseProgressing, step.Phase == PhaseSoaking, step.Phase == PhaseWaitingForApproval, step.Phase == PhaseWatching:
		step.Phase, step.Reason = PhasePaused, ReasonPausedBySpec
		step.Message = "spec.paused holds the rollout; " + step.Message
	}
	return step
}

func (in Input) deviceDeadline(w WaveProgress) time.Time {
	if in.Policy.DeviceTimeout <= 0 {
		return time.Time{}
	}
	sent := w.StartedAt
	if w.LastSentAt.After(sent) {
		sent = w.LastSentAt
	}
	return sent.Add(in.Policy.DeviceTimeout)
}

func wavePhaseOf(passed bool) WavePhase {
	if passed {
		return WaveSucceeded
	}
	return WaveFailed
}
