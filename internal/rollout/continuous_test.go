package rollout

import (
	"testing"
	"time"
)

func TestNextContinuous(t *testing.T) {
	lastPassed := func(in *Input) {
		in.Approved["early"] = true
		in.finishedWith(3, Counts{Succeeded: 390}, t0)
	}
	watching := Step{Action: None, Wave: 3, Phase: PhaseWatching, WavePhase: WaveSucceeded, Reason: ReasonWatching}
	runGate(t, []gateCase{
		{"a continuous campaign watches once every wave passed", func(in *Input) {
			lastPassed(in)
			in.Continuous = true
		}, watching},
		{"until is when time alone ends the watch", func(in *Input) {
			lastPassed(in)
			in.Continuous, in.Until = true, t0.Add(24*time.Hour)
		}, Step{Action: None, Wave: 3, Phase: PhaseWatching, WavePhase: WaveSucceeded, Reason: ReasonWatching, RecheckAt: t0.Add(24 * time.Hour)}},
		{"past until the campaign completes", func(in *Input) {
			lastPassed(in)
			in.Continuous, in.Until = true, t0
		}, Step{Action: Complete, Wave: 3, Phase: PhaseCompleted, WavePhase: WaveSucceeded, Reason: ReasonCompleted}},
		{"devices that joined late are judged once they report", func(in *Input) {
			lastPassed(in)
			in.Continuous = true
			in.Progress[3].Counts = Counts{Succeeded: 390, Pending: 30, Targeted: 420}
			in.Progress[3].LatePending = 30
		}, watching},
		{"a late device's failure counts once it reported", func(in *Input) {
			lastPassed(in)
			in.Continuous = true
			in.Progress[3].Counts = Counts{Succeeded: 360, Failed: 30, Targeted: 390}
		}, Step{Action: None, Wave: 3, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
		{"spec.paused holds the watch", func(in *Input) {
			lastPassed(in)
			in.Continuous, in.Paused = true, true
		}, Step{Action: None, Wave: 3, Phase: PhasePaused, WavePhase: WaveSucceeded, Reason: ReasonPausedBySpec}},
	})
}
