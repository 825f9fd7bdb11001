package rollout

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The simulation drives Next the way the UpdateCampaign controller does, over a seeded fleet of
// simulated devices and a fake clock that jumps from one event to the next (a device reporting, or
// RecheckAt), and checks the rollout's invariants at every step.

type deviceState int

const (
	untouched      deviceState = iota
	alreadyUpdated             // runs the target firmware before the campaign: skipped
	updating
	succeeded
	failed
	timedOut
	stopped // its remote campaign was stopped before it reported
)

type simDevice struct {
	point      uint64
	wave       int           // by the plan; -1 when maxDevices left it out
	latency    time.Duration // from being targeted to reporting
	offline    bool          // never reports
	failsUntil int32         // fails on attempts below this
	class      Class         // what its failures say
	state      deviceState
	attempt    int32
	targetedAt time.Time
}

// reportsBy says whether the updating device has reported by now.
func (d *simDevice) reportsBy(now time.Time) bool {
	return !d.offline && !now.Before(d.targetedAt.Add(d.latency))
}

type fleetProfile struct {
	devices                  int
	failRate, transientRate  float64 // failing on every attempt, or on the first only
	releaseRate              float64 // rejecting the release itself, on every attempt
	offlineRate, updatedRate float64
	maxLatency               time.Duration
	seed                     uint64
}

type simulation struct {
	t       *testing.T
	devices []*simDevice
	plan    Plan
	in      Input
	log     []string
	retries int
	// wakeAt is a time a simulated person acts at (zero: none).
	wakeAt time.Time
	// person may change the input after a None step, as people do between reconciles.
	person func(*simulation, Step) bool
	// observeStep, when set, sees every step before it is carried out.
	observeStep func(Step)
}

