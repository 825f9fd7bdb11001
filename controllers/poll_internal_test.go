package controllers

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

func TestPollWaitDoublesUpToTheCapWithJitter(t *testing.T) {
	const every = 10 * time.Second
	cases := []struct {
		quiet int
		u     float64
		want  time.Duration
	}{
		{0, 0.5, every},
		{1, 0.5, 2 * every},
		{2, 0.5, 4 * every},
		{3, 0.5, 8 * every},
		{4, 0.5, 8 * every}, // capped at maxPollBackoff intervals
		{1000, 0.5, 8 * every},
		{0, 0, 8 * time.Second},  // -20%
		{3, 0, 64 * time.Second}, // the jitter spreads the capped wait too
		{0, 0.75, 11 * time.Second},
	}
	for _, tc := range cases {
		if got := pollWait(every, tc.quiet, tc.u); got != tc.want {
			t.Errorf("pollWait(%v, %d, %v) = %v, want %v", every, tc.quiet, tc.u, got, tc.want)
		}
	}
	// Just under 1 draws just under +20%, never more.
	if got := pollWait(every, 0, 0.999999); got >= 12*time.Second || got < 11*time.Second {
		t.Errorf("pollWait with u near 1 = %v, want just under 12s", got)
	}
}

// pollingCampaign is a campaign with one wave updating devices, as a reconcile leaves it.
func pollingCampaign(now time.Time) *v1.UpdateCampaign {
	started := metav1.NewTime(now)
	uc := &v1.UpdateCampaign{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "uid-1", Generation: 1}}
	uc.Status.Phase = v1.CampaignProgressing
	uc.Status.Waves = []v1.WaveStatus{{Name: "all", Phase: v1.WaveProgressing, StartedAt: &started, RemoteCampaigns: 1,
		DeviceCounts: v1.DeviceCounts{Targeted: 10, Pending: 10}}}
	uc.Status.Totals = uc.Status.Waves[0].DeviceCounts
	return uc
}

func TestNextLookBacksOffWhileNothingChangesAndKeepsRechecksExact(t *testing.T) {
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r := &UpdateCampaignReconciler{Clock: clock, PollInterval: 10 * time.Second}
	r.polls.jitter = func() float64 { return 0.5 } // no jitter: the waits are exact
	uc := pollingCampaign(clock.Now())
	watching := rollout.Step{Phase: rollout.PhaseProgressing}

	for i, want := range []time.Duration{10, 20, 40, 80, 80, 80} {
		if got := r.nextLook(uc, watching, rollout.Rate{}); got != want*time.Second {
			t.Fatalf("quiet reconcile %d: next look in %v, want %v", i, got, want*time.Second)
		}
		clock.SetTime(clock.Now().Add(want * time.Second))
	}
	// A device reports: the next poll comes one interval later again, and the wait doubles anew.
	uc.Status.Totals.Pending, uc.Status.Totals.Succeeded = 9, 1
	for i, want := range []time.Duration{10, 20} {
		if got := r.nextLook(uc, watching, rollout.Rate{}); got != want*time.Second {
			t.Fatalf("reconcile %d after a change: next look in %v, want %v", i, got, want*time.Second)
		}
	}
	// The planner's recheck (a device timeout, a soak's end) is kept to the second, backoff or not.
	step := rollout.Step{Phase: rollout.PhaseProgressing, RecheckAt: clock.Now().Add(7 * time.Second)}
	if got := r.nextLook(uc, step, rollout.Rate{}); got != 7*time.Second {
		t.Errorf("next look %v, want the recheck in 7s", got)
	}
	// A campaign that ended is forgotten: nothing of it stays in memory.
	uc.Status.Phase = v1.CampaignCompleted
	r.nextLook(uc, rollout.Step{Phase: rollout.PhaseCompleted}, rollout.Rate{})
	if n := len(r.polls.campaigns); n != 0 {
		t.Errorf("the poll book holds %d campaigns after the only one completed", n)
	}
}

func TestJitterSpreadsCampaignsThatPollTogether(t *testing.T) {
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r := &UpdateCampaignReconciler{Clock: clock, PollInterval: 10 * time.Second}
	seen := map[time.Duration]bool{}
	for i := range 50 {
		uc := pollingCampaign(clock.Now())
		uc.UID = types.UID(fmt.Sprintf("uid-%d", i))
		wait := r.nextLook(uc, rollout.Step{Phase: rollout.PhaseProgressing}, rollout.Rate{})
		if wait < 8*time.Second || wait >= 12*time.Second {
			t.Fatalf("next look %v, want within ±20%% of the 10s poll interval", wait)
		}
		seen[wait] = true
	}
	if len(seen) < 40 {
		t.Errorf("50 campaigns polled at %d distinct times, want them spread", len(seen))
	}
}

func TestPollBookForgetsOutcomesOnSpecChangesAndIdleCampaigns(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var b pollBook
	uc := pollingCampaign(now)
	b.of(uc, now).keep("remote-1", remoteOutcome{succeeded: 10})
	if got, ok := b.of(uc, now).outcome("remote-1"); !ok || got.succeeded != 10 {
		t.Fatalf("outcome %+v, %v: want the kept one", got, ok)
	}
	// A new spec may count outcomes otherwise (spec.confirmation): they are read again.
	uc.Generation++
	if _, ok := b.of(uc, now).outcome("remote-1"); ok {
		t.Error("an outcome outlived a spec change")
	}
	b.of(uc, now).keep("remote-1", remoteOutcome{succeeded: 10})
	other := pollingCampaign(now)
	other.UID = "uid-2"
	b.of(other, now.Add(pollBookIdle/2))
	// An hour on, the campaign nobody asked about since (deleted, say) is dropped; the other stays.
	b.of(other, now.Add(pollBookIdle+time.Minute))
	if _, ok := b.campaigns[uc.UID]; ok {
		t.Error("an idle campaign was kept past pollBookIdle")
	}
	if _, ok := b.campaigns[other.UID]; !ok {
		t.Error("a campaign in use was dropped")
	}
	// Without a book entry (deletion's remote campaigns), nothing is remembered and nothing fails.
	var none *campaignPolls
	none.keep("remote-1", remoteOutcome{})
	if _, ok := none.outcome("remote-1"); ok {
		t.Error("a nil entry remembered an outcome")
	}
}
