package controllers_test

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// checkWavesByPoint asserts that every device a remote campaign pins belongs, by its point, to the
// wave the campaign's name says, under the plan the campaign recorded.
func checkWavesByPoint(t *testing.T, uc *v1.UpdateCampaign, records []sim.CampaignRecord) {
	t.Helper()
	bounds := make([]uint64, len(uc.Status.Plan.Bounds))
	for i, b := range uc.Status.Plan.Bounds {
		bounds[i], _ = strconv.ParseUint(b, 10, 64)
	}
	plan := rollout.Plan{Bounds: bounds}
	for _, rc := range records {
		var wave int
		if _, err := fmt.Sscanf(rc.Name[strings.LastIndex(rc.Name, "/w"):], "/w%d.", &wave); err != nil {
			t.Fatalf("remote campaign name %q: %v", rc.Name, err)
		}
		f, err := pelion.ParseFilter(rc.DeviceFilter)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.Conditions() {
			if c.Field != "id" {
				continue
			}
			for _, id := range c.Values {
				if got := plan.WaveOf(rollout.Point(string(uc.UID), id)); got != wave {
					t.Errorf("device %s pinned by %s of wave %d, but its point puts it in wave %d", id, rc.Name, wave, got)
				}
			}
		}
	}
}

func TestChurnBetweenACrashAndTheResumeLosesNoDevice(t *testing.T) {
	ns := newNamespace(t)
	ring := func(r string) map[string]string { return map[string]string{"ring": r} }
	f := newFleet(t, ns, devices{count: 40, attributes: ring("a")}, devices{count: 5, attributes: ring("b")})
	op := startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	op.stop()

	crash := &crashAfterCampaigns{UpdateService: service.client, n: 2}
	op = startOperator(t, ns, operatorOptions{service: staticService{crash}, onStart: func(cancel context.CancelFunc) { crash.cancel = cancel }})
	uc := campaign(ns, wave("half", percent("50%")), wave("rest", percent("100%")))
	uc.Spec.Target.Filter = pelion.Filter{}.CustomAttribute("ring", pelion.OpEq, "a").String()
	create(t, uc)
	op.waitCrashed(t) // stopped itself right after creating the second remote campaign of the first wave

	// The fleet changes before the operator comes back: devices register, leave, and move in and out
	// of the target filter.
	joined := newFleetIn(t, service.sim, ns, devices{count: 10, attributes: ring("a")}).ids
	if err := service.sim.RemoveDevices(f.ids[0], f.ids[7], f.ids[21]); err != nil {
		t.Fatal(err)
	}
	for _, id := range f.ids[30:33] {
		if err := service.sim.SetDeviceAttributes(id, ring("b")); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range f.ids[40:42] {
		if err := service.sim.SetDeviceAttributes(id, ring("a")); err != nil {
			t.Fatal(err)
		}
	}

	startOperator(t, ns, operatorOptions{})
	waitPhase(t, uc, v1.CampaignCompleted)
	records := remoteCampaignsOf(uc)
	checkEachDeviceTargetedOnce(t, uc)
	checkWavesByPoint(t, uc, records)

	// Every device of the final fleet runs the update: none fell between chunks, none that joined
	// was left out.
	want, _ := manifest.EncodeVersion("1.1.0")
	for _, id := range append(append([]string{}, f.ids...), joined...) {
		dev, ok := service.sim.Device(id)
		if !ok || dev.Attributes["ring"] != "a" {
			continue
		}
		if dev.InstalledVersion != want {
			t.Errorf("device %s of the final fleet was never sent the update", id)
		}
	}
	st := uc.Status.Totals
	if st.Pending != 0 || st.Failed != 0 || st.Targeted != st.Succeeded+st.Skipped-alreadyUpdated(uc) {
		t.Errorf("totals %+v do not add up", st)
	}
}

func alreadyUpdated(uc *v1.UpdateCampaign) int64 {
	var n int64
	for _, w := range uc.Status.Waves {
		n += w.AlreadyUpdated
	}
	return n
}

// conflictOnFirstCreate creates the first remote campaign and then answers 409, as the service does
// when a create whose response was lost is sent again.
type conflictOnFirstCreate struct {
	pelion.UpdateService
	mu   sync.Mutex
	done bool
}

func (c *conflictOnFirstCreate) CreateCampaign(ctx context.Context, spec pelion.CampaignCreate) (*pelion.Campaign, error) {
	got, err := c.UpdateService.CreateCampaign(ctx, spec)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || c.done {
		return got, err
	}
	c.done = true
	return nil, &pelion.Error{Op: pelion.OpCreateCampaign, StatusCode: http.StatusConflict, Type: pelion.ErrTypeDuplicate,
		Message: "Conflict, a campaign with the same name already exists."}
}

func TestCreateConflictAdoptsTheExistingCampaign(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 12})
	startOperator(t, ns, operatorOptions{service: staticService{&conflictOnFirstCreate{UpdateService: service.client}}})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	create(t, uc)

	waitPhase(t, uc, v1.CampaignCompleted)
	seen := checkEachDeviceTargetedOnce(t, uc)
	if len(seen) != 12 || uc.Status.Totals.Succeeded != 12 {
		t.Errorf("%d devices targeted, %d succeeded; want 12 each", len(seen), uc.Status.Totals.Succeeded)
	}
}

