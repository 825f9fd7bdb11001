package main

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

const (
	testUID    = "5f0c3a52-7d1e-4c41-9e0b-2a7d7c1e9f10"
	testDigest = "aa11"
	oldDigest  = "bb22"
)

var completedAt = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture is a clean two-wave rollout: wave 0 in one chunk, wave 1 in two, one device of wave 1
// failed, everything else updated; status and ledger agree.
type fixture struct {
	waves [2][]string // device ids by wave
	plan  *v1.CampaignPlan
}

func newFixture() fixture {
	var f fixture
	half := uint64(rollout.MaxPoint / 2)
	f.plan = &v1.CampaignPlan{FleetSize: 12, WaveSizes: []int64{6, 6},
		Bounds: []string{strconv.FormatUint(half, 10), strconv.FormatUint(^uint64(0), 10)}}
	for i := 0; len(f.waves[0]) < 6 || len(f.waves[1]) < 6; i++ {
		id := fmt.Sprintf("%032x", 0xd000+i)
		k := 0
		if rollout.Point(testUID, id) >= half {
			k = 1
		}
		if len(f.waves[k]) < 6 {
			f.waves[k] = append(f.waves[k], id)
		}
	}
	return f
}

func remoteName(suffix string) string { return "chaos/main@" + testUID + "/" + suffix }

// campaign is a stopped remote campaign pinning ids, each reaching the outcome given by state.
func campaign(suffix string, ids []string, state func(id string) (string, string)) LedgerCampaign {
	c := LedgerCampaign{ID: "id-" + suffix, Name: remoteName(suffix), Phase: pelion.PhaseStopped,
		DeviceFilter: pelion.Filter{}.In("id", ids...).String(), Starts: []time.Time{completedAt.Add(-time.Hour)}}
	for _, id := range ids {
		st, ev := state(id)
		c.Targets = append(c.Targets, LedgerTarget{DeviceID: id, DeploymentState: st, EventType: ev})
	}
	return c
}

func deployed(string) (string, string) { return pelion.DeploymentDeployed, "UPD4_OK_100" }

func (f fixture) failedID() string { return f.waves[1][4] }

func (f fixture) outcome(id string) (string, string) {
	if id == f.failedID() {
		return pelion.DeploymentFailedConnectorChannelUpdate, "UPD4_FAIL_309"
	}
	return deployed(id)
}

func (f fixture) input() Input {
	l := &Ledger{Campaigns: []LedgerCampaign{
		campaign("w0.a0.c0", f.waves[0], f.outcome),
		campaign("w1.a0.c0", f.waves[1][:3], f.outcome),
		campaign("w1.a0.c1", f.waves[1][3:], f.outcome),
	}}
	for _, c := range l.Campaigns {
		l.Creates = append(l.Creates, LedgerCreate{Kind: kindUpdateCampaign, ID: c.ID, Name: c.Name})
	}
	done := metav1.NewTime(completedAt)
	st := &v1.UpdateCampaignStatus{Phase: v1.CampaignCompleted, CompletedAt: &done, Plan: f.plan,
		Waves: []v1.WaveStatus{
			{Name: "canary", DeviceCounts: v1.DeviceCounts{Targeted: 6, Succeeded: 6}},
			{Name: "rest", DeviceCounts: v1.DeviceCounts{Targeted: 6, Succeeded: 5, Failed: 1}},
		},
		Totals: v1.DeviceCounts{Targeted: 12, Succeeded: 11, Failed: 1},
	}
	var fleet []FleetDevice
	for _, ids := range f.waves {
		for _, id := range ids {
			sum := testDigest
			if id == f.failedID() {
				sum = oldDigest
			}
			fleet = append(fleet, FleetDevice{ID: id, FirmwareChecksum: sum, JoinedAt: completedAt.Add(-time.Hour)})
		}
	}
	return Input{Ledger: l, Campaigns: []CampaignCase{{Label: "main", UID: testUID, Expect: ExpectCompleted,
		Plan: f.plan, Status: st, Fleet: fleet, TargetDigest: testDigest}}}
}

// addRemote appends a remote campaign and its create to the ledger.
func addRemote(in *Input, c LedgerCampaign) {
	in.Ledger.Campaigns = append(in.Ledger.Campaigns, c)
	in.Ledger.Creates = append(in.Ledger.Creates, LedgerCreate{Kind: kindUpdateCampaign, ID: c.ID, Name: c.Name})
}

