package rollout

import (
	"strings"
	"testing"
	"time"
)

func TestClassOfEvent(t *testing.T) {
	cases := []struct {
		event string
		want  Class
	}{
		{"UPD4_FAIL_210", ClassRelease}, // invalid signature
		{"upd4_fail_210", ClassRelease}, // the service's ids are lower case
		{"UPD4_FAIL_215", ClassRelease}, // wrong vendor
		{"UPD4_FAIL_216", ClassRelease}, // wrong class
		{"UPD4_FAIL_221", ClassRelease}, // rollback protection
		{"UPD4_FAIL_218", ClassRelease}, // invalid manifest format
		{"UPD4_FAIL_200", ClassRelease}, // manifest validation, nonspecific
		{"UPD4_FAIL_229", ClassRelease}, // wrong delta precursor
		{"UPD4_FAIL_309", ClassRelease}, // payload integrity
		{"UPD4_FAIL_307", ClassRelease}, // invalid resource URI
		{"UPD4_FAIL_102", ClassRelease}, // nonspecific validity error
		{"UPD4_FAIL_101", ClassNetwork},
		{"UPD4_FAIL_202", ClassNetwork}, // manifest fetch timed out
		{"UPD4_FAIL_303", ClassNetwork}, // payload fetch timed out
		{"UPD4_FAIL_304", ClassNetwork},
		{"UPD4_FAIL_225", ClassDevice}, // insufficient storage
		{"UPD4_FAIL_503", ClassDevice}, // write failure
		{"UPD4_FAIL_505", ClassDevice}, // activation failure
		{"UPD4_FAIL_103", ClassDevice},
		{"UPD4_FAIL_300", ClassUnknown}, // nonspecific fetcher error
		{"UPD4_FAIL_312", ClassUnknown}, // user defined
		{"UPD4_FAIL_999", ClassUnknown},
		{"UPD4_FAIL_x", ClassUnknown},
		{"UPD2_FAIL_7", ClassRelease},
		{"UPD2_FAIL_15", ClassNetwork},
		{"UPD2_FAIL_2", ClassUnknown},
		{"SYS_103", ClassUnknown},
		{"", ClassUnknown},
	}
	for _, tc := range cases {
		if got := ClassOfEvent(tc.event); got != tc.want {
			t.Errorf("ClassOfEvent(%q) = %s, want %s", tc.event, got, tc.want)
		}
	}
}

func TestClassNamesRoundTrip(t *testing.T) {
	for c := range NumClasses {
		got, ok := ParseClass(c.String())
		if !ok || got != c {
			t.Errorf("ParseClass(%q) = %v, %v", c.String(), got, ok)
		}
	}
	if _, ok := ParseClass("release"); ok {
		t.Error("ParseClass accepted a name in the wrong case")
	}
	if got := Class(9).String(); got != "Class(9)" {
		t.Errorf("Class(9) = %q", got)
	}
}

// withFailures is counts of a wave of 100 devices with failed devices of one class.
func withFailures(class Class, failed, pending int64) Counts {
	c := Counts{Failed: failed, Pending: pending, Succeeded: 100 - failed - pending}
	c.Failures[class] = failed
	return c
}

func TestNextFailureClasses(t *testing.T) {
	releaseAbort := func(in *Input) {
		in.Plan.Sizes[0] = 100
		in.Policy.Classes[ClassRelease] = &ReleaseRule
	}
	failedStop := Step{Action: StopWave, Phase: PhaseFailed, WavePhase: WaveFailed, Reason: ReasonFailureClassExceeded}
	runGate(t, []gateCase{
		{"one release failure stops the wave under the Pause policy", func(in *Input) {
			releaseAbort(in)
			in.running(withFailures(ClassRelease, 1, 90), t0.Add(time.Minute))
		}, failedStop},
		{"a release failure is judged before MinDevices finished devices", func(in *Input) {
			releaseAbort(in)
			in.Policy.MinDevices = 50
			in.running(withFailures(ClassRelease, 1, 98), t0.Add(time.Minute))
		}, failedStop},
		{"network failures within the budget go on", func(in *Input) {
			releaseAbort(in)
			in.running(withFailures(ClassNetwork, 3, 90), t0.Add(time.Minute))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: deadline}},
		{"without a rule, a release failure counts against the budget only", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.running(withFailures(ClassRelease, 1, 90), t0.Add(time.Minute))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: deadline}},
		{"a class rule with Pause pauses", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.Policy.Classes[ClassUnconfirmed] = &ClassRule{MaxFailures: Count(2), Action: HaltPause}
			in.running(withFailures(ClassUnconfirmed, 3, 80), t0.Add(time.Minute))
		}, Step{Action: None, Phase: PhasePaused, WavePhase: WaveProgressing, Reason: ReasonFailureClassExceeded, RecheckAt: deadline}},
		{"a percentage class rule waits for MinDevices", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.Policy.MinDevices = 20
			in.Policy.Classes[ClassDevice] = &ClassRule{MaxFailures: Percent(2), Action: HaltAbort}
			in.running(withFailures(ClassDevice, 3, 90), t0.Add(time.Minute))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: deadline}},
		{"RollForward stops the wave and asks for the roll-forward", func(in *Input) {
			in.Plan.Sizes[0] = 100
			in.Policy.Classes[ClassRelease] = &ClassRule{MaxFailures: Count(0), Action: HaltRollForward}
			in.running(withFailures(ClassRelease, 1, 90), t0.Add(time.Minute))
		}, Step{Action: StopWave, Phase: PhaseFailed, WavePhase: WaveFailed, Reason: ReasonFailureClassExceeded, RollForward: true}},
		{"a finished wave with a release failure stays failed, also when accepted", func(in *Input) {
			in.Policy.Classes[ClassRelease] = &ReleaseRule
			in.finishedWith(0, withFailures(ClassRelease, 1, 0), t0.Add(2*time.Hour))
			in.Accepted["canary"] = true
		}, Step{Action: None, Phase: PhaseFailed, WavePhase: WaveFailed, Reason: ReasonFailureClassExceeded}},
	})
}