// slowStoppingService is a simulator of the test's own whose remote campaigns take a while to stop,
// and a client of it.
func slowStoppingService(t *testing.T, stopDelay time.Duration) (*sim.Server, *pelion.Client) {
	t.Helper()
	vendor, _ := manifest.VendorIDFromDomain(vendorDomain)
	s, err := sim.New(sim.Config{
		APIKey: testAPIKey, VendorID: vendor, TrustedKeys: []crypto.PublicKey{ecKey.Public()},
		FinishGrace: 50 * time.Millisecond, Profile: sim.Profile{StopDelay: sim.Duration(stopDelay)},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler()) // on 127.0.0.1
	t.Cleanup(func() { srv.Close(); s.Close() })
	client, err := newServiceClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return s, client
}

func TestRetryWaitsUntilTheEarlierAttemptStopped(t *testing.T) {
	ns := newNamespace(t)
	s, sc := slowStoppingService(t, 2*time.Second)
	f := newFleetIn(t, s, ns, devices{count: 4}, devices{count: 2, offline: true})
	startOperator(t, ns, operatorOptions{service: staticService{sc}})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	uc.Spec.DeviceTimeout = &metav1.Duration{Duration: time.Second}
	create(t, uc)
	waitPhase(t, uc, v1.CampaignPaused) // 2 of 6 timed out: the 95% threshold is missed

	// Retry at once, as `kubectl fleetwave retry` does, while the first attempt's remote campaign is
	// still stopping: its offline devices must not be sent the update a second time meanwhile.
	patch := client.MergeFrom(uc.DeepCopy())
	uc.Status.Attempt = 1
	if err := env.Client.Status().Patch(context.Background(), uc, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the retry's remote campaign exists", func() (bool, string) {
		for _, rc := range remoteCampaignsIn(s, uc) {
			if strings.Contains(rc.Name, ".a1.") {
				return true, ""
			}
		}
		return false, "none yet"
	})
	stoppedAt := map[string]time.Time{}
	var retried []sim.CampaignRecord
	for _, rc := range remoteCampaignsIn(s, uc) {
		remote, err := sc.GetCampaign(context.Background(), rc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(rc.Name, ".a0.") && remote.StoppedAt != nil {
			stoppedAt[rc.Name] = *remote.StoppedAt
		} else if strings.Contains(rc.Name, ".a0.") {
			t.Errorf("first-attempt remote campaign %s is %s after the retry started", rc.Name, remote.Phase)
		} else {
			retried = append(retried, rc)
		}
	}
	for _, rc := range retried {
		for name, at := range stoppedAt {
			if rc.CreatedAt.Before(at) {
				t.Errorf("retry campaign %s created at %s, before %s stopped at %s", rc.Name, rc.CreatedAt, name, at)
			}
		}
		if len(rc.Targets) > 2 {
			t.Errorf("retry campaign %s targets %d devices; only the 2 offline ones had not succeeded", rc.Name, len(rc.Targets))
		}
	}
}

// repeatingPager answers every device listing with the same first page and has_more, as a faulty
// service might.
type repeatingPager struct{ pelion.UpdateService }

func (r repeatingPager) ListDevices(ctx context.Context, opts pelion.ListOptions) (*pelion.Page[pelion.Device], error) {
	opts.After = ""
	page, err := r.UpdateService.ListDevices(ctx, opts)
	if err == nil {
		page.HasMore = true
	}
	return page, err
}

func TestARepeatingPagerEndsInAConditionNotALoop(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 5})
	startOperator(t, ns, operatorOptions{service: staticService{repeatingPager{service.client}}})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	create(t, uc)

	waitCondition(t, uc, v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonUpdateServiceUnavailable)
	c := findCondition(uc.Status.Conditions, v1.ConditionReady)
	if c == nil || !strings.Contains(c.Message, "listing the fleet") ||
		!strings.Contains(c.Message, pelion.ErrRepeatedCursor.Error()) {
		t.Errorf("Ready %+v, want the repeated cursor named", c)
	}
	if uc.Status.Plan != nil || len(remoteCampaignsOf(uc)) != 0 {
		t.Errorf("a plan or remote campaigns from a fleet listing that never ended: %+v", uc.Status.Plan)
	}
}

