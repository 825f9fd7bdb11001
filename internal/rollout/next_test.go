package rollout

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	t0       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	deadline = t0.Add(2 * time.Hour) // t0 + the device timeout of gateInput
)

// gateInput is a campaign of four waves (the second Manual, soaks on the first two) planned over
// 1,000 devices, its first wave started at t0 with every device pending, at t0.
func gateInput() Input {
	return Input{
		Waves: []Wave{
			{Name: "canary", Size: Percent(1), SuccessThreshold: Percent(95), Soak: time.Hour},
			{Name: "early", Size: Percent(10), SuccessThreshold: Percent(95), Soak: 30 * time.Minute, Manual: true},
			{Name: "half", Size: Percent(50), SuccessThreshold: Percent(95)},
			{Name: "rest", Size: Percent(100), SuccessThreshold: Percent(95)},
		},
		Policy:   Policy{MaxFailures: Percent(10), MinDevices: 10, DeviceTimeout: 2 * time.Hour},
		Plan:     Plan{FleetSize: 1000, Sizes: []int64{10, 100, 500, 390}},
		Progress: []WaveProgress{{Started: true, StartedAt: t0, Counts: Counts{Targeted: 10, Pending: 10}}, {}, {}, {}},
		Approved: map[string]bool{},
		Accepted: map[string]bool{},
		Now:      t0,
	}
}

// finishedWith sets the waves before k passed and wave k finished at t0 with counts, and Now to at.
func (in *Input) finishedWith(k int, c Counts, at time.Time) {
	in.Current = k
	for i := range k {
		in.Progress[i] = WaveProgress{Started: true, Finished: true, Counts: Counts{Succeeded: in.Plan.Sizes[i]}}
	}
	in.Progress[k] = WaveProgress{Started: true, StartedAt: t0.Add(-time.Hour), Finished: true, FinishedAt: t0, Counts: c}
	in.Now = at
}

// running sets wave 0 running with counts.
func (in *Input) running(c Counts, at time.Time) {
	in.Progress[0].Counts = c
	in.Now = at
}

type gateCase struct {
	name   string
	modify func(*Input)
	want   Step
}

// runGate checks each case's step, ignoring the message, which it checks says something, mentions the
// wave, and is stable.
func runGate(t *testing.T, cases []gateCase) {
	t.Helper()
	for _, tc := range cases {
		in := gateInput()
		tc.modify(&in)
		got, err := Next(in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Step{}, "Message")); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
		if again, _ := Next(in); again.Message != got.Message || !strings.Contains(got.Message, in.Waves[got.Wave].Name) {
			t.Errorf("%s: message %q is not stable or does not name the wave", tc.name, got.Message)
		}
	}
}

