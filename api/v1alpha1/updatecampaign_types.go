package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// UpdateCampaignSpec is a staged rollout of one Manifest to a fleet of devices.
type UpdateCampaignSpec struct {
	// manifestRef names the Manifest, in the same namespace, to roll out.
	// +required
	ManifestRef LocalObjectReference `json:"manifestRef"`

	// target narrows the fleet. Devices are always limited to the manifest's vendor and class.
	// +optional
	Target CampaignTarget `json:"target,omitempty"`

	// waves split the fleet into stages rolled out one after another, each gated on the success
	// of the one before. A device's wave is fixed by a hash of the campaign and device ids, so it
	// can be recomputed after any restart. The last wave must be "100%": it takes every device
	// left. Without waves the rollout goes 1%, 10%, 50% and the rest. Once the first wave has
	// started the waves are fixed: changing them stalls the campaign (reason InvalidSpec).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:default={{name: "canary", size: "1%", successThreshold: "95%", approval: "Auto"}, {name: "early", size: "10%", successThreshold: "95%", approval: "Auto"}, {name: "half", size: "50%", successThreshold: "95%", approval: "Auto"}, {name: "rest", size: "100%", successThreshold: "95%", approval: "Auto"}}
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || type(self[size(self)-1].size) == string && self[size(self)-1].size == '100%'",message="the last wave must have size \"100%\""
	// +kubebuilder:validation:XValidation:rule="self.filter(w, type(w.size) == string && w.size == '100%').size() <= 1",message="only the last wave may have size \"100%\""
	Waves []Wave `json:"waves,omitempty"`

	// failurePolicy says when failures stop the rollout and how.
	// +optional
	// +kubebuilder:default={}
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`

	// deviceTimeout is how long a device may take to report a result before it counts as
	// timed out.
	// +optional
	// +kubebuilder:default="2h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="deviceTimeout must be a positive duration such as 30m or 2h"
	DeviceTimeout *metav1.Duration `json:"deviceTimeout,omitempty"`

	// paused holds the rollout: no new wave starts and no new devices are targeted while it is
	// true. Devices already updating finish.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// confirmation, when set, counts a device as succeeded only once the device directory shows it
	// running the new payload, not as soon as it reports success.
	// +optional
	Confirmation *Confirmation `json:"confirmation,omitempty"`

	// schedule says when waves may start: not before startAfter, and only inside a maintenance window
	// when windows are given. Devices that join late or were deferred are sent the update inside the
	// schedule too. Without it, any time.
	// +optional
	Schedule *Schedule `json:"schedule,omitempty"`

	// rate limits how fast a wave sends devices the update. Without it, a wave sends all its devices
	// at once.
	// +optional
	Rate *Rate `json:"rate,omitempty"`
}

// Rate paces a wave: its devices are sent in ticks a minute apart, each at most a minute's worth, so
// remote campaigns get smaller as the rate gets lower. The gates of the wave still apply to the whole
// wave.
// +kubebuilder:validation:XValidation:rule="!has(self.ramp) || self.ramp.baseRatePerMinute <= self.maxDevicesPerMinute",message="ramp.baseRatePerMinute must not exceed maxDevicesPerMinute",fieldPath=.ramp.baseRatePerMinute
type Rate struct {
	// maxDevicesPerMinute is the most devices a wave sends the update to in a minute.
	// +required
	// +kubebuilder:validation:Minimum=1
	MaxDevicesPerMinute int32 `json:"maxDevicesPerMinute"`

	// ramp starts slower and speeds up as devices succeed, as AWS IoT Jobs' exponential rollout does.
	// +optional
	Ramp *RateRamp `json:"ramp,omitempty"`
}

// RampOrZero is the ramp, or the zero RateRamp (no ramp) without one.
func (r *Rate) RampOrZero() RateRamp {
	if r.Ramp == nil {
		return RateRamp{}
	}
	return *r.Ramp
}

// RateRamp raises a wave's rate from baseRatePerMinute by incrementFactor each time another
// raiseAfterSucceeded of its devices succeeded, up to maxDevicesPerMinute.
type RateRamp struct {
	// baseRatePerMinute is the rate a wave starts at.
	// +required
	// +kubebuilder:validation:Minimum=1
	BaseRatePerMinute int32 `json:"baseRatePerMinute"`

	// incrementFactor multiplies the rate at each raise: a decimal from 1.1 to 5, such as "2" or "1.5".
	// +required
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:Pattern=`^[0-9](\.[0-9]{1,3})?$`
	// +kubebuilder:validation:XValidation:rule="double(self) >= 1.1 && double(self) <= 5.0",message="incrementFactor must be from 1.1 to 5"
	IncrementFactor string `json:"incrementFactor"`

	// raiseAfterSucceeded is how many more devices of the wave must succeed for each raise.
	// +required
	// +kubebuilder:validation:Minimum=1
	RaiseAfterSucceeded int32 `json:"raiseAfterSucceeded"`
}

// Schedule is when a campaign may start waves and send devices the update.
type Schedule struct {
	// startAfter: no wave starts before this time (RFC 3339, such as "2026-12-24T22:00:00Z").
	// +optional
	StartAfter *metav1.Time `json:"startAfter,omitempty"`

	// windows are recurring maintenance windows: a wave starts only while one is open. Windows that
	// overlap or touch count as one.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Windows []MaintenanceWindow `json:"windows,omitempty"`

	// endBehavior is what a window's end does to a wave still running: Hold lets the devices already
	// updating finish (nothing new is sent until the next window); Stop stops the wave's remote
	// campaigns at once and counts its pending devices as timed out, so the wave's gate is judged then.
	// +optional
	// +kubebuilder:default=Hold
	EndBehavior WindowEndBehavior `json:"endBehavior,omitempty"`
}

// WindowEndBehavior is what the end of a maintenance window does to a running wave.
// +kubebuilder:validation:Enum=Hold;Stop
type WindowEndBehavior string

// Window end behaviors.
const (
	WindowEndHold WindowEndBehavior = "Hold"
	WindowEndStop WindowEndBehavior = "Stop"
)

// MaintenanceWindow opens at each time its cron expression names, in its time zone, for duration.
type MaintenanceWindow struct {
	// start is a 5-field cron expression, "minute hour day-of-month month day-of-week", such as
	// "0 1 * * MON-FRI" (01:00 on weekdays). A start at a local time that a daylight-saving change
	// skips happens once, right after the change; one that a change repeats, once, the first time.
	// +required
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^\S+( +\S+){4}$`
	Start string `json:"start"`

	// duration the window stays open, in real time, up to 168h.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('168h')",message="duration must be a positive duration of at most 168h"
	Duration metav1.Duration `json:"duration"`

	// timeZone is the IANA time zone start is read in, such as "Europe/Berlin" or "UTC".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone"`
}

