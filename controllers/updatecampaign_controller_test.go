package controllers_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// fleet is a set of simulated devices of a device class of the test's own, so campaigns in different
// tests never see each other's devices.
type fleet struct {
	model string
	ids   []string
}

type devices struct {
	count   int
	offline bool
	// distrust: the devices trust another key, so they refuse the manifest (signature failure).
	distrust   bool
	attributes map[string]string
	failure    string // a sim.Failure* mode the devices meet in every campaign
}

func newFleet(t *testing.T, ns string, groups ...devices) *fleet {
	t.Helper()
	return newFleetIn(t, service.sim, ns, groups...)
}

// newFleetIn adds the fleet to a simulator of the test's choosing.
func newFleetIn(t *testing.T, s *sim.Server, ns string, groups ...devices) *fleet {
	t.Helper()
	f := &fleet{model: "thermostat-" + ns}
	vendor, _ := manifest.VendorIDFromDomain(vendorDomain)
	class, _ := manifest.ClassIDFromModel(vendor, f.model)
	installed, _ := manifest.EncodeVersion("1.0.0")
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, g := range groups {
		trusted := []crypto.PublicKey{ecKey.Public()}
		if g.distrust {
			trusted = []crypto.PublicKey{stranger.Public()}
		}
		ids, err := s.AddDevices(sim.DeviceSpec{Count: g.count, VendorID: vendor, ClassID: class,
			InstalledVersion: installed, TrustedKeys: trusted, Offline: g.offline, Attributes: g.attributes, Failure: g.failure})
		if err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, ids...)
	}
	return f
}

// publishedManifest creates an image, a key and a Manifest for the fleet's class, and waits until the
// Manifest is Ready.
func publishedManifest(t *testing.T, ns string, f *fleet) *v1.Manifest {
	t.Helper()
	cm, img := readyImageObjects(ns, 70)
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
	mf.Spec.DeviceClass.ModelName = f.model
	create(t, cm, img, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), mf)
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	return mf
}

func campaign(ns string, waves ...v1.Wave) *v1.UpdateCampaign {
	return &v1.UpdateCampaign{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rollout"},
		Spec: v1.UpdateCampaignSpec{
			ManifestRef: v1.LocalObjectReference{Name: "fw-1.1.0"},
			Waves:       waves,
		},
	}
}

func wave(name string, size intstr.IntOrString) v1.Wave {
	return v1.Wave{Name: name, Size: size}
}

var (
	count   = intstr.FromInt32
	percent = intstr.FromString
)

// waitPhase waits for the campaign to reach phase.
func waitPhase(t *testing.T, uc *v1.UpdateCampaign, phase v1.CampaignPhase) {
	t.Helper()
	eventually(t, fmt.Sprintf("campaign %s in phase %s", uc.Name, phase), func() (bool, string) {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc); err != nil {
			return false, err.Error()
		}
		c := ""
		if ready := findCondition(uc.Status.Conditions, v1.ConditionReady); ready != nil {
			c = ready.Reason + ": " + ready.Message
		}
		return uc.Status.Phase == phase, fmt.Sprintf("phase %q, wave %s, Ready %s", uc.Status.Phase, uc.Status.Progress, c)
	})
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// remoteCampaignsOf returns the ledger's records of the campaign's remote campaigns.
func remoteCampaignsOf(uc *v1.UpdateCampaign) []sim.CampaignRecord {
	return remoteCampaignsIn(service.sim, uc)
}