func newSimulation(t *testing.T, profile fleetProfile, waves []Wave, policy Policy, maxDevices int64) *simulation {
	t.Helper()
	const uid = "5c0ffee0-1d2e-4f3a-8b9c-0a1b2c3d4e5f"
	r := rand.New(rand.NewPCG(profile.seed, 99))
	s := &simulation{t: t}
	partitioner := NewPartitioner(waves, maxDevices)
	for _, id := range deviceIDs(profile.seed, profile.devices) {
		d := &simDevice{point: Point(uid, id), latency: time.Duration(1+r.IntN(int(profile.maxLatency/time.Minute))) * time.Minute, class: ClassDevice}
		switch x := r.Float64(); {
		case x >= 1-profile.releaseRate:
			d.failsUntil, d.class = math.MaxInt32, ClassRelease
		case x < profile.failRate:
			d.failsUntil = math.MaxInt32
		case x < profile.failRate+profile.transientRate:
			d.failsUntil = 1
		case x < profile.failRate+profile.transientRate+profile.offlineRate:
			d.offline = true
		case x < profile.failRate+profile.transientRate+profile.offlineRate+profile.updatedRate:
			d.state = alreadyUpdated
		}
		s.devices = append(s.devices, d)
		partitioner.Add(d.point)
	}
	plan, err := partitioner.Plan()
	if err != nil {
		t.Fatal(err)
	}
	s.plan = plan
	for _, d := range s.devices {
		d.wave = plan.WaveOf(d.point)
	}
	s.in = Input{Waves: waves, Policy: policy, Plan: plan, Progress: make([]WaveProgress, len(waves)), Approved: map[string]bool{},
		Accepted: map[string]bool{}, Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	return s
}

// run drives the rollout until it rests with nothing left to wake it, and returns the last step.
func (s *simulation) run() Step {
	s.t.Helper()
	for range 100_000 {
		s.observe()
		step, err := Next(s.in)
		if err != nil {
			s.fatalf("Next: %v", err)
		}
		s.log = append(s.log, fmt.Sprintf("%s %s wave %d: %s %s (%s)", s.in.Now.Format(time.TimeOnly), step.Action, step.Wave, step.Phase, step.Reason, step.Message))
		s.check(step)
		if s.observeStep != nil {
			s.observeStep(step)
		}
		switch step.Action {
		case StartWave:
			s.start(step.Wave)
		case FinishWave:
			s.finish(step.Wave, step.TimedOut)
		case StopWave:
			s.stop(step.Wave)
		case Advance:
			s.in.Current++
		case Complete:
			s.in.Completed = true
			return step
		case None:
			if s.person != nil && s.person(s, step) {
				continue
			}
			wake := s.nextWake(step)
			if wake.IsZero() {
				return step
			}
			s.in.Now = wake
		}
	}
	s.fatalf("the rollout did not come to rest")
	return Step{}
}

func (s *simulation) fatalf(format string, args ...any) {
	s.t.Helper()
	tail := s.log[max(len(s.log)-15, 0):]
	s.t.Fatalf(format+"\nlast steps:\n%s", append(args, strings.Join(tail, "\n"))...)
}

// observe refreshes every started wave's counts from its devices, as metrics polling does.
func (s *simulation) observe() {
	for k := range s.in.Progress {
		if !s.in.Progress[k].Started {
			continue
		}
		var c Counts
		for _, d := range s.wave(k) {
			if d.state == updating && d.reportsBy(s.in.Now) {
				d.state = succeeded
				if d.attempt < d.failsUntil {
					d.state = failed
				}
			}
			switch d.state {
			case alreadyUpdated:
				c.Skipped++
			case updating, stopped:
				c.Pending++
			case succeeded:
				c.Succeeded++
			case failed:
				c.Failed++
				c.Failures[d.class]++
			case timedOut:
				c.TimedOut++
			}
			if d.state != alreadyUpdated {
				c.Targeted++
			}
		}
		s.in.Progress[k].Counts = c
	}
}

func (s *simulation) wave(k int) []*simDevice {
	var in []*simDevice
	for _, d := range s.devices {
		if d.wave == k {
			in = append(in, d)
		}
	}
	return in
}

// start targets the devices of wave k that have not succeeded, as the controller does.
func (s *simulation) start(k int) {
	var targeted int64
	for _, d := range s.wave(k) {
		if d.state != alreadyUpdated && d.state != succeeded {
			d.state, d.attempt, d.targetedAt = updating, s.in.Attempt, s.in.Now
			targeted++
		}
	}
	if targeted > s.plan.Sizes[k] {
		s.fatalf("wave %d: %d devices targeted, %d planned", k, targeted, s.plan.Sizes[k])
	}
	s.in.Progress[k] = WaveProgress{Started: true, StartedAt: s.in.Now, Attempt: s.in.Attempt}
	s.observe()
}

func (s *simulation) finish(k int, timeout bool) {
	for _, d := range s.wave(k) {
		if timeout && d.state == updating {
			d.state = timedOut
		}
	}
	s.in.Progress[k].Finished, s.in.Progress[k].FinishedAt = true, s.in.Now
	s.observe()
	if c := s.in.Progress[k].Counts; c.Pending != 0 {
		s.fatalf("wave %d finished with %d devices pending", k, c.Pending)
	}
}

func (s *simulation) stop(k int) {
	for _, d := range s.wave(k) {
		if d.state == updating {
			d.state = stopped
		}
	}
	s.in.Progress[k].Finished, s.in.Progress[k].FinishedAt = true, s.in.Now
}

// nextWake is the next event: RecheckAt, a device of the running wave reporting, or a person.
func (s *simulation) nextWake(step Step) time.Time {
	wake := step.RecheckAt
	earlier := func(t time.Time) {
		if t.After(s.in.Now) && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	for _, d := range s.devices {
		if d.state == updating && !d.offline {
			earlier(d.targetedAt.Add(d.latency))
		}
	}
	earlier(s.wakeAt)
	return wake
}

// gate is the simulation's own judgement of a finished wave, from its devices: no class rule broken,
// failures within the campaign's and the wave's budgets, and successes reaching the threshold.
func (s *simulation) gate(k int) bool {
	var ok, failures, total float64
	for _, d := range s.wave(k) {
		total++
		switch d.state {
		case succeeded, alreadyUpdated:
			ok++
		case failed, timedOut:
			failures++
		}
	}
	if s.in.Policy.Classes[ClassRelease] != nil && s.releaseFailures(k) > 0 {
		return false
	}
	if cb := s.in.Policy.Campaign; cb != nil && float64(s.failuresSoFar()) > float64(cb.MaxFailures.Value) {
		return false
	}
	budget := math.Floor(float64(s.in.Policy.MaxFailures.Value) * float64(s.plan.Sizes[k]) / 100)
	need := math.Ceil(float64(s.in.Waves[k].SuccessThreshold.Value) * total / 100)
	return failures <= budget && ok >= need
}

// releaseFailures counts the devices of wave k that rejected the release.
func (s *simulation) releaseFailures(k int) int {
	n := 0
	for _, d := range s.wave(k) {
		if d.state == failed && d.class == ClassRelease {
			n++
		}
	}
	return n
}

// failuresSoFar counts the failed and timed-out devices of every wave.
func (s *simulation) failuresSoFar() int {
	n := 0
	for _, d := range s.devices {
		if d.state == failed || d.state == timedOut {
			n++
		}
	}
	return n
}

// check holds every step to the rollout's invariants.
func (s *simulation) check(step Step) {
	s.t.Helper()
	in, k := s.in, step.Wave
	if k != in.Current {
		s.fatalf("step about wave %d while wave %d is current", k, in.Current)
	}
	checkTimeAlone(s.t, in, step)
	running := 0
	for _, w := range in.Progress {
		if w.Started && !w.Finished {
			running++
		}
	}
	if running > 1 {
		s.fatalf("%d waves running at once", running)
	}
	waived := in.Policy.Action == HaltPause && s.releaseFailures(k) == 0 && in.Accepted[in.Waves[k].Name]
	switch step.Action {
	case StartWave:
		s.checkStart(k)
		if k > 0 && in.Policy.Classes[ClassRelease] != nil && s.releaseFailures(k-1) > 0 {
			s.fatalf("wave %d started after wave %d saw the release rejected", k, k-1)
		}
	case FinishWave:
		deadline := in.Progress[k].StartedAt.Add(in.Policy.DeviceTimeout)
		if step.TimedOut && !in.Now.Equal(deadline) {
			s.fatalf("wave %d timed out at %s, its device timeout is %s", k, in.Now, deadline)
		}
	case StopWave:
		if !in.Abort && in.Policy.Action != HaltAbort && s.releaseFailures(k) == 0 {
			s.fatalf("wave %d stopped with neither an abort, the Abort policy nor a rejected release", k)
		}
	case Advance, Complete:
		if !s.gate(k) && !waived {
			s.fatalf("moving past wave %d, which did not pass and was not accepted", k)
		}
		if s.gate(k) != (step.WavePhase == WaveSucceeded) {
			s.fatalf("moving past wave %d as %s, though its gate says passed=%v", k, step.WavePhase, s.gate(k))
		}
		soakEnd := in.Progress[k].FinishedAt.Add(in.Waves[k].Soak)
		if in.Now.Before(soakEnd) || (in.Waves[k].Soak > 0 && !in.Paused && !in.Now.Equal(soakEnd)) {
			s.fatalf("moving past wave %d at %s, its soak ends at %s", k, in.Now, soakEnd)
		}
	case None:
		if step.Phase == PhasePaused && step.Reason != ReasonPausedBySpec && in.Progress[k].Finished && s.gate(k) {
			s.fatalf("wave %d paused by failures it does not have", k)
		}
	}
}

func (s *simulation) checkStart(k int) {
	in := s.in
	if in.Paused || in.Abort {
		s.fatalf("wave %d started while paused or aborted", k)
	}
	if w := in.Progress[k]; w.Started {
		if !w.Finished || in.Attempt <= w.Attempt {
			s.fatalf("wave %d started again without a retry", k)
		}
		s.retries++
		return
	}
	if in.Waves[k].Manual && !in.Approved[in.Waves[k].Name] {
		s.fatalf("Manual wave %d started without approval", k)
	}
	if k > 0 && !in.Progress[k-1].Finished {
		s.fatalf("wave %d started before wave %d finished", k, k-1)
	}
}

// targetedOutside counts devices ever sent the update outside waves up to last (or outside every wave).
func (s *simulation) targetedOutside(last int) int {
	n := 0
	for _, d := range s.devices {
		if d.state != untouched && d.state != alreadyUpdated && (d.wave < 0 || d.wave > last) {
			n++
		}
	}
	return n
}

func simWaves() []Wave {
	return []Wave{
		{Name: "canary", Size: Percent(1), SuccessThreshold: Percent(90), Soak: time.Hour},
		{Name: "early", Size: Percent(10), SuccessThreshold: Percent(95), Soak: 30 * time.Minute, Manual: true},
		{Name: "half", Size: Percent(50), SuccessThreshold: Percent(95), Soak: 10 * time.Minute},
		{Name: "rest", Size: Percent(100), SuccessThreshold: Percent(95)},
	}
}

// simPolicy is the failure policy with the controller's default class rule: a rejected release fails
// the campaign.
func simPolicy(abort bool) Policy {
	p := Policy{MaxFailures: Percent(5), MinDevices: 10, DeviceTimeout: 2 * time.Hour}
	if abort {
		p.Action = HaltAbort
	}
	p.Classes[ClassRelease] = &ReleaseRule
	return p
}

func healthyFleet(seed uint64) fleetProfile {
	return fleetProfile{devices: 5000, failRate: 0.004, offlineRate: 0.002, updatedRate: 0.01, maxLatency: 90 * time.Minute, seed: seed}
}

// approveWaiting is a person who approves every wave that waits for approval.
func approveWaiting(s *simulation, step Step) bool {
	if step.Phase != PhaseWaitingForApproval && step.WavePhase != WaveWaitingForApproval {
		return false
	}
	s.in.Approved[s.in.Waves[step.Wave].Name] = true
	return true
}

func TestSimulationHealthyFleetCompletes(t *testing.T) {
	for seed := range uint64(3) {
		s := newSimulation(t, healthyFleet(seed), simWaves(), simPolicy(false), 0)
		s.person = approveWaiting
		if last := s.run(); last.Action != Complete || last.Phase != PhaseCompleted {
			s.fatalf("seed %d: ended %+v", seed, last)
		}
		for _, d := range s.devices {
			want := succeeded
			switch {
			case d.state == alreadyUpdated:
				continue
			case d.failsUntil > 0:
				want = failed
			case d.offline:
				want = timedOut
			}
			if d.state != want {
				s.fatalf("seed %d: a device ended %d, want %d (offline %v, fails %v)", seed, d.state, want, d.offline, d.failsUntil > 0)
			}
		}
	}
}

func TestSimulationBadFirmwareHalts(t *testing.T) {
	bad := fleetProfile{devices: 5000, failRate: 0.3, maxLatency: 90 * time.Minute, seed: 7}
	for _, abort := range []bool{false, true} {
		s := newSimulation(t, bad, simWaves(), simPolicy(abort), 0)
		s.person = approveWaiting
		last := s.run()
		want := map[bool]Phase{false: PhasePaused, true: PhaseFailed}[abort]
		if last.Phase != want || last.Wave != 0 || last.Reason != ReasonFailureBudgetExceeded {
			s.fatalf("abort %v: ended %+v, want %s at the canary", abort, last, want)
		}
		if n := s.targetedOutside(0); n != 0 {
			s.fatalf("abort %v: %d devices beyond the canary were sent the update", abort, n)
		}
		stoppedDevices := 0
		for _, d := range s.wave(0) {
			if d.state == stopped {
				stoppedDevices++
			}
		}
		if abort != (stoppedDevices > 0) {
			s.fatalf("abort %v: %d canary devices stopped before reporting", abort, stoppedDevices)
		}
	}
}

func TestSimulationOfflineDevicesTimeOut(t *testing.T) {
	profile := fleetProfile{devices: 5000, offlineRate: 0.03, maxLatency: 60 * time.Minute, seed: 3}
	s := newSimulation(t, profile, simWaves(), simPolicy(false), 0)
	s.person = approveWaiting
	if last := s.run(); last.Action != Complete {
		s.fatalf("ended %+v", last)
	}
	for _, d := range s.devices {
		if d.offline && d.state != timedOut {
			s.fatalf("an offline device ended %d, not timed out", d.state)
		}
	}
}

func TestSimulationRetryRecoversTransientFailures(t *testing.T) {
	profile := fleetProfile{devices: 5000, transientRate: 0.08, maxLatency: 90 * time.Minute, seed: 4}
	s := newSimulation(t, profile, simWaves(), simPolicy(true), 0)
	s.person = func(s *simulation, step Step) bool {
		if approveWaiting(s, step) {
			return true
		}
		if step.Phase == PhaseFailed && s.in.Attempt == s.in.Progress[step.Wave].Attempt {
			s.in.Attempt++ // kubectl fleetwave retry
			return true
		}
		return false
	}
	if last := s.run(); last.Action != Complete {
		s.fatalf("ended %+v", last)
	}
	if s.retries == 0 {
		s.fatalf("no wave was retried")
	}
}

// TestSimulationWaivedGates has a person accept the result of every wave the failures pause: once
// the wave finished, or at once while its devices still update. Either way the rollout goes on past
// every wave, the last one too, and completes.
func TestSimulationWaivedGates(t *testing.T) {
	profile := fleetProfile{devices: 5000, failRate: 0.08, maxLatency: 90 * time.Minute, seed: 5}
	for _, early := range []bool{false, true} {
		s := newSimulation(t, profile, simWaves(), simPolicy(false), 0)
		acceptances, whileRunning := 0, 0
		s.person = func(s *simulation, step Step) bool {
			if approveWaiting(s, step) {
				return true
			}
			name := s.in.Waves[step.Wave].Name
			if step.Phase != PhasePaused || step.Reason == ReasonPausedBySpec || s.in.Accepted[name] {
				return false
			}
			running := !s.in.Progress[step.Wave].Finished
			if running && !early {
				return false // the person waits for the wave to finish
			}
			s.in.Accepted[name] = true
			acceptances++
			if running {
				whileRunning++
			}
			return true
		}
		last := s.run()
		if last.Action != Complete || last.WavePhase != WaveFailed {
			s.fatalf("early %v: ended %+v, want the accepted last wave to complete the campaign", early, last)
		}
		if acceptances != len(s.in.Waves) {
			s.fatalf("early %v: %d acceptances, want one per wave", early, acceptances)
		}
		if early != (whileRunning > 0) {
			s.fatalf("early %v: %d acceptances while a wave ran", early, whileRunning)
		}
	}
}

// TestSimulationApprovalAheadWaivesNothing approves every Manual wave before the rollout starts, as
// people do, over a fleet the firmware fails on: the rollout still stops at the canary.
func TestSimulationApprovalAheadWaivesNothing(t *testing.T) {
	profile := fleetProfile{devices: 5000, failRate: 0.08, maxLatency: 90 * time.Minute, seed: 5}
	s := newSimulation(t, profile, simWaves(), simPolicy(false), 0)
	for _, wave := range s.in.Waves {
		s.in.Approved[wave.Name] = true
	}
	last := s.run()
	if last.Phase != PhasePaused || last.Wave != 0 || last.WavePhase != WaveFailed {
		s.fatalf("ended %+v, want paused at the canary", last)
	}
	if n := s.targetedOutside(0); n != 0 {
		s.fatalf("%d devices beyond the canary were sent the update", n)
	}
}

func TestSimulationCappedFleet(t *testing.T) {
	s := newSimulation(t, healthyFleet(6), simWaves(), simPolicy(false), 1000)
	s.person = approveWaiting
	if last := s.run(); last.Action != Complete {
		s.fatalf("ended %+v", last)
	}
	if s.plan.FleetSize != 1000 {
		s.fatalf("planned %d devices, want 1000", s.plan.FleetSize)
	}
	if n := s.targetedOutside(len(s.in.Waves) - 1); n != 0 {
		s.fatalf("%d devices beyond maxDevices were sent the update", n)
	}
}

// TestSimulationPauseAbortAndRetry has a person pause the rollout while a wave runs, resume it hours
// later, then abort during the next wave and retry.
func TestSimulationPauseAbortAndRetry(t *testing.T) {
	s := newSimulation(t, healthyFleet(8), simWaves(), simPolicy(false), 0)
	var pausedAt, resumedAt time.Time
	aborted, retried := false, false
	s.person = func(s *simulation, step Step) bool {
		switch {
		case approveWaiting(s, step):
		case step.Wave == 1 && step.Phase == PhaseProgressing && pausedAt.IsZero():
			s.in.Paused, pausedAt = true, s.in.Now
			s.wakeAt = s.in.Now.Add(6 * time.Hour)
		case s.in.Paused && !s.in.Now.Before(s.wakeAt):
			s.in.Paused, resumedAt, s.wakeAt = false, s.in.Now, time.Time{}
		case step.Wave == 2 && step.Phase == PhaseProgressing && !aborted:
			s.in.Abort, aborted = true, true
		case step.Phase == PhaseAborted && !retried:
			s.in.Abort, s.in.Attempt, retried = false, s.in.Attempt+1, true
		default:
			return false
		}
		return true
	}
	if last := s.run(); last.Action != Complete {
		s.fatalf("ended %+v", last)
	}
	if pausedAt.IsZero() || resumedAt.IsZero() || !aborted || s.retries != 1 {
		s.fatalf("the person's script did not run: paused %s, resumed %s, aborted %v, retries %d", pausedAt, resumedAt, aborted, s.retries)
	}
	if started := s.in.Progress[2].StartedAt; started.Before(resumedAt) {
		s.fatalf("wave 2 last started at %s, before the rollout resumed at %s", started, resumedAt)
	}
}