// WindowStatus is what the schedule says now.
type WindowStatus struct {
	// open: a wave may start now.
	Open bool `json:"open"`
	// opensAt is when the schedule next opens, while it is closed.
	// +optional
	OpensAt *metav1.Time `json:"opensAt,omitempty"`
	// closesAt is when the schedule next closes, while it is open (unset: not within 8 days).
	// +optional
	ClosesAt *metav1.Time `json:"closesAt,omitempty"`
}

// CampaignTarget narrows which devices a campaign may reach.
// +kubebuilder:validation:XValidation:rule="!has(self.until) || (has(self.continuous) && self.continuous)",message="until ends a continuous campaign: set continuous too",fieldPath=.until
type CampaignTarget struct {
	// filter is an Update Service device filter such as
	// "custom_attributes__region__eq=eu&state__eq=registered", ANDed with the manifest's vendor
	// and class.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_]+=[^&]*(&[A-Za-z0-9_]+=[^&]*)*$`
	Filter string `json:"filter,omitempty"`

	// maxDevices caps the planned fleet; devices beyond it are left out of every wave.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxDevices *int64 `json:"maxDevices,omitempty"`

	// rolloutOf limits the fleet to the devices another UpdateCampaign, in the same namespace, took
	// into the waves it started: those it sent its release to or meant to. A roll-forward campaign
	// uses it to reach exactly the devices of a failed release.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	RolloutOf string `json:"rolloutOf,omitempty"`

	// continuous keeps the campaign going after its last wave (phase Watching): a device that joins
	// the fleet later (registers, or starts matching the filter) gets its place by the same hash; in a
	// wave still to come it simply goes with it, in a finished wave it is sent the update in a
	// follow-up chunk of that wave, under the same failure policy. Ended by deleting the campaign, or
	// by until.
	// +optional
	Continuous bool `json:"continuous,omitempty"`

	// until ends a continuous campaign: after it, the campaign completes once its last devices
	// reported.
	// +optional
	Until *metav1.Time `json:"until,omitempty"`
}