func TestLateOfflineDeviceTimesOutInsteadOfHoldingTheCampaign(t *testing.T) {
	ns := newNamespace(t)
	f := newFleet(t, ns, devices{count: 6}, devices{count: 1, offline: true})
	startOperator(t, ns, operatorOptions{})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("half", percent("50%")), wave("rest", percent("100%")))
	uc.Spec.DeviceTimeout = &metav1.Duration{Duration: 2 * time.Second}
	uc.Spec.FailurePolicy = v1.FailurePolicy{MaxFailures: ptrTo(count(7)), MinDevices: 1, Action: v1.FailureActionPause}
	for i := range uc.Spec.Waves {
		uc.Spec.Waves[i].SuccessThreshold = ptrTo(percent("50%"))
	}
	create(t, uc)
	eventually(t, "the first wave starts", func() (bool, string) {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc)
		return uc.Status.Plan != nil && len(uc.Status.Waves) > 0 && uc.Status.Waves[0].StartedAt != nil, string(uc.Status.Phase)
	})

	// An offline device registers into the first wave's range while it runs: it is sent the update
	// late, never answers, and must time out rather than hold the campaign for ever.
	bounds := make([]uint64, len(uc.Status.Plan.Bounds))
	for i, b := range uc.Status.Plan.Bounds {
		bounds[i], _ = strconv.ParseUint(b, 10, 64)
	}
	plan := rollout.Plan{Bounds: bounds}
	late := ""
	for range 64 {
		id := newFleetIn(t, service.sim, ns, devices{count: 1, offline: true}).ids[0]
		if plan.WaveOf(rollout.Point(string(uc.UID), id)) == 0 {
			late = id
			break
		}
		if err := service.sim.RemoveDevices(id); err != nil {
			t.Fatal(err)
		}
	}
	if late == "" {
		t.Fatal("no device of 64 fell in the first wave's range")
	}

	waitPhase(t, uc, v1.CampaignCompleted)
	// The late device is the first wave's; the other offline device may be in either wave.
	w := uc.Status.Waves[0]
	if w.LateDevices != 1 || w.LateSentAt == nil || w.Pending != 0 || w.TimedOut < 1 || uc.Status.Totals.TimedOut != 2 {
		t.Errorf("first wave %+v, totals %+v: want the late device sent, then timed out, as the other offline one",
			w, uc.Status.Totals)
	}
	checkEachDeviceTargetedOnce(t, uc)
}
