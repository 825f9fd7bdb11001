package rollout

import (
	"testing"
	"time"
)

// nightly is a window from 01:00 to 03:00 UTC every day.
func nightly(t *testing.T) Schedule {
	t.Helper()
	w, err := ParseWindow("0 1 * * *", 2*time.Hour, "UTC")
	if err != nil {
		t.Fatal(err)
	}
	return Schedule{Windows: []Window{w}}
}

func TestNextSchedule(t *testing.T) {
	// t0 is 12:00 UTC: outside the nightly window, which next opens at 01:00 tomorrow.
	opens := time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)
	notStarted := func(in *Input) {
		in.Progress[0] = WaveProgress{}
		in.Schedule = nightly(t)
	}
	runGate(t, []gateCase{
		{"a wave waits outside the window", notStarted,
			Step{Action: None, Phase: PhaseScheduled, WavePhase: WavePending, Reason: ReasonOutsideWindow, RecheckAt: opens}},
		{"a wave starts inside the window", func(in *Input) {
			notStarted(in)
			in.Now = opens.Add(time.Minute)
		}, Step{Action: StartWave, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"a wave waits for startAfter", func(in *Input) {
			in.Progress[0] = WaveProgress{}
			in.Schedule = Schedule{StartAfter: t0.Add(time.Hour)}
		}, Step{Action: None, Phase: PhaseScheduled, WavePhase: WavePending, Reason: ReasonOutsideWindow, RecheckAt: t0.Add(time.Hour)}},
		{"a retry waits for the window too", func(in *Input) {
			in.finishedWith(0, Counts{Succeeded: 5, Failed: 5}, t0)
			in.Schedule, in.Attempt = nightly(t), 1
		}, Step{Action: None, Phase: PhaseScheduled, WavePhase: WaveFailed, Reason: ReasonOutsideWindow, RecheckAt: opens}},
		{"a running wave goes on after the window closes (Hold)", func(in *Input) {
			in.Schedule = nightly(t)
			in.running(Counts{Succeeded: 2, Pending: 8}, t0.Add(time.Minute))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: deadline}},
		{"endBehavior Stop finishes a running wave when the window closes", func(in *Input) {
			in.Schedule, in.StopAtWindowEnd = nightly(t), true
			in.running(Counts{Succeeded: 2, Pending: 8}, t0.Add(time.Minute))
		}, Step{Action: FinishWave, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWindowClosed, TimedOut: true}},
		{"endBehavior Stop rechecks when the window closes", func(in *Input) {
			in.Schedule, in.StopAtWindowEnd = nightly(t), true
			in.Progress[0].StartedAt = opens
			in.running(Counts{Succeeded: 2, Pending: 8}, opens.Add(time.Minute))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: opens.Add(2 * time.Hour)}},
		{"spec.paused wins over the schedule", func(in *Input) {
			notStarted(in)
			in.Paused = true
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WavePending, Reason: ReasonPausedBySpec}},
	})
}

func TestSimulationStartsWavesOnlyInsideTheWindow(t *testing.T) {
	s := newSimulation(t, healthyFleet(2), simWaves(), simPolicy(false), 0)
	s.in.Schedule = nightly(t)
	s.person = approveWaiting
	starts := 0
	check := func(step Step) {
		if step.Action == StartWave {
			starts++
			if !s.in.Schedule.At(s.in.Now).Open {
				s.fatalf("wave %d started at %s, outside the window", step.Wave, s.in.Now)
			}
		}
	}
	s.observeStep = check
	if last := s.run(); last.Phase != PhaseCompleted {
		s.fatalf("ended %+v", last)
	}
	if starts != len(simWaves()) {
		t.Errorf("%d wave starts, want %d", starts, len(simWaves()))
	}
}