// Wave is one stage of a rollout.
type Wave struct {
	// name of the wave, unique in the campaign.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// size of the wave: a device count, or a percentage of the planned fleet. "100%" (allowed only
	// on the last wave) means every device not yet in an earlier wave.
	// +required
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="size must be a device count of at least 1 or a percentage from 1% to 100%"
	Size intstr.IntOrString `json:"size"`

	// successThreshold is how many devices of the wave must succeed for the rollout to go on: a
	// count, or a percentage of the wave from 0% to 100%.
	// +optional
	// +kubebuilder:default="95%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="successThreshold must be a device count of at least 0 or a percentage from 0% to 100%"
	SuccessThreshold *intstr.IntOrString `json:"successThreshold,omitempty"`

	// soak is how long to wait after the wave finished before the next one starts.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Soak *metav1.Duration `json:"soak,omitempty"`

	// approval says whether the wave starts on its own once the previous one passed (Auto) or
	// waits for `kubectl fleetwave approve` (Manual).
	// +optional
	// +kubebuilder:default=Auto
	Approval ApprovalMode `json:"approval,omitempty"`
}

// ApprovalMode says whether a wave needs a person's approval to start.
// +kubebuilder:validation:Enum=Auto;Manual
type ApprovalMode string

const (
	// ApprovalAuto starts the wave as soon as the previous one passed and soaked.
	ApprovalAuto ApprovalMode = "Auto"
	// ApprovalManual waits for approval before starting the wave.
	ApprovalManual ApprovalMode = "Manual"
)

// FailurePolicy says when device failures stop a rollout.
// +kubebuilder:validation:XValidation:rule="has(self.rollForward) || (!has(self.action) || self.action != 'RollForward') && (!has(self.classes) || self.classes.all(c, !has(c.action) || c.action != 'RollForward'))",message="rollForward.manifestRef is required when an action is RollForward",fieldPath=.rollForward
type FailurePolicy struct {
	// maxFailures is how many failed or timed-out devices a wave tolerates: a count, or a
	// percentage of the wave from 0% to 100%. One more and the action is taken.
	// +optional
	// +kubebuilder:default="5%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxFailures must be a device count of at least 0 or a percentage from 0% to 100%"
	MaxFailures *intstr.IntOrString `json:"maxFailures,omitempty"`

	// minDevices is how many devices of a wave must have finished before a percentage of
	// failures is judged, so one early failure does not stop a large wave.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	MinDevices int32 `json:"minDevices,omitempty"`

	// action taken when failures pass maxFailures or the campaign budget, or a wave misses its
	// success threshold: Pause holds the rollout for a person to look, Abort stops the wave's remote
	// campaigns for good, RollForward aborts and rolls the devices that took or tried the release
	// forward to rollForward.manifestRef.
	// +optional
	// +kubebuilder:default=Pause
	Action FailureAction `json:"action,omitempty"`

	// classes give failure classes rules of their own, judged before any budget. A failed device's
	// class comes from the event code it reported: Release (the device refused the release itself:
	// signature, certificate, vendor, class, version, format, digest or size), Device (storage,
	// memory, writing or activating the image), Network (fetching the manifest or payload),
	// Unconfirmed (reported success but did not come back running the new payload, see
	// spec.confirmation) and Unknown. A class without a rule counts against the budgets only, except
	// Release: without a rule of its own, the first device that rejects the release fails the
	// campaign (maxFailures 0, action Abort, or RollForward when that is failurePolicy.action), since
	// every other device would reject it too.
	// +optional
	// +listType=map
	// +listMapKey=class
	// +kubebuilder:validation:MaxItems=5
	Classes []FailureClassRule `json:"classes,omitempty"`

	// campaign is a failure budget across every wave started so far, on top of each wave's.
	// +optional
	Campaign *CampaignFailureBudget `json:"campaign,omitempty"`

	// rollForward names the known-good release the RollForward action rolls devices forward to.
	// +optional
	RollForward *RollForwardPolicy `json:"rollForward,omitempty"`
}