// remoteCampaignsIn returns a simulator's ledger records of the campaign's remote campaigns.
func remoteCampaignsIn(s *sim.Server, uc *v1.UpdateCampaign) []sim.CampaignRecord {
	prefix := controllers.RemoteName(uc, "/")
	var out []sim.CampaignRecord
	for _, c := range s.Ledger().Campaigns {
		if strings.HasPrefix(c.Name, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// checkEachDeviceTargetedOnce asserts the invariant that matters most to a fleet: no device was
// sent the update by two remote campaigns, and no remote campaign name was created twice.
func checkEachDeviceTargetedOnce(t *testing.T, uc *v1.UpdateCampaign) map[string]int {
	t.Helper()
	seen := map[string]int{}
	names := map[string]int{}
	for _, c := range remoteCampaignsOf(uc) {
		names[c.Name]++
		for _, target := range c.Targets {
			seen[target.DeviceID]++
		}
	}
	for name, n := range names {
		if n > 1 {
			t.Errorf("remote campaign %s created %d times", name, n)
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("device %s targeted by %d remote campaigns", id, n)
		}
	}
	return seen
}

func TestCampaignRollsOutWaveByWave(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 60})
	startOperator(t, ns, operatorOptions{})
	mf := publishedManifest(t, ns, f)
	uc := campaign(ns, wave("canary", count(5)), wave("early", percent("25%")), wave("rest", percent("100%")))
	create(t, uc)
	if mf.Status.ManifestID == "" {
		t.Fatal("manifest not published")
	}

	waitPhase(t, uc, v1.CampaignCompleted)
	if got := kstatusOf(t, uc); got != status.CurrentStatus {
		t.Errorf("kstatus %s, want Current", got)
	}
	st := uc.Status
	if st.Plan == nil || st.Plan.FleetSize != 60 || !slices.Equal(st.Plan.WaveSizes, []int64{5, 15, 40}) {
		t.Fatalf("plan %+v, want fleet 60 in waves 5, 15, 40", st.Plan)
	}
	for i, w := range st.Waves {
		if w.Phase != v1.WaveSucceeded || w.Targeted != st.Plan.WaveSizes[i] || w.Succeeded != w.Targeted || w.StartedAt == nil || w.FinishedAt == nil {
			t.Errorf("wave %s: %+v", w.Name, w)
		}
		if i > 0 && w.StartedAt.Before(st.Waves[i-1].FinishedAt) {
			t.Errorf("wave %s started before wave %s finished", w.Name, st.Waves[i-1].Name)
		}
	}
	if st.Totals.Succeeded != 60 || st.Totals.Targeted != 60 || st.Progress != "3/3" {
		t.Errorf("totals %+v progress %s", st.Totals, st.Progress)
	}
	seen := checkEachDeviceTargetedOnce(t, uc)
	if len(seen) != 60 {
		t.Errorf("%d devices targeted, want 60", len(seen))
	}
	for _, id := range f.ids {
		dev, _ := service.sim.Device(id)
		if want, _ := manifest.EncodeVersion("1.1.0"); dev.InstalledVersion != want {
			t.Errorf("device %s runs %x after the campaign", id, dev.InstalledVersion)
		}
	}
	// At most 10 devices per remote campaign in tests: 5 → 1, 15 → 2 or more, 40 → 4 or more.
	for _, rc := range remoteCampaignsOf(uc) {
		if n := len(rc.Targets); n > 10 {
			t.Errorf("remote campaign %s pins %d devices, more than 10", rc.Name, n)
		}
	}
	if n := len(remoteCampaignsOf(uc)); n < 7 {
		t.Errorf("%d remote campaigns, want at least 7", n)
	}
	waitEvent(t, uc, "UpdateCampaign", corev1.EventTypeNormal, v1.EventWaveStarted)
	waitEvent(t, uc, "UpdateCampaign", corev1.EventTypeNormal, v1.ReasonCompleted)
}

func TestManualWaveWaitsForApproval(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 20})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	rest := wave("rest", percent("100%"))
	rest.Approval = v1.ApprovalManual
	uc := campaign(ns, wave("canary", count(4)), rest)
	create(t, uc)

	waitPhase(t, uc, v1.CampaignWaitingForApproval)
	if c := findCondition(uc.Status.Conditions, v1.ConditionPaused); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Paused condition %+v, want True", c)
	}
	if uc.Status.Waves[0].Phase != v1.WaveSucceeded || uc.Status.Waves[1].StartedAt != nil {
		t.Fatalf("waves before approval: %+v", uc.Status.Waves)
	}
	// Approval is written to the status subresource, as `kubectl fleetwave approve` does.
	patch := client.MergeFrom(uc.DeepCopy())
	uc.Status.ApprovedWaves = []string{"rest"}
	if err := env.Client.Status().Patch(context.Background(), uc, patch); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, uc, v1.CampaignCompleted)
	if !slices.Equal(uc.Status.ApprovedWaves, []string{"rest"}) {
		t.Errorf("the controller clobbered the approval: %v", uc.Status.ApprovedWaves)
	}
	checkEachDeviceTargetedOnce(t, uc)
}