func TestNextAbort(t *testing.T) {
	runGate(t, []gateCase{
		{"a running wave is stopped", func(in *Input) {
			in.Abort = true
		}, Step{Action: StopWave, Phase: PhaseAborted, WavePhase: WaveAborted, Reason: ReasonAborted}},
		{"a stopped wave stays aborted", func(in *Input) {
			in.finishedWith(0, Counts{Succeeded: 4, Pending: 6}, t0)
			in.Abort = true
		}, Step{Action: None, Phase: PhaseAborted, WavePhase: WaveAborted, Reason: ReasonAborted}},
		{"a wave waiting for approval is aborted without stopping anything", func(in *Input) {
			in.Current = 1
			in.Progress[0] = WaveProgress{Started: true, Finished: true, Counts: Counts{Succeeded: 10}}
			in.Abort = true
		}, Step{Action: None, Wave: 1, Phase: PhaseAborted, WavePhase: WaveAborted, Reason: ReasonAborted}},
		{"abort during a soak", func(in *Input) {
			in.finishedWith(0, Counts{Succeeded: 10}, t0.Add(time.Minute))
			in.Abort = true
		}, Step{Action: None, Phase: PhaseAborted, WavePhase: WaveAborted, Reason: ReasonAborted}},
		{"abort wins over a retry", func(in *Input) {
			in.finishedWith(0, Counts{Succeeded: 4, Pending: 6}, t0)
			in.Abort, in.Attempt = true, 1
		}, Step{Action: None, Phase: PhaseAborted, WavePhase: WaveAborted, Reason: ReasonAborted}},
		{"abort wins over spec.paused", func(in *Input) {
			in.Abort, in.Paused = true, true
		}, Step{Action: StopWave, Phase: PhaseAborted, WavePhase: WaveAborted, Reason: ReasonAborted}},
		{"abort wins over a failed campaign", func(in *Input) {
			in.Policy.Action = HaltAbort
			in.finishedWith(0, Counts{Succeeded: 5, Failed: 5}, t0)
			in.Abort = true
		}, Step{Action: None, Phase: PhaseAborted, WavePhase: WaveAborted, Reason: ReasonAborted}},
		{"a completed campaign stays completed", func(in *Input) {
			in.finishedWith(3, Counts{Succeeded: 390}, t0)
			in.Abort, in.Completed = true, true
		}, Step{Action: Complete, Wave: 3, Phase: PhaseCompleted, WavePhase: WaveSucceeded, Reason: ReasonCompleted}},
		{"an abort during the last wave's soak holds after it", func(in *Input) {
			in.Waves[3].Soak = time.Hour
			in.finishedWith(3, Counts{Succeeded: 390}, t0.Add(2*time.Hour))
			in.Abort = true
		}, Step{Action: None, Wave: 3, Phase: PhaseAborted, WavePhase: WaveAborted, Reason: ReasonAborted}},
	})
}