// FailureClass is what a device's failure says about the release.
// +kubebuilder:validation:Enum=Release;Device;Network;Unconfirmed;Unknown
type FailureClass string

// Failure classes.
const (
	FailureClassRelease     FailureClass = "Release"
	FailureClassDevice      FailureClass = "Device"
	FailureClassNetwork     FailureClass = "Network"
	FailureClassUnconfirmed FailureClass = "Unconfirmed"
	FailureClassUnknown     FailureClass = "Unknown"
)

// FailureClassRule is one failure class's own budget in each wave.
type FailureClassRule struct {
	// class the rule is about.
	// +required
	Class FailureClass `json:"class"`

	// maxFailures is how many failed devices of the class a wave tolerates: a count (judged at
	// once), or a percentage of the wave (judged from failurePolicy.minDevices finished devices on).
	// +required
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxFailures must be a device count of at least 0 or a percentage from 0% to 100%"
	MaxFailures intstr.IntOrString `json:"maxFailures"`

	// action taken when the class passes its maxFailures; failurePolicy.action when unset.
	// +optional
	Action FailureAction `json:"action,omitempty"`
}

// CampaignFailureBudget is a failure budget across waves.
type CampaignFailureBudget struct {
	// maxFailures is how many failed or timed-out devices the waves started so far tolerate
	// together: a count, or a percentage of their planned devices. One more and
	// failurePolicy.action is taken.
	// +required
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxFailures must be a device count of at least 0 or a percentage from 0% to 100%"
	MaxFailures intstr.IntOrString `json:"maxFailures"`

	// minDevices is how many devices of those waves must have finished before a percentage is
	// judged.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	MinDevices int32 `json:"minDevices,omitempty"`
}

// RollForwardPolicy is where a failed release's devices are rolled forward to.
type RollForwardPolicy struct {
	// manifestRef names a Manifest in the same namespace with a known-good payload under a version
	// higher than this campaign's (devices refuse older versions). When the policy trips, the
	// campaign stops its waves and creates an UpdateCampaign it owns, named after it with the
	// suffix "-rollforward", for this Manifest and exactly the devices of the waves it started.
	// +required
	ManifestRef LocalObjectReference `json:"manifestRef"`
}

// FailureAction is what a campaign does when a failure rule trips.
// +kubebuilder:validation:Enum=Pause;Abort;RollForward
type FailureAction string

const (
	// FailureActionPause holds the rollout until a person resumes or aborts it.
	FailureActionPause FailureAction = "Pause"
	// FailureActionAbort stops the rollout.
	FailureActionAbort FailureAction = "Abort"
	// FailureActionRollForward stops the rollout and rolls its devices forward to a known-good
	// release.
	FailureActionRollForward FailureAction = "RollForward"
)