// unknownDevice is an id that is in no campaign of the fixture.
func unknownDevice(f fixture, wave int) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%032x", 0xe000+i)
		plan, _ := planOf(f.plan)
		if plan.WaveOf(rollout.Point(testUID, id)) == wave {
			return id
		}
	}
}

// checkCase is one change to the clean fixture and the violations it must cause.
type checkCase struct {
	name   string
	change func(*Input)
	want   map[string]int // violations by invariant; every other invariant must hold
}

func mainCase(in *Input) *CampaignCase { return &in.Campaigns[0] }

// structureCases break names, pins, waves, coverage and endings.
func structureCases(f fixture) []checkCase {
	main := mainCase
	return []checkCase{
		{name: "clean rollout", change: func(*Input) {}},
		{name: "a name created twice", want: map[string]int{InvUniqueNames: 1}, change: func(in *Input) {
			in.Ledger.Creates = append(in.Ledger.Creates, in.Ledger.Creates[0])
		}},
		{name: "a device pinned by two chunks of one attempt", want: map[string]int{InvSinglePin: 1, InvCounts: 4},
			change: func(in *Input) {
				addRemote(in, campaign("w1.a0.c1.f1", f.waves[1][5:], deployed))
			}},
		{name: "the same device in two attempts is a retry, not a duplicate", change: func(in *Input) {
			addRemote(in, campaign("w1.a1.c0", []string{f.failedID()}, deployed))
			st := main(in).Status
			st.Waves[1] = v1.WaveStatus{Name: "rest", Attempt: 1, DeviceCounts: v1.DeviceCounts{Targeted: 1, Succeeded: 1}}
			st.Totals = v1.DeviceCounts{Targeted: 7, Succeeded: 7}
			main(in).Fleet[11].FirmwareChecksum = testDigest
		}},
		{name: "a device pinned in the wrong wave", want: map[string]int{InvWave: 1, InvSinglePin: 1, InvCounts: 4},
			change: func(in *Input) {
				addRemote(in, campaign("w0.a0.c1", f.waves[1][:1], deployed))
			}},
		{name: "a fleet device never sent", want: map[string]int{InvCoverage: 1}, change: func(in *Input) {
			main(in).Fleet = append(main(in).Fleet, FleetDevice{ID: unknownDevice(f, 1), FirmwareChecksum: oldDigest})
		}},
		{name: "a fleet device already running the update needs no campaign", change: func(in *Input) {
			main(in).Fleet = append(main(in).Fleet, FleetDevice{ID: unknownDevice(f, 1), FirmwareChecksum: testDigest})
		}},
		{name: "a device that joined after completion is not expected", change: func(in *Input) {
			main(in).Fleet = append(main(in).Fleet, FleetDevice{ID: unknownDevice(f, 0), FirmwareChecksum: oldDigest,
				JoinedAt: completedAt.Add(2 * time.Second)})
		}},
		{name: "joining within the second of completion still counts", want: map[string]int{InvCoverage: 1},
			change: func(in *Input) {
				main(in).Fleet = append(main(in).Fleet, FleetDevice{ID: unknownDevice(f, 0), FirmwareChecksum: oldDigest,
					JoinedAt: completedAt.Add(500 * time.Millisecond)})
			}},
		{name: "a device reached only by the attempt a retry superseded", want: map[string]int{InvCoverage: 1},
			change: func(in *Input) {
				st := main(in).Status
				st.Waves[1] = v1.WaveStatus{Name: "rest", Attempt: 1}
				st.Totals = st.Waves[0].DeviceCounts
			}},
		{name: "not completed", want: map[string]int{InvEnded: 1}, change: func(in *Input) {
			main(in).Status.Phase = v1.CampaignPaused
		}},
		{name: "coverage is claimed only by a completed campaign", want: map[string]int{InvEnded: 1}, change: func(in *Input) {
			main(in).Status.Phase = v1.CampaignProgressing
			main(in).Fleet = append(main(in).Fleet, FleetDevice{ID: unknownDevice(f, 1), FirmwareChecksum: oldDigest})
		}},
		{name: "a remote campaign still active", want: map[string]int{InvStopped: 1}, change: func(in *Input) {
			in.Ledger.Campaigns[1].Phase = pelion.PhaseActive
		}},
		{name: "a draft deleted before it started counts for nothing", want: map[string]int{InvUniqueNames: 1, InvSinglePin: 3},
			change: func(in *Input) {
				at := completedAt
				draft := campaign("w1.a0.c0", f.waves[1][:3], deployed)
				draft.ID, draft.Targets, draft.Starts, draft.Phase, draft.DeletedAt = "draft", nil, nil, pelion.PhaseDraft, &at
				addRemote(in, draft)
			}},
		{name: "a deleted remote campaign is finished", change: func(in *Input) {
			at := completedAt
			in.Ledger.Campaigns[1].Phase = pelion.PhaseDraft
			in.Ledger.Campaigns[1].DeletedAt = &at
		}},
		{name: "an unreadable name", want: map[string]int{InvReadable: 1}, change: func(in *Input) {
			addRemote(in, LedgerCampaign{ID: "x", Name: remoteName("wave1-chunk0"), Phase: pelion.PhaseStopped,
				DeviceFilter: "id__in=" + f.waves[1][0]})
		}},
		{name: "a filter that pins no ids", want: map[string]int{InvReadable: 1}, change: func(in *Input) {
			addRemote(in, LedgerCampaign{ID: "x", Name: remoteName("w1.a0.c9"), Phase: pelion.PhaseStopped,
				DeviceFilter: "custom_attributes__region__eq=eu-west"})
		}},
	}
}