func TestFailureBudgetPausesUntilAPersonAcceptsTheWave(t *testing.T) {
	ns := newNamespace(t)
	// Every device refuses the manifest (it trusts another key), so the canary fails for certain.
	f := newFleet(t, ns, devices{count: 10, distrust: true})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("canary", count(3)), wave("rest", percent("100%")))
	uc.Spec.FailurePolicy = v1.FailurePolicy{MaxFailures: ptrTo(count(0)), MinDevices: 1, Action: v1.FailureActionPause,
		Classes: releaseCountsAgainstTheBudget}
	create(t, uc)

	waitPhase(t, uc, v1.CampaignPaused)
	ready := findCondition(uc.Status.Conditions, v1.ConditionReady)
	if ready == nil || (ready.Reason != v1.ReasonFailureBudgetExceeded && ready.Reason != v1.ReasonSuccessThresholdNotMet) {
		t.Fatalf("Ready %+v, want a failure reason", ready)
	}
	if uc.Status.Waves[1].StartedAt != nil {
		t.Fatal("the next wave started although the failure budget was spent")
	}
	if got := kstatusOf(t, uc); got != status.InProgressStatus {
		t.Errorf("kstatus of a paused campaign %s, want InProgress", got)
	}
	waitEvent(t, uc, "UpdateCampaign", corev1.EventTypeWarning, ready.Reason)

	// Approving the next wave is not accepting the failures of this one.
	before := reconciles(t, "updatecampaign")
	patch := client.MergeFrom(uc.DeepCopy())
	uc.Status.ApprovedWaves = []string{"rest"}
	if err := env.Client.Status().Patch(context.Background(), uc, patch); err != nil {
		t.Fatal(err)
	}
	waitReconciled(t, "updatecampaign", before)
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc); err != nil {
		t.Fatal(err)
	}
	if uc.Status.Phase != v1.CampaignPaused || uc.Status.Waves[1].StartedAt != nil {
		t.Fatalf("approving the next wave waived the canary's failures: phase %s, waves %+v", uc.Status.Phase, uc.Status.Waves)
	}

	// A person looks, accepts the canary's failures and lets the rollout go on.
	patch = client.MergeFrom(uc.DeepCopy())
	uc.Status.AcceptedWaves = []string{"canary"}
	if err := env.Client.Status().Patch(context.Background(), uc, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the next wave starts", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc)
		return uc.Status.Waves[1].StartedAt != nil, string(uc.Status.Phase)
	})
	checkEachDeviceTargetedOnce(t, uc)
}

// releaseCountsAgainstTheBudget waives the default rule that a rejected release fails the campaign at
// once, so that devices refusing the manifest exercise the ordinary budget.
var releaseCountsAgainstTheBudget = []v1.FailureClassRule{{Class: v1.FailureClassRelease, MaxFailures: percent("100%")}}

func TestFailureBudgetWithAbortFails(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 10, distrust: true})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("canary", count(5)), wave("rest", percent("100%")))
	uc.Spec.FailurePolicy = v1.FailurePolicy{MaxFailures: ptrTo(count(0)), MinDevices: 1, Action: v1.FailureActionAbort,
		Classes: releaseCountsAgainstTheBudget}
	create(t, uc)

	waitPhase(t, uc, v1.CampaignFailed)
	if got := kstatusOf(t, uc); got != status.FailedStatus {
		t.Errorf("kstatus %s, want Failed", got)
	}
	if uc.Status.Waves[1].StartedAt != nil {
		t.Error("a wave started after the campaign failed")
	}
}

func TestAbortStopsTheRunningWave(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 8, offline: true})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("canary", count(4)), wave("rest", percent("100%")))
	create(t, uc)

	waitPhase(t, uc, v1.CampaignProgressing)
	eventually(t, "the canary's remote campaign is active", func() (bool, string) {
		rcs := remoteCampaignsOf(uc)
		return len(rcs) == 1 && rcs[0].Phase.Running(), fmt.Sprintf("%+v", rcs)
	})
	patch := client.MergeFrom(uc.DeepCopy())
	uc.Status.Abort = true
	if err := env.Client.Status().Patch(context.Background(), uc, patch); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, uc, v1.CampaignAborted)
	eventually(t, "the remote campaign stops", func() (bool, string) {
		rcs := remoteCampaignsOf(uc)
		return len(rcs) == 1 && !rcs[0].Phase.Running(), fmt.Sprintf("%+v", rcs)
	})
	if got := kstatusOf(t, uc); got != status.FailedStatus {
		t.Errorf("kstatus of an aborted campaign %s, want Failed", got)
	}
}

func TestDeviceTimeoutFinishesTheWave(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 6}, devices{count: 2, offline: true})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	uc.Spec.DeviceTimeout = &metav1.Duration{Duration: 2 * time.Second}
	uc.Spec.FailurePolicy = v1.FailurePolicy{MaxFailures: ptrTo(count(2)), MinDevices: 1, Action: v1.FailureActionPause}
	uc.Spec.Waves[0].SuccessThreshold = ptrTo(percent("75%"))
	create(t, uc)

	waitPhase(t, uc, v1.CampaignCompleted)
	w := uc.Status.Waves[0]
	if w.Succeeded != 6 || w.TimedOut != 2 || w.Pending != 0 {
		t.Errorf("wave counts %+v, want 6 succeeded and 2 timed out", w.DeviceCounts)
	}
	if got := w.FinishedAt.Sub(w.StartedAt.Time); got < 2*time.Second {
		t.Errorf("the wave finished %v after it started, before the 2s device timeout", got)
	}
}

func TestSpecPausedHoldsTheNextWave(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 10})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("canary", count(2)), wave("rest", percent("100%")))
	uc.Spec.Paused = true
	create(t, uc)

	waitPhase(t, uc, v1.CampaignPaused)
	if uc.Status.Waves[0].StartedAt != nil {
		t.Fatal("a paused campaign started a wave")
	}
	uc.Spec.Paused = false
	if err := env.Client.Update(context.Background(), uc); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, uc, v1.CampaignCompleted)
}