// Confirmation makes success wait for the device directory.
type Confirmation struct {
	// confirmTimeout is how long after reporting success a device has to show in the device
	// directory running the new payload (its firmware checksum). Until then it counts as pending;
	// after it, as failed with class Unconfirmed.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="confirmTimeout must be a positive duration such as 10m"
	ConfirmTimeout *metav1.Duration `json:"confirmTimeout,omitempty"`
}

// CampaignPhase is a one-word summary of where a campaign is, derived from its conditions.
// +kubebuilder:validation:Enum=Pending;Scheduled;WaitingForApproval;Progressing;Soaking;Paused;Watching;Completed;Aborted;Failed
type CampaignPhase string

// Campaign phases. Pending: planning or waiting for the Manifest. WaitingForApproval: the next wave
// is Manual and not approved. Progressing: a wave's devices are updating. Soaking: a wave passed and
// its soak runs. Paused: held by spec.paused or the failure policy. Completed, Aborted and Failed are
// final.
const (
	CampaignPending CampaignPhase = "Pending"
	// CampaignScheduled: the next wave waits for spec.schedule (startAfter, or a maintenance window).
	CampaignScheduled          CampaignPhase = "Scheduled"
	CampaignWaitingForApproval CampaignPhase = "WaitingForApproval"
	CampaignProgressing        CampaignPhase = "Progressing"
	CampaignSoaking            CampaignPhase = "Soaking"
	CampaignPaused             CampaignPhase = "Paused"
	// CampaignWatching: every wave of a continuous campaign passed, and devices that join the fleet
	// are sent the update.
	CampaignWatching  CampaignPhase = "Watching"
	CampaignCompleted CampaignPhase = "Completed"
	CampaignAborted   CampaignPhase = "Aborted"
	CampaignFailed    CampaignPhase = "Failed"
)

// IsFinal reports whether a campaign in this phase has ended: Completed, Aborted or Failed.
func (p CampaignPhase) IsFinal() bool {
	return p == CampaignCompleted || p == CampaignAborted || p == CampaignFailed
}

// WavePhase is where one wave is.
// +kubebuilder:validation:Enum=Pending;WaitingForApproval;Starting;Progressing;Soaking;Succeeded;Failed;Aborted
type WavePhase string

// Wave phases, in the order a wave normally moves through them; Succeeded, Failed and Aborted are
// final.
const (
	WavePending            WavePhase = "Pending"
	WaveWaitingForApproval WavePhase = "WaitingForApproval"
	// WaveStarting: the wave's chunks are recorded and its remote campaigns are being created; a
	// restart finds them by name and finishes the start.
	WaveStarting    WavePhase = "Starting"
	WaveProgressing WavePhase = "Progressing"
	WaveSoaking     WavePhase = "Soaking"
	WaveSucceeded   WavePhase = "Succeeded"
	WaveFailed      WavePhase = "Failed"
	WaveAborted     WavePhase = "Aborted"
)

// DeviceCounts counts devices by outcome. Counts only: a campaign of a million devices has a status
// the same size as one of ten.
type DeviceCounts struct {
	// targeted devices: those an Update Service campaign was created for.
	// +optional
	Targeted int64 `json:"targeted,omitempty"`
	// succeeded devices reported the new firmware installed.
	// +optional
	Succeeded int64 `json:"succeeded,omitempty"`
	// failed devices reported an error.
	// +optional
	Failed int64 `json:"failed,omitempty"`
	// timedOut devices did not report within spec.deviceTimeout.
	// +optional
	TimedOut int64 `json:"timedOut,omitempty"`
	// pending devices are targeted and have not reported yet.
	// +optional
	Pending int64 `json:"pending,omitempty"`
	// skipped devices already ran the target firmware or were left out by the service.
	// +optional
	Skipped int64 `json:"skipped,omitempty"`
	// failures splits failed by class.
	// +optional
	Failures *FailureCounts `json:"failures,omitempty"`
	// deferred devices were due to be sent the update while an active campaign of someone else (another
	// UpdateCampaign, in any namespace, or a campaign made by hand) pinned them: they are sent once it
	// is done with them, and the campaign completes only then. Not counted in the other outcomes.
	// +optional
	Deferred int64 `json:"deferred,omitempty"`
	// queued devices wait for spec.rate (or a maintenance window) to be sent the update; counted in
	// none of the other outcomes.
	// +optional
	Queued int64 `json:"queued,omitempty"`
}