func TestNextWaveNotStarted(t *testing.T) {
	notStarted := func(k int) func(*Input) {
		return func(in *Input) {
			in.finishedWith(k, Counts{}, t0)
			in.Progress[k] = WaveProgress{}
			in.Progress[k-1].FinishedAt = t0.Add(-24 * time.Hour)
		}
	}
	then := func(first func(*Input), more func(*Input)) func(*Input) {
		return func(in *Input) { first(in); more(in) }
	}
	runGate(t, []gateCase{
		{"an Auto wave starts", func(in *Input) { in.Progress[0] = WaveProgress{} },
			Step{Action: StartWave, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"the next Auto wave starts", notStarted(2),
			Step{Action: StartWave, Wave: 2, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"spec.paused holds it", then(notStarted(2), func(in *Input) { in.Paused = true }),
			Step{Action: None, Wave: 2, Phase: PhasePaused, WavePhase: WavePending, Reason: ReasonPausedBySpec}},
		{"a Manual wave waits for approval", notStarted(1),
			Step{Action: None, Wave: 1, Phase: PhaseWaitingForApproval, WavePhase: WaveWaitingForApproval, Reason: ReasonWaitingForApproval}},
		{"approving another wave does not approve it", then(notStarted(1), func(in *Input) { in.Approved["half"] = true }),
			Step{Action: None, Wave: 1, Phase: PhaseWaitingForApproval, WavePhase: WaveWaitingForApproval, Reason: ReasonWaitingForApproval}},
		{"an approved Manual wave starts", then(notStarted(1), func(in *Input) { in.Approved["early"] = true }),
			Step{Action: StartWave, Wave: 1, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"spec.paused over a wave waiting for approval", then(notStarted(1), func(in *Input) { in.Paused = true }),
			Step{Action: None, Wave: 1, Phase: PhasePaused, WavePhase: WaveWaitingForApproval, Reason: ReasonPausedBySpec}},
		{"an approved wave does not start while paused", then(notStarted(1), func(in *Input) { in.Paused, in.Approved["early"] = true, true }),
			Step{Action: None, Wave: 1, Phase: PhasePaused, WavePhase: WavePending, Reason: ReasonPausedBySpec}},
		{"an empty wave is passed at once", then(notStarted(2), func(in *Input) { in.Plan.Sizes[2] = 0 }),
			Step{Action: Advance, Wave: 2, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"an empty Manual wave needs no approval", then(notStarted(1), func(in *Input) { in.Plan.Sizes[1] = 0 }),
			Step{Action: Advance, Wave: 1, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"an empty last wave completes the campaign", then(notStarted(3), func(in *Input) { in.Plan.Sizes[3] = 0 }),
			Step{Action: Complete, Wave: 3, Phase: PhaseCompleted, WavePhase: WaveSucceeded, Reason: ReasonCompleted}},
		{"an empty wave is passed while paused, showing the pause", then(notStarted(2), func(in *Input) { in.Plan.Sizes[2], in.Paused = 0, true }),
			Step{Action: Advance, Wave: 2, Phase: PhasePaused, WavePhase: WaveSucceeded, Reason: ReasonPausedBySpec}},
	})
}

func TestNextWaveRunning(t *testing.T) {
	progressing := Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: deadline}
	runGate(t, []gateCase{
		{"devices updating", func(in *Input) { in.running(Counts{Succeeded: 3, Pending: 7}, t0.Add(time.Minute)) }, progressing},
		{"every device reported", func(in *Input) { in.running(Counts{Succeeded: 9, Skipped: 1}, t0.Add(time.Minute)) },
			Step{Action: FinishWave, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"every device reported, over budget: finish first", func(in *Input) {
			in.Policy.Action = HaltAbort
			in.running(Counts{Succeeded: 5, Failed: 5}, t0.Add(time.Minute))
		}, Step{Action: FinishWave, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"just before the device timeout", func(in *Input) { in.running(Counts{Succeeded: 9, Pending: 1}, deadline.Add(-time.Nanosecond)) }, progressing},
		{"at the device timeout", func(in *Input) { in.running(Counts{Succeeded: 9, Pending: 1}, deadline) },
			Step{Action: FinishWave, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, TimedOut: true}},
		{"long after the device timeout", func(in *Input) { in.running(Counts{Pending: 10}, deadline.Add(48*time.Hour)) },
			Step{Action: FinishWave, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, TimedOut: true}},
		{"no device timeout", func(in *Input) {
			in.Policy.DeviceTimeout = 0
			in.running(Counts{Pending: 10}, deadline.Add(48*time.Hour))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"spec.paused while devices update", func(in *Input) {
			in.Paused = true
			in.running(Counts{Succeeded: 3, Pending: 7}, t0.Add(time.Minute))
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveProgressing, Reason: ReasonPausedBySpec, RecheckAt: deadline}},
		{"spec.paused still finishes the wave", func(in *Input) {
			in.Paused = true
			in.running(Counts{Succeeded: 10}, t0.Add(time.Minute))
		}, Step{Action: FinishWave, Phase: PhasePaused, WavePhase: WaveProgressing, Reason: ReasonPausedBySpec}},
		{"spec.paused still times devices out", func(in *Input) {
			in.Paused = true
			in.running(Counts{Succeeded: 3, Pending: 7}, deadline)
		}, Step{Action: FinishWave, Phase: PhasePaused, WavePhase: WaveProgressing, Reason: ReasonPausedBySpec, TimedOut: true}},
		{"a retry asked for while the wave runs waits for it", func(in *Input) {
			in.Attempt = 1
			in.running(Counts{Succeeded: 3, Pending: 7}, t0.Add(time.Minute))
		}, progressing},
	})
}

// TestNextWaveRunningFailureBudget checks the failure budget of a running wave: when it is spent,
// and what spending it does under each policy.
func TestNextWaveRunningFailureBudget(t *testing.T) {
	progressing := Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: deadline}
	budgetPause := Step{Action: None, Phase: PhasePaused, WavePhase: WaveProgressing, Reason: ReasonFailureBudgetExceeded, RecheckAt: deadline}
	runGate(t, []gateCase{
		{"failures within budget", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 10, Failed: 10, Pending: 80}, t0.Add(time.Minute))
		}, progressing},
		{"budget spent, Pause: devices already updating finish", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 9, Failed: 11, Pending: 80}, t0.Add(time.Minute))
		}, budgetPause},
		{"timed-out devices spend the budget too", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 9, Failed: 6, TimedOut: 5, Pending: 80}, t0.Add(time.Minute))
		}, budgetPause},
		{"budget spent, Abort: the wave is stopped", func(in *Input) {
			in.Policy.Action = HaltAbort
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 9, Failed: 11, Pending: 80}, t0.Add(time.Minute))
		}, Step{Action: StopWave, Phase: PhaseFailed, WavePhase: WaveFailed, Reason: ReasonFailureBudgetExceeded}},
		{"a percentage budget waits for MinDevices finished devices", func(in *Input) {
			in.Policy.Action, in.Policy.MinDevices = HaltAbort, 20
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 8, Failed: 11, Pending: 81}, t0.Add(time.Minute))
		}, progressing},
		{"a percentage budget is judged at MinDevices finished devices", func(in *Input) {
			in.Policy.Action, in.Policy.MinDevices = HaltAbort, 20
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 9, Failed: 11, Pending: 80}, t0.Add(time.Minute))
		}, Step{Action: StopWave, Phase: PhaseFailed, WavePhase: WaveFailed, Reason: ReasonFailureBudgetExceeded}},
		{"a count budget is judged at once", func(in *Input) {
			in.Policy.MaxFailures = Count(2)
			in.running(Counts{Failed: 3, Pending: 7}, t0.Add(time.Minute))
		}, budgetPause},
		{"a count budget tolerates exactly its count", func(in *Input) {
			in.Policy.MaxFailures = Count(2)
			in.running(Counts{Failed: 2, Pending: 8}, t0.Add(time.Minute))
		}, progressing},
		{"a spent budget shows over spec.paused", func(in *Input) {
			in.Paused = true
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 9, Failed: 11, Pending: 80}, t0.Add(time.Minute))
		}, budgetPause},
		{"an acceptance during the wave keeps the budget pause while devices finish", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 9, Failed: 11, Pending: 80}, t0.Add(time.Minute))
			in.Accepted["canary"] = true
		}, budgetPause},
	})
}