func TestSoakHoldsTheNextWave(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 10})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	canary := wave("canary", count(2))
	canary.Soak = &metav1.Duration{Duration: 2 * time.Second}
	uc := campaign(ns, canary, wave("rest", percent("100%")))
	create(t, uc)

	waitPhase(t, uc, v1.CampaignSoaking)
	if uc.Status.Waves[0].SoakUntil == nil {
		t.Fatal("soaking without soakUntil")
	}
	waitPhase(t, uc, v1.CampaignCompleted)
	if got := uc.Status.Waves[1].StartedAt.Sub(uc.Status.Waves[0].FinishedAt.Time); got < 2*time.Second {
		t.Errorf("the next wave started %v after the canary finished, inside its 2s soak", got)
	}
}

func TestAlreadyUpdatedDevicesAreSkipped(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 12})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	first := campaign(ns, wave("all", percent("100%")))
	create(t, first)
	waitPhase(t, first, v1.CampaignCompleted)

	again := campaign(ns, wave("all", percent("100%")))
	again.Name = "again"
	create(t, again)
	waitPhase(t, again, v1.CampaignCompleted)
	w := again.Status.Waves[0]
	if w.AlreadyUpdated != 12 || w.Skipped != 12 || w.Targeted != 0 || len(remoteCampaignsOf(again)) != 0 {
		t.Errorf("second campaign over an updated fleet: %+v, %d remote campaigns", w, len(remoteCampaignsOf(again)))
	}
}

func TestDeletingACampaignStopsItsRunningWave(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 5, offline: true})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	create(t, uc)
	eventually(t, "the remote campaign is active", func() (bool, string) {
		rcs := remoteCampaignsOf(uc)
		return len(rcs) == 1 && rcs[0].Phase.Running(), fmt.Sprintf("%+v", rcs)
	})

	if err := env.Client.Delete(context.Background(), uc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the campaign is gone and its remote campaign stopped", func() (bool, string) {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), &v1.UpdateCampaign{})
		rcs := remoteCampaignsOf(uc)
		return apierrors.IsNotFound(err) && len(rcs) == 1 && !rcs[0].Phase.Running(), fmt.Sprintf("%v %+v", err, rcs)
	})
}

// crashAfterCampaigns stops the operator right after the n-th remote campaign was created.
type crashAfterCampaigns struct {
	pelion.UpdateService
	n       int
	created int
	cancel  context.CancelFunc
}

func (c *crashAfterCampaigns) CreateCampaign(ctx context.Context, spec pelion.CampaignCreate) (*pelion.Campaign, error) {
	got, err := c.UpdateService.CreateCampaign(ctx, spec)
	if err == nil {
		c.created++
		if c.created == c.n {
			c.cancel()
			return nil, errCrashed
		}
	}
	return got, err
}

func TestRestartWhileStartingAWaveCreatesNothingTwice(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 40})
	op := startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	op.stop()

	crash := &crashAfterCampaigns{UpdateService: service.client, n: 2}
	op = startOperator(t, ns, operatorOptions{service: staticService{crash}, onStart: func(cancel context.CancelFunc) { crash.cancel = cancel }})
	uc := campaign(ns, wave("all", percent("100%")))
	create(t, uc)
	op.waitCrashed(t) // stopped itself after the second of four remote campaigns

	startOperator(t, ns, operatorOptions{})
	waitPhase(t, uc, v1.CampaignCompleted)
	seen := checkEachDeviceTargetedOnce(t, uc)
	if len(seen) != 40 || uc.Status.Totals.Succeeded != 40 {
		t.Errorf("%d devices targeted, %d succeeded; want 40 each", len(seen), uc.Status.Totals.Succeeded)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestChangingWavesAfterTheRolloutStartedStalls(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 6, offline: true})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("canary", count(2)), wave("rest", percent("100%")))
	create(t, uc)
	eventually(t, "the canary starts", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc)
		return len(uc.Status.Waves) == 2 && uc.Status.Waves[0].StartedAt != nil, string(uc.Status.Phase)
	})

	// The operator writes status while the canary starts: edit the spec on the latest object.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc); err != nil {
			return err
		}
		uc.Spec.Waves = []v1.Wave{wave("first", count(3)), wave("then", percent("100%"))}
		return env.Client.Update(context.Background(), uc)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCondition(t, uc, v1.ConditionStalled, metav1.ConditionTrue, v1.ReasonInvalidSpec)
	if w := uc.Status.Waves[0]; w.Name != "canary" || w.StartedAt == nil || w.Targeted != 2 {
		t.Errorf("the recorded progress was lost: %+v", uc.Status.Waves)
	}
}