// Add adds o's counts to c; c's failures by class get a copy of their own.
func (c *DeviceCounts) Add(o DeviceCounts) {
	c.Targeted += o.Targeted
	c.Succeeded += o.Succeeded
	c.Failed += o.Failed
	c.TimedOut += o.TimedOut
	c.Pending += o.Pending
	c.Skipped += o.Skipped
	c.Deferred += o.Deferred
	c.Queued += o.Queued
	if o.Failures != nil {
		sum := FailureCounts{}
		if c.Failures != nil {
			sum = *c.Failures
		}
		sum.Release += o.Failures.Release
		sum.Device += o.Failures.Device
		sum.Network += o.Failures.Network
		sum.Unconfirmed += o.Failures.Unconfirmed
		sum.Unknown += o.Failures.Unknown
		c.Failures = &sum
	}
}

// FailureCounts counts failed devices by class (see spec.failurePolicy.classes).
type FailureCounts struct {
	// +optional
	Release int64 `json:"release,omitempty"`
	// +optional
	Device int64 `json:"device,omitempty"`
	// +optional
	Network int64 `json:"network,omitempty"`
	// +optional
	Unconfirmed int64 `json:"unconfirmed,omitempty"`
	// +optional
	Unknown int64 `json:"unknown,omitempty"`
}

// CampaignPlan is the fleet partition the rollout follows, fixed when the campaign starts.
type CampaignPlan struct {
	// fleetSize is the number of devices the campaign plans to reach.
	// +optional
	FleetSize int64 `json:"fleetSize,omitempty"`
	// waveSizes is the planned number of devices of each wave, in order.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	WaveSizes []int64 `json:"waveSizes,omitempty"`
	// hash identifies the spec the plan was made from; a different hash means the plan is stale.
	// +optional
	Hash string `json:"hash,omitempty"`
	// bounds are the exclusive upper ends of the waves' ranges of device points (decimal 64-bit
	// numbers): a device belongs to the wave whose range holds the hash of the campaign and device
	// ids, so membership is recomputed after any restart without per-device state.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:Pattern=`^[0-9]{1,20}$`
	Bounds []string `json:"bounds,omitempty"`
	// alreadyUpdated is, per wave, how many of its devices already ran the payload when the plan was
	// made. Counted for a campaign planned while spec.paused holds it, which is how a plan is
	// previewed (`kubectl fleetwave plan`); the waves' own alreadyUpdated count again as they start.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	AlreadyUpdated []int64 `json:"alreadyUpdated,omitempty"`
}