func TestNextWaveFinished(t *testing.T) {
	soakEnd := t0.Add(time.Hour)
	passed := Counts{Succeeded: 10}
	missed := Counts{Succeeded: 9, Failed: 1} // 95% of 10 is 10; 10% of 10 tolerates 1 failure
	runGate(t, []gateCase{
		{"passed, soaking", func(in *Input) { in.finishedWith(0, passed, t0.Add(30*time.Minute)) },
			Step{Action: None, Phase: PhaseSoaking, WavePhase: WaveSoaking, Reason: ReasonSoaking, RecheckAt: soakEnd}},
		{"passed, a nanosecond before the soak ends", func(in *Input) { in.finishedWith(0, passed, soakEnd.Add(-time.Nanosecond)) },
			Step{Action: None, Phase: PhaseSoaking, WavePhase: WaveSoaking, Reason: ReasonSoaking, RecheckAt: soakEnd}},
		{"passed, the soak ended", func(in *Input) { in.finishedWith(0, passed, soakEnd) },
			Step{Action: Advance, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"passed, no soak", func(in *Input) { in.finishedWith(2, Counts{Succeeded: 500}, t0) },
			Step{Action: Advance, Wave: 2, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"skipped devices count as passed", func(in *Input) { in.finishedWith(2, Counts{Succeeded: 400, Skipped: 75, Failed: 25}, t0) },
			Step{Action: Advance, Wave: 2, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"the last wave passed", func(in *Input) { in.finishedWith(3, Counts{Succeeded: 390}, t0) },
			Step{Action: Complete, Wave: 3, Phase: PhaseCompleted, WavePhase: WaveSucceeded, Reason: ReasonCompleted}},
		{"the last wave passed, late devices of an earlier wave still updating", func(in *Input) {
			in.finishedWith(3, Counts{Succeeded: 390}, t0)
			in.LatePending = 2
		}, Step{Action: None, Wave: 3, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"the last wave passed, devices it sent after it finished still updating", func(in *Input) {
			in.finishedWith(3, Counts{Succeeded: 390, Pending: 3}, t0)
			in.Progress[3].LatePending = 3
		}, Step{Action: None, Wave: 3, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"threshold missed, Pause", func(in *Input) { in.finishedWith(0, missed, t0) },
			Step{Action: None, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
		{"threshold missed, Abort", func(in *Input) {
			in.Policy.Action = HaltAbort
			in.finishedWith(0, missed, t0)
		}, Step{Action: None, Phase: PhaseFailed, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
		{"devices still pending after a stop miss the threshold", func(in *Input) { in.finishedWith(2, Counts{Succeeded: 450, Pending: 50}, t0) },
			Step{Action: None, Wave: 2, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
		{"budget spent though the threshold is met", func(in *Input) {
			in.Policy.MaxFailures = Count(0)
			in.finishedWith(2, Counts{Succeeded: 499, Failed: 1}, t0)
		}, Step{Action: None, Wave: 2, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonFailureBudgetExceeded}},
		{"a finished wave smaller than MinDevices is judged", func(in *Input) {
			in.Waves[0].SuccessThreshold = Percent(50)
			in.Plan.Sizes[0] = 5
			in.finishedWith(0, Counts{Succeeded: 4, Failed: 1}, t0)
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonFailureBudgetExceeded}},
		{"a count threshold larger than the wave asks for all of it", func(in *Input) {
			in.Waves[2].SuccessThreshold = Count(1000)
			in.finishedWith(2, Counts{Succeeded: 500}, t0)
		}, Step{Action: Advance, Wave: 2, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"spec.paused during a soak", func(in *Input) {
			in.finishedWith(0, passed, t0.Add(30*time.Minute))
			in.Paused = true
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveSoaking, Reason: ReasonPausedBySpec, RecheckAt: soakEnd}},
		{"spec.paused after the soak still moves on (the next wave will not start)", func(in *Input) {
			in.finishedWith(0, passed, soakEnd)
			in.Paused = true
		}, Step{Action: Advance, Phase: PhasePaused, WavePhase: WaveSucceeded, Reason: ReasonPausedBySpec}},
		{"a failed gate keeps its reason over spec.paused", func(in *Input) {
			in.finishedWith(0, missed, t0)
			in.Paused = true
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
	})
}

// TestNextWaveFinishedApprovedOrAccepted checks what approving a wave and accepting a wave's result
// do, and do not, to a finished wave's gate.
func TestNextWaveFinishedApprovedOrAccepted(t *testing.T) {
	soakEnd := t0.Add(time.Hour)
	missed := Counts{Succeeded: 9, Failed: 1} // 95% of 10 is 10; 10% of 10 tolerates 1 failure
	runGate(t, []gateCase{
		{"approving the next wave waives nothing", func(in *Input) {
			in.finishedWith(0, missed, t0)
			in.Approved["early"] = true
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
		{"approving the next wave waives no spent budget", func(in *Input) {
			in.finishedWith(2, Counts{Succeeded: 440, Failed: 60}, t0)
			in.Approved["rest"] = true
		}, Step{Action: None, Wave: 2, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonFailureBudgetExceeded}},
		{"approving the wave itself waives nothing", func(in *Input) {
			in.finishedWith(1, Counts{Succeeded: 80, Failed: 20}, t0)
			in.Approved["early"] = true
		}, Step{Action: None, Wave: 1, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonFailureBudgetExceeded}},
		{"accepting the wave waives a missed threshold, then soaks", func(in *Input) {
			in.finishedWith(0, missed, t0)
			in.Accepted["canary"] = true
		}, Step{Action: None, Phase: PhaseSoaking, WavePhase: WaveSoaking, Reason: ReasonSoaking, RecheckAt: soakEnd}},
		{"an accepted wave moves on as Failed", func(in *Input) {
			in.finishedWith(0, missed, soakEnd)
			in.Accepted["canary"] = true
		}, Step{Action: Advance, Phase: PhaseProgressing, WavePhase: WaveFailed, Reason: ReasonWaveInProgress}},
		{"accepting the wave waives a spent budget", func(in *Input) {
			in.finishedWith(2, Counts{Succeeded: 440, Failed: 60}, t0)
			in.Accepted["half"] = true
		}, Step{Action: Advance, Wave: 2, Phase: PhaseProgressing, WavePhase: WaveFailed, Reason: ReasonWaveInProgress}},
		{"accepting another wave waives nothing", func(in *Input) {
			in.finishedWith(0, missed, t0)
			in.Accepted["early"] = true
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
		{"under Abort, accepting waives nothing", func(in *Input) {
			in.Policy.Action = HaltAbort
			in.finishedWith(0, missed, t0)
			in.Accepted["canary"] = true
		}, Step{Action: None, Phase: PhaseFailed, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
		{"accepting the last wave completes the campaign", func(in *Input) {
			in.finishedWith(3, Counts{Succeeded: 300, Failed: 90}, t0)
			in.Accepted["rest"] = true
		}, Step{Action: Complete, Wave: 3, Phase: PhaseCompleted, WavePhase: WaveFailed, Reason: ReasonCompleted}},
		{"an accepted wave that passed anyway moves on as Succeeded", func(in *Input) {
			in.finishedWith(2, Counts{Succeeded: 500}, t0)
			in.Accepted["half"] = true
		}, Step{Action: Advance, Wave: 2, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"a retry wins over an acceptance", func(in *Input) {
			in.finishedWith(0, missed, t0)
			in.Accepted["canary"], in.Attempt = true, 1
		}, Step{Action: StartWave, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"spec.paused after an acceptance still moves on (the next wave will not start)", func(in *Input) {
			in.finishedWith(0, missed, soakEnd)
			in.Accepted["canary"], in.Paused = true, true
		}, Step{Action: Advance, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonPausedBySpec}},
	})
}

// TestNextAcceptance follows a wave whose failure budget is spent while it runs and whose result a
// person accepts at once: the campaign stays paused until the wave finishes, then goes on, and the
// messages say why at each step.
func TestNextAcceptance(t *testing.T) {
	in := gateInput()
	in.Plan.Sizes[0] = 100
	in.running(Counts{Succeeded: 9, Failed: 11, Pending: 80}, t0.Add(time.Minute))
	steps := []struct {
		name        string
		modify      func(*Input)
		wantAction  Action
		wantPhase   Phase
		wantMessage string
	}{
		{"budget spent", func(*Input) {}, None, PhasePaused, "paused (failurePolicy Pause): devices already updating finish"},
		{"accepted while devices finish", func(in *Input) { in.Accepted["canary"] = true },
			None, PhasePaused, "devices already updating finish, then the rollout goes on: a person accepted the result"},
		{"every device reported", func(in *Input) { in.running(Counts{Succeeded: 69, Failed: 31}, t0.Add(time.Hour)) },
			FinishWave, PhaseProgressing, "every device reported"},
		{"finished: the acceptance waives the gate", func(in *Input) {
			in.Progress[0].Finished, in.Progress[0].FinishedAt = true, in.Now
		}, None, PhaseSoaking, "a person accepted the result, waiving the gate"},
		{"soaked", func(in *Input) { in.Now = in.Now.Add(in.Waves[0].Soak) }, Advance, PhaseProgressing, `moving on to wave "early"`},
	}
	for _, step := range steps {
		step.modify(&in)
		got, err := Next(in)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got.Action != step.wantAction || got.Phase != step.wantPhase || !strings.Contains(got.Message, step.wantMessage) {
			t.Errorf("%s: %s %s %q, want %s %s and a message saying %q",
				step.name, got.Action, got.Phase, got.Message, step.wantAction, step.wantPhase, step.wantMessage)
		}
	}
}

// TestNextPauseMessageSaysHowToGoOn checks that a failed gate under the Pause policy tells people to
// accept the wave's own result, the last wave too, and never to approve the next wave.
func TestNextPauseMessageSaysHowToGoOn(t *testing.T) {
	for k, c := range map[int]Counts{0: {Succeeded: 9, Failed: 1}, 3: {Succeeded: 300, Failed: 90}} {
		in := gateInput()
		in.finishedWith(k, c, t0)
		step, err := Next(in)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("accept the result of wave %q to go on, retry, or abort", in.Waves[k].Name)
		if step.Phase != PhasePaused || !strings.Contains(step.Message, want) {
			t.Errorf("wave %d: %s %q, want Paused and a message saying %q", k, step.Phase, step.Message, want)
		}
	}
}

func TestNextRetry(t *testing.T) {
	retry := Step{Action: StartWave, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}
	runGate(t, []gateCase{
		{"a paused campaign", func(in *Input) {
			in.finishedWith(0, Counts{Succeeded: 9, Failed: 1}, t0)
			in.Attempt = 1
		}, retry},
		{"a failed campaign", func(in *Input) {
			in.Policy.Action = HaltAbort
			in.finishedWith(0, Counts{Succeeded: 5, Failed: 5}, t0)
			in.Attempt = 1
		}, retry},
		{"an aborted campaign, abort cleared", func(in *Input) {
			in.finishedWith(0, Counts{Succeeded: 5, Pending: 5}, t0)
			in.Attempt = 1
		}, retry},
		{"a soaking wave", func(in *Input) {
			in.finishedWith(0, Counts{Succeeded: 10}, t0.Add(time.Minute))
			in.Attempt = 1
		}, retry},
		{"a completed campaign retries its last wave", func(in *Input) {
			in.finishedWith(3, Counts{Succeeded: 389, Failed: 1}, t0)
			in.Attempt = 2
			in.Progress[3].Attempt = 1
		}, Step{Action: StartWave, Wave: 3, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"a retry already carried out is not repeated", func(in *Input) {
			in.finishedWith(0, Counts{Succeeded: 9, Failed: 1}, t0)
			in.Attempt = 1
			in.Progress[0].Attempt = 1
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
		{"spec.paused holds a retry", func(in *Input) {
			in.finishedWith(0, Counts{Succeeded: 9, Failed: 1}, t0)
			in.Attempt, in.Paused = 1, true
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonPausedBySpec}},
		{"a retry of a wave not started is its ordinary start", func(in *Input) {
			in.Progress[0] = WaveProgress{}
			in.Attempt = 3
		}, retry},
	})
}

// TestNextFinalStates checks that Completed, Failed and Aborted hold however much time passes.
func TestNextFinalStates(t *testing.T) {
	final := map[string]func(*Input){
		"completed": func(in *Input) {
			in.finishedWith(3, Counts{Succeeded: 390}, t0)
			in.Abort, in.Completed = true, true
		},
		"failed": func(in *Input) {
			in.Policy.Action = HaltAbort
			in.finishedWith(1, Counts{Succeeded: 50, Failed: 50}, t0)
		},
		"aborted": func(in *Input) {
			in.finishedWith(1, Counts{Succeeded: 50, Pending: 50}, t0)
			in.Abort = true
		},
	}
	for name, setUp := range final {
		in := gateInput()
		setUp(&in)
		first, err := Next(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, later := range []time.Duration{time.Second, 24 * time.Hour, 10 * 365 * 24 * time.Hour} {
			in.Now = t0.Add(later)
			if got, _ := Next(in); !cmp.Equal(first, got) {
				t.Errorf("%s: %s later the step changed from %+v to %+v", name, later, first, got)
			}
		}
		if !first.RecheckAt.IsZero() || (first.Action != None && first.Action != Complete) {
			t.Errorf("%s: %+v is not at rest", name, first)
		}
	}
}

func TestNextInvalidInput(t *testing.T) {
	for name, modify := range map[string]func(*Input){
		"no waves":                  func(in *Input) { in.Waves, in.Progress, in.Plan.Sizes = nil, nil, nil },
		"progress for other waves":  func(in *Input) { in.Progress = in.Progress[:3] },
		"a plan for other waves":    func(in *Input) { in.Plan.Sizes = append(in.Plan.Sizes, 0) },
		"current wave beyond waves": func(in *Input) { in.Current = 4 },
		"negative current wave":     func(in *Input) { in.Current = -1 },
	} {
		in := gateInput()
		modify(&in)
		if _, err := Next(in); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: error = %v, want ErrInvalidInput", name, err)
		}
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{None: "None", StartWave: "StartWave", FinishWave: "FinishWave",
		StopWave: "StopWave", Advance: "Advance", Complete: "Complete", Action(42): "Action(42)"} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", int(a), got, want)
		}
	}
}

// checkTimeAlone checks RecheckAt against what time alone does to a waiting (None) step: before
// RecheckAt the step stays the same, at RecheckAt it changes, and with no RecheckAt it never changes.
// So a controller that sleeps until RecheckAt neither spins nor misses a transition. Other actions are
// carried out at once and have no RecheckAt.
func checkTimeAlone(t *testing.T, in Input, step Step) {
	t.Helper()
	at := func(now time.Time) Step {
		in.Now = now
		s, err := Next(in)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if step.Action != None {
		if !step.RecheckAt.IsZero() {
			t.Fatalf("RecheckAt with an action carried out at once: %+v", step)
		}
		return
	}
	if step.RecheckAt.IsZero() {
		if later := at(in.Now.Add(100 * 365 * 24 * time.Hour)); !cmp.Equal(step, later) {
			t.Fatalf("no RecheckAt, yet time alone changes %+v into %+v", step, later)
		}
		return
	}
	if !step.RecheckAt.After(in.Now) {
		t.Fatalf("RecheckAt %s is not after now %s", step.RecheckAt, in.Now)
	}
	for _, before := range []time.Time{in.Now.Add(time.Nanosecond), in.Now.Add(step.RecheckAt.Sub(in.Now) / 2), step.RecheckAt.Add(-time.Nanosecond)} {
		if s := at(before); !cmp.Equal(step, s) {
			t.Fatalf("the step changes at %s, before RecheckAt %s: %+v into %+v", before, step.RecheckAt, step, s)
		}
	}
	if s := at(step.RecheckAt); cmp.Equal(step, s) {
		t.Fatalf("nothing changes at RecheckAt %s: %+v", step.RecheckAt, step)
	}
}

// TestNextTimeAlone checks checkTimeAlone's property over many random inputs.
func TestNextTimeAlone(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	pick := func(n int) int { return r.IntN(n) }
	minutes := func(n int) time.Duration { return time.Duration(r.IntN(n)) * time.Minute }
	for range 20_000 {
		in := gateInput()
		in.Current = pick(4)
		for k := range in.Current {
			in.Progress[k] = WaveProgress{Started: true, Finished: true, Counts: Counts{Succeeded: in.Plan.Sizes[k]}}
		}
		size := in.Plan.Sizes[in.Current]
		if pick(8) == 0 {
			in.Plan.Sizes[in.Current] = 0
		}
		failed, pending := int64(pick(int(size)/4+1)), int64(pick(int(size)/2+1))
		c := Counts{Failed: failed, TimedOut: int64(pick(2)), Pending: pending, Skipped: int64(pick(2))}
		c.Succeeded = max(size-c.Failed-c.TimedOut-c.Pending-c.Skipped, 0)
		c.Failures[ClassRelease] = min(c.Failed, int64(pick(2)))
		c.Failures[ClassNetwork] = c.Failed - c.Failures[ClassRelease]
		if pick(2) == 0 {
			in.Policy.Classes[ClassRelease] = &ClassRule{MaxFailures: Count(0), Action: Halt(pick(3))}
		}
		if pick(2) == 0 {
			in.Policy.Campaign = &CampaignBudget{MaxFailures: Percent(int64(pick(20))), MinDevices: int64(pick(50))}
		}
		in.Progress[in.Current] = WaveProgress{
			Started: pick(4) > 0, StartedAt: t0.Add(-minutes(200)), Counts: c,
			Finished: pick(2) == 0, FinishedAt: t0.Add(-minutes(90)), Attempt: int32(pick(2)),
		}
		in.Waves[in.Current].Soak = minutes(120)
		in.Policy.Action, in.Paused, in.Abort, in.Completed = Halt(pick(3)), pick(4) == 0, pick(8) == 0, pick(8) == 0
		in.Policy.DeviceTimeout = minutes(300)
		in.Attempt = int32(pick(3))
		if pick(2) == 0 {
			in.Approved[in.Waves[pick(4)].Name] = true
		}
		if pick(2) == 0 {
			in.Accepted[in.Waves[pick(4)].Name] = true
		}
		step, err := Next(in)
		if err != nil {
			t.Fatal(err)
		}
		checkTimeAlone(t, in, step)
	}
}