// countCases break the agreement between status counts and the ledger.
func countCases(f fixture) []checkCase {
	main := mainCase
	return []checkCase{
		{name: "status counts one success too many", want: map[string]int{InvCounts: 2}, change: func(in *Input) {
			st := main(in).Status
			st.Waves[1].Succeeded++
			st.Totals.Succeeded++
		}},
		{name: "deregistered and already-installed targets are skipped", change: func(in *Input) {
			c := &in.Ledger.Campaigns[0]
			c.Targets[0].DeploymentState = pelion.DeploymentDeregistered
			c.Targets[0].EventType = ""
			c.Targets[1].EventType = eventAlreadyInstalled
			st := main(in).Status
			st.Waves[0].Succeeded, st.Waves[0].Skipped = 4, 2
			st.Totals.Succeeded, st.Totals.Skipped = 9, 2
			main(in).Fleet = main(in).Fleet[1:] // the deregistered device left the fleet
		}},
		{name: "a pinned device gone before the start was left out: skipped", change: func(in *Input) {
			c := &in.Ledger.Campaigns[0]
			c.Targets = c.Targets[1:]
			st := main(in).Status
			st.Waves[0].Succeeded, st.Waves[0].Skipped = 5, 1
			st.Totals.Succeeded, st.Totals.Skipped = 10, 1
			main(in).Fleet = main(in).Fleet[1:]
		}},
		{name: "a pinned device left out but counted timed out", want: map[string]int{InvCounts: 4}, change: func(in *Input) {
			c := &in.Ledger.Campaigns[0]
			c.Targets = c.Targets[1:]
			st := main(in).Status
			st.Waves[0].Succeeded, st.Waves[0].TimedOut = 5, 1
			st.Totals.Succeeded, st.Totals.TimedOut = 10, 1
			main(in).Fleet = main(in).Fleet[1:]
		}},
		{name: "a campaign never started keeps its devices pending", want: map[string]int{InvStopped: 1, InvEnded: 1}, change: func(in *Input) {
			c := &in.Ledger.Campaigns[0]
			c.Targets, c.Starts, c.Phase = nil, nil, pelion.PhaseDraft
			st := main(in).Status
			st.Waves[0].Succeeded, st.Waves[0].Pending = 0, 6
			st.Totals.Succeeded, st.Totals.Pending = 5, 6
			for i := range main(in).Fleet[:6] {
				main(in).Fleet[i].FirmwareChecksum = oldDigest
			}
			main(in).Status.Phase = v1.CampaignProgressing
		}},
		{name: "already updated devices are skipped without a campaign", change: func(in *Input) {
			st := main(in).Status
			st.Waves[0].AlreadyUpdated, st.Waves[0].Skipped = 3, 3
			st.Totals.Skipped = 3
		}},
		{name: "a wave that did not start has a remote campaign", want: map[string]int{InvCounts: 4}, change: func(in *Input) {
			c := main(in)
			var top uint64
			for _, id := range f.waves[1] {
				top = max(top, rollout.Point(testUID, id))
			}
			c.Plan.Bounds = []string{f.plan.Bounds[0], strconv.FormatUint(top+1, 10), f.plan.Bounds[1]}
			c.Status.Waves = append(c.Status.Waves, v1.WaveStatus{Name: "late", Phase: v1.WavePending})
			plan, _ := planOf(c.Plan)
			id := ""
			for i := 0; id == ""; i++ {
				if cand := fmt.Sprintf("%032x", 0xf000+i); plan.WaveOf(rollout.Point(testUID, cand)) == 2 {
					id = cand
				}
			}
			// Created, never started: the device is pinned but not reached (targeted and pending
			// by the ledger, absent from the status).
			addRemote(in, LedgerCampaign{ID: "late", Name: remoteName("w2.a0.c0"), Phase: pelion.PhaseStopped,
				DeviceFilter: pelion.Filter{}.In("id", id).String()})
		}},
	}
}