func TestNextCampaignBudget(t *testing.T) {
	// Waves 0 and 1 passed with 4 failures each, within their own 10% budgets.
	earlier := func(in *Input, c Counts) {
		in.Policy.Campaign = &CampaignBudget{MaxFailures: Count(10), MinDevices: 0}
		in.Approved["early"] = true
		in.finishedWith(2, c, t0)
		in.Progress[0].Counts = Counts{Succeeded: 6, Failed: 4}
		in.Progress[1].Counts = Counts{Succeeded: 96, Failed: 4}
	}
	runGate(t, []gateCase{
		{"the campaign budget trips across waves", func(in *Input) {
			earlier(in, Counts{Succeeded: 497, Failed: 3})
		}, Step{Action: None, Wave: 2, Phase: PhasePaused, WavePhase: WaveFailed, Reason: ReasonCampaignBudgetExceeded}},
		{"within the campaign budget the rollout goes on", func(in *Input) {
			earlier(in, Counts{Succeeded: 498, Failed: 2})
		}, Step{Action: Advance, Wave: 2, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"a percentage campaign budget is of the waves started so far", func(in *Input) {
			earlier(in, Counts{Succeeded: 497, Failed: 3})
			in.Policy.Campaign.MaxFailures = Percent(2) // 2% of 610 is 12
		}, Step{Action: Advance, Wave: 2, Phase: PhaseProgressing, WavePhase: WaveSucceeded, Reason: ReasonWaveInProgress}},
		{"a percentage campaign budget waits for its own minimum sample", func(in *Input) {
			in.Policy.Campaign = &CampaignBudget{MaxFailures: Percent(1), MinDevices: 50}
			in.Plan.Sizes[0] = 100
			in.running(withFailures(ClassNetwork, 5, 60), t0.Add(time.Minute))
		}, Step{Action: None, Phase: PhaseProgressing, WavePhase: WaveProgressing, Reason: ReasonWaveInProgress, RecheckAt: deadline}},
	})
}

func TestNextBreachMessagesNameTheRule(t *testing.T) {
	in := gateInput()
	in.Plan.Sizes[0] = 100
	in.Policy.Classes[ClassRelease] = &ReleaseRule
	in.running(withFailures(ClassRelease, 2, 90), t0.Add(time.Minute))
	step, _ := Next(in)
	for _, want := range []string{"2 devices failed with class Release", "failurePolicy.classes[Release] Abort", "stopping"} {
		if !strings.Contains(step.Message, want) {
			t.Errorf("message %q does not say %q", step.Message, want)
		}
	}
}

func TestSimulationRejectedReleaseFailsBeforeTheNextWave(t *testing.T) {
	profile := healthyFleet(5)
	profile.releaseRate = 0.05
	for _, abort := range []bool{false, true} {
		s := newSimulation(t, profile, simWaves(), simPolicy(abort), 0)
		s.person = approveWaiting
		rejecting := 0
		for _, d := range s.wave(0) {
			if d.class == ClassRelease {
				rejecting++
			}
		}
		if rejecting == 0 {
			t.Fatal("the fleet has no device in the canary that rejects the release; pick another seed")
		}
		last := s.run()
		if last.Phase != PhaseFailed || last.Wave != 0 || last.Reason != ReasonFailureClassExceeded {
			s.fatalf("abort %v: ended %+v, want Failed at the canary", abort, last)
		}
		if n := s.targetedOutside(0); n != 0 {
			s.fatalf("abort %v: %d devices beyond the canary were sent the update", abort, n)
		}
	}
}

func TestSimulationCampaignBudgetTripsAcrossWaves(t *testing.T) {
	// 3% of devices fail: within each wave's 5% budget, over the campaign's 100 devices by wave "half".
	profile := fleetProfile{devices: 5000, failRate: 0.03, maxLatency: 60 * time.Minute, seed: 4}
	policy := simPolicy(false)
	policy.Campaign = &CampaignBudget{MaxFailures: Count(100), MinDevices: 10}
	s := newSimulation(t, profile, simWaves(), policy, 0)
	s.person = approveWaiting
	last := s.run()
	if last.Phase != PhasePaused || last.Reason != ReasonCampaignBudgetExceeded || last.Wave < 2 {
		s.fatalf("ended %+v, want paused by the campaign budget in a later wave", last)
	}
	if n := s.failuresSoFar(); n <= 100 {
		s.fatalf("paused with %d failures, within the campaign budget", n)
	}
	if n := s.targetedOutside(last.Wave); n != 0 {
		s.fatalf("%d devices beyond wave %d were sent the update", n, last.Wave)
	}
}