// WaveStatus is the progress of one wave.
type WaveStatus struct {
	// name of the wave.
	// +required
	Name string `json:"name"`
	// phase of the wave.
	// +optional
	Phase WavePhase `json:"phase,omitempty"`
	// DeviceCounts of the wave.
	DeviceCounts `json:",inline"`
	// alreadyUpdated devices of the wave already ran the target firmware when it started, so no
	// Update Service campaign was sent to them; they are counted in skipped.
	// +optional
	AlreadyUpdated int64 `json:"alreadyUpdated,omitempty"`
	// lateDevices joined the wave's range of points after its chunks were created (registered, or
	// entered spec.target.filter) and were sent the update by follow-up remote campaigns; they are
	// counted in targeted too.
	// +optional
	LateDevices int64 `json:"lateDevices,omitempty"`
	// lateSentAt is when devices that joined late were last sent the update; those still pending
	// spec.deviceTimeout after it count as timed out.
	// +optional
	LateSentAt *metav1.Time `json:"lateSentAt,omitempty"`
	// sentAt is when the wave last sent devices the update under spec.rate; the next tick is a minute
	// later, and the device timeout runs from it.
	// +optional
	SentAt *metav1.Time `json:"sentAt,omitempty"`
	// allowance is how many devices the wave's attempt may have been sent under spec.rate: the sum of
	// its ticks so far, each recorded before it sends.
	// +optional
	Allowance int64 `json:"allowance,omitempty"`
	// remoteCampaigns is how many Update Service campaigns the wave's current attempt created: one per
	// chunk that had devices to update, and one per follow-up.
	// +optional
	RemoteCampaigns int32 `json:"remoteCampaigns,omitempty"`
	// chunks records how the wave's range of device points is split into chunks of at most
	// --devices-per-remote-campaign devices, one remote campaign each (compact: bucket count and
	// cuts as varints in base64). Written before the first remote campaign of the attempt is
	// created, so a device's chunk is fixed by its point whatever the fleet does meanwhile.
	// +optional
	// +kubebuilder:validation:MaxLength=262144
	Chunks string `json:"chunks,omitempty"`
	// attempt is the retry attempt the wave last started under.
	// +optional
	Attempt int32 `json:"attempt,omitempty"`
	// startedAt is when the wave's first remote campaign started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// finishedAt is when every device of the wave had finished or timed out.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// soakUntil is when the wave's soak ends.
	// +optional
	SoakUntil *metav1.Time `json:"soakUntil,omitempty"`
}

// InterventionAction is what a person did to a running campaign.
// +kubebuilder:validation:Enum=Approve;Accept;Abort;Retry
type InterventionAction string

// Interventions, one for each status field people write.
const (
	// InterventionApprove let a Manual wave start: the wave was added to status.approvedWaves.
	InterventionApprove InterventionAction = "Approve"
	// InterventionAccept accepted the result of a wave its failures paused: the wave was added to
	// status.acceptedWaves.
	InterventionAccept InterventionAction = "Accept"
	// InterventionAbort asked the campaign to stop: status.abort was set.
	InterventionAbort InterventionAction = "Abort"
	// InterventionRetry rolled the current wave out again: status.attempt went up by one, and
	// status.abort and the wave's acceptance in status.acceptedWaves may have been withdrawn.
	InterventionRetry InterventionAction = "Retry"
)

// MaxInterventions is how many entries status.interventions holds at most.
const MaxInterventions = 100

// Intervention records one change a person made to a campaign's status: who, when, what, to which
// wave, and why.
// +kubebuilder:validation:XValidation:rule="!(self.action in ['Approve', 'Accept']) || has(self.wave)",message="wave is required for Approve and Accept",fieldPath=.wave
type Intervention struct {
	// action is what the person did: Approve (a wave added to approvedWaves), Accept (a wave added
	// to acceptedWaves), Abort (abort set) or Retry (attempt raised by one, abort cleared, and the
	// retried wave's acceptance withdrawn).
	// +required
	Action InterventionAction `json:"action"`

	// wave is the wave approved to start (Approve) or whose result was accepted (Accept), both
	// required; for Retry, the current wave, retried; for Abort, empty.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Wave string `json:"wave,omitempty"`

	// user is who made the change, exactly as the API server authenticated the request
	// (request.userInfo.username): a person's own user with kubectl fleetwave, Argo CD's service
	// account for an Argo CD action. The admission policy fleetwave-campaign-status refuses an entry
	// naming anyone else.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	User string `json:"user"`

	// time the change was made, by the clock of the client that made it.
	// +required
	Time metav1.Time `json:"time"`

	// reason the person gave, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason,omitempty"`
}