func TestCheck(t *testing.T) {
	f := newFixture()
	for _, tt := range append(structureCases(f), countCases(f)...) {
		t.Run(tt.name, func(t *testing.T) {
			in := newFixture().input()
			tt.change(&in)
			got := map[string]int{}
			for _, r := range Check(in) {
				got[r.Invariant] += r.Violations
				if r.Violations > 0 {
					t.Logf("%s: %v", r.Invariant, r.Examples)
				}
			}
			for inv, n := range got {
				if n != tt.want[inv] {
					t.Errorf("%s: %d violations, want %d", inv, n, tt.want[inv])
				}
			}
			for inv, n := range tt.want {
				if _, ok := got[inv]; !ok && n > 0 {
					t.Errorf("%s: not checked, want %d violations", inv, n)
				}
			}
		})
	}
}

func TestCheckDeletedAndAborted(t *testing.T) {
	f := newFixture()
	stopped := func(*Input) {}
	tests := []struct {
		name   string
		change func(*Input)
		gone   bool
		want   map[string]int
	}{
		{name: "deleted, every remote campaign stopped", gone: true, change: stopped},
		{name: "the object outlived its deletion", change: stopped, want: map[string]int{InvEnded: 1}},
		{name: "a remote campaign left in draft", gone: true, want: map[string]int{InvStopped: 1}, change: func(in *Input) {
			in.Ledger.Campaigns[2].Phase = pelion.PhaseDraft
		}},
		{name: "a remote campaign still stopping", gone: true, want: map[string]int{InvStopped: 1}, change: func(in *Input) {
			in.Ledger.Campaigns[0].Phase = pelion.PhaseStopping
		}},
		{name: "abort left attempt 0 running", gone: true, want: map[string]int{InvStopped + " after abort (attempt 0)": 1},
			change: func(in *Input) {
				snapshot := *in.Ledger
				snapshot.Campaigns = append([]LedgerCampaign(nil), in.Ledger.Campaigns...)
				snapshot.Campaigns[1].Phase = pelion.PhaseActive
				in.Stops = []StopCheck{{Label: "main", UID: testUID, Attempt: 0, Ledger: &snapshot}}
			}},
		{name: "abort check ignores later attempts", gone: true, change: func(in *Input) {
			snapshot := &Ledger{Campaigns: []LedgerCampaign{campaign("w1.a1.c0", f.waves[1][:1], deployed)}}
			snapshot.Campaigns[0].Phase = pelion.PhaseActive
			in.Stops = []StopCheck{{Label: "main", UID: testUID, Attempt: 0, Ledger: snapshot}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := f.input()
			in.Campaigns[0] = CampaignCase{Label: "main", UID: testUID, Expect: ExpectDeleted, Plan: f.plan, Gone: tt.gone}
			tt.change(&in)
			got := map[string]int{}
			for _, r := range Check(in) {
				got[r.Invariant] += r.Violations
				if _, ok := tt.want[r.Invariant]; !ok && r.Violations > 0 {
					t.Errorf("%s: %d unexpected violations: %v", r.Invariant, r.Violations, r.Examples)
				}
			}
			for inv, n := range tt.want {
				if got[inv] != n {
					t.Errorf("%s: %d violations, want %d", inv, got[inv], n)
				}
			}
		})
	}
}
