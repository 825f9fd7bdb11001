package rollout

import (
	"math"
	"testing"
	"time"
)

func TestRatePerTick(t *testing.T) {
	ramp := Rate{PerMinute: 100, Base: 10, Factor: 2, RaiseAfter: 20}
	cases := []struct {
		rate      Rate
		succeeded int64
		want      int64
	}{
		{Rate{}, 0, math.MaxInt64},
		{Rate{PerMinute: 50}, 0, 50},
		{Rate{PerMinute: 50}, 1000, 50},
		{ramp, 0, 10},
		{ramp, 19, 10},
		{ramp, 20, 20},
		{ramp, 40, 40},
		{ramp, 60, 80},
		{ramp, 80, 100}, // 160 capped at the maximum
		{ramp, 1 << 40, 100},
		{Rate{PerMinute: 100, Base: 3, Factor: 1.5, RaiseAfter: 1}, 1, 4},
	}
	for _, tc := range cases {
		if got := tc.rate.PerTick(tc.succeeded); got != tc.want {
			t.Errorf("%+v.PerTick(%d) = %d, want %d", tc.rate, tc.succeeded, got, tc.want)
		}
	}
}

func TestRateDue(t *testing.T) {
	r := Rate{PerMinute: 10}
	if due, _ := r.Due(time.Time{}, t0); !due {
		t.Error("the first tick is not due at once")
	}
	if due, next := r.Due(t0, t0.Add(59*time.Second)); due || !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("a tick 59s after the last: due %v, next %s", due, next)
	}
	if due, _ := r.Due(t0, t0.Add(time.Minute)); !due {
		t.Error("a tick a minute after the last is not due")
	}
	if due, _ := (Rate{}).Due(t0, t0); !due {
		t.Error("without a limit every tick is due")
	}
}

func TestNextQueuedDevicesKeepTheWaveRunning(t *testing.T) {
	runGate(t, []gateCase{
		{"queued devices keep a wave with nothing pending running", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 40, Queued: 60}, t0.Add(time.Minute))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"queued devices do not time out", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.running(Counts{Succeeded: 40, Pending: 10, Queued: 50}, deadline.Add(time.Minute))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress}},
		{"the device timeout runs from the last send", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.Progress[0].LastSentAt = t0.Add(time.Hour)
			in.running(Counts{Succeeded: 90, Pending: 10}, deadline.Add(time.Minute))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: deadline.Add(time.Hour)}},
		{"queued devices count in the success threshold", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.finishedWith(0, Counts{Succeeded: 90, Queued: 10}, t0)
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonSuccessThresholdNotMet}},
	})
}

func TestRateSendTime(t *testing.T) {
	cases := []struct {
		rate Rate
		n    int64
		want time.Duration
	}{
		{Rate{}, 1000, 0},
		{Rate{PerMinute: 10}, 0, 0},
		{Rate{PerMinute: 10}, 10, 0},
		{Rate{PerMinute: 10}, 11, time.Minute},
		{Rate{PerMinute: 10}, 25, 2 * time.Minute},
		// 10, then 20 (10 sent and succeeded), 80 (30), then 100 a tick: 350 reached at the sixth tick.
		{Rate{PerMinute: 100, Base: 10, Factor: 2, RaiseAfter: 10}, 350, 5 * time.Minute},
	}
	for _, tc := range cases {
		if got := tc.rate.SendTime(tc.n); got != tc.want {
			t.Errorf("%+v.SendTime(%d) = %s, want %s", tc.rate, tc.n, got, tc.want)
		}
	}
}
