package controllers_test

import (
	"testing"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// TestPlannerSpeaksTheAPIsTerms pins the pure planner's phases and reasons, which the controller
// writes into status as they are, to the API's: the planner may not import the API package.
func TestPlannerSpeaksTheAPIsTerms(t *testing.T) {
	pairs := []struct{ planner, api string }{
		{string(rollout.PhasePending), string(v1.CampaignPending)},
		{string(rollout.PhaseWaitingForApproval), string(v1.CampaignWaitingForApproval)},
		{string(rollout.PhaseProgressing), string(v1.CampaignProgressing)},
		{string(rollout.PhaseSoaking), string(v1.CampaignSoaking)},
		{string(rollout.PhasePaused), string(v1.CampaignPaused)},
		{string(rollout.PhaseCompleted), string(v1.CampaignCompleted)},
		{string(rollout.PhaseAborted), string(v1.CampaignAborted)},
		{string(rollout.PhaseFailed), string(v1.CampaignFailed)},
		{string(rollout.WavePending), string(v1.WavePending)},
		{string(rollout.WaveWaitingForApproval), string(v1.WaveWaitingForApproval)},
		{string(rollout.WaveProgressing), string(v1.WaveProgressing)},
		{string(rollout.WaveSoaking), string(v1.WaveSoaking)},
		{string(rollout.WaveSucceeded), string(v1.WaveSucceeded)},
		{string(rollout.WaveFailed), string(v1.WaveFailed)},
		{string(rollout.WaveAborted), string(v1.WaveAborted)},
		{rollout.ReasonWaveInProgress, v1.ReasonWaveInProgress},
		{rollout.ReasonSoaking, v1.ReasonSoaking},
		{rollout.ReasonWaitingForApproval, v1.ReasonWaitingForApproval},
		{rollout.ReasonPausedBySpec, v1.ReasonPausedBySpec},
		{rollout.ReasonFailureBudgetExceeded, v1.ReasonFailureBudgetExceeded},
		{rollout.ReasonSuccessThresholdNotMet, v1.ReasonSuccessThresholdNotMet},
		{rollout.ReasonAborted, v1.ReasonAborted},
		{rollout.ReasonCompleted, v1.ReasonCompleted},
	}
	for _, p := range pairs {
		if p.planner != p.api {
			t.Errorf("planner says %q where the API says %q", p.planner, p.api)
		}
	}
}