// UpdateCampaignStatus is the observed progress of a campaign.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.interventions) || has(self.interventions) && self.interventions.size() >= oldSelf.interventions.size() && self.interventions.slice(0, oldSelf.interventions.size()) == oldSelf.interventions",message="interventions is append-only: entries may be added at the end, never changed or removed",fieldPath=.interventions
type UpdateCampaignStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the campaign in one word.
	// +optional
	Phase CampaignPhase `json:"phase,omitempty"`

	// plan is the fleet partition the rollout follows.
	// +optional
	Plan *CampaignPlan `json:"plan,omitempty"`

	// currentWave is the index (from 0) of the wave being rolled out or waited on.
	// +optional
	// +kubebuilder:validation:Minimum=0
	CurrentWave int32 `json:"currentWave,omitempty"`

	// progress shows the current wave against the number of waves, such as "2/4".
	// +optional
	Progress string `json:"progress,omitempty"`

	// waves holds the progress of each wave, in spec order.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	Waves []WaveStatus `json:"waves,omitempty"`

	// totals sums the waves.
	// +optional
	Totals DeviceCounts `json:"totals,omitempty"`

	// startedAt is when the first wave started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// completedAt is when the campaign reached Completed, Aborted or Failed.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// window is what spec.schedule says now: open, or when it opens next.
	// +optional
	Window *WindowStatus `json:"window,omitempty"`

	// rolledForwardBy names the UpdateCampaign this one created to roll its devices forward to a
	// known-good release when its failure policy tripped.
	// +optional
	RolledForwardBy string `json:"rolledForwardBy,omitempty"`

	// abort is set by `kubectl fleetwave abort`, never by the controller: the campaign stops its
	// remote campaigns and ends Aborted. `kubectl fleetwave retry` clears it.
	// +optional
	Abort bool `json:"abort,omitempty"`

	// approvedWaves lists the Manual waves a person approved to start with `kubectl fleetwave
	// approve`. Written by people, never by the controller.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=63
	ApprovedWaves []string `json:"approvedWaves,omitempty"`

	// acceptedWaves lists the waves whose failed gate (failure budget spent or success threshold
	// missed, under the Pause policy) a person accepted with `kubectl fleetwave approve`, letting the
	// rollout go on. Kept apart from approvedWaves, so approving a Manual wave ahead of time never
	// waives the failures of the wave before it. Written by people, never by the controller.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=63
	AcceptedWaves []string `json:"acceptedWaves,omitempty"`

	// attempt is raised by `kubectl fleetwave retry`: the current wave is rolled out again to its
	// devices that did not succeed. Written by people, never by the controller.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempt int32 `json:"attempt,omitempty"`

	// interventions is the record, oldest first, of what people did to the campaign: every
	// approval, acceptance, abort and retry, with who did it (user), when, to which wave, and why
	// when they said. Written by people, never by the controller, in the same write as the field it
	// explains: approvedWaves, acceptedWaves, abort or attempt. Append-only: an entry, once written,
	// is never changed or removed. With the admission policy of config/policy installed, a change of
	// one of those fields without its entry is refused, and so is an entry whose user is not the
	// requester. At most 100 entries: a campaign that needs more is best replaced by a new one.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Interventions []Intervention `json:"interventions,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Progressing and Paused.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// UpdateCampaign rolls a Manifest out to a device fleet in staged waves.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fwc;campaign,categories=fleetwave
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Wave",type=string,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="Succeeded",type=integer,JSONPath=`.status.totals.succeeded`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.totals.failed`
// +kubebuilder:printcolumn:name="Targeted",type=integer,JSONPath=`.status.totals.targeted`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Manifest",type=string,JSONPath=`.spec.manifestRef.name`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type UpdateCampaign struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec UpdateCampaignSpec `json:"spec"`

	// status is written by the controller. Its schema default makes a new object read back with
	// observedGeneration 0, which kstatus (Flux, Argo CD) reports as in progress until the first
	// reconcile, instead of reporting an object nobody looked at yet as current.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status UpdateCampaignStatus `json:"status,omitempty"`
}

// UpdateCampaignList is a list of UpdateCampaigns.
//
// +kubebuilder:object:root=true
type UpdateCampaignList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UpdateCampaign `json:"items"`
}
