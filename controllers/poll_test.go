package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// countingService is the real client, counting the reads a poll makes of each remote campaign.
type countingService struct {
	pelion.UpdateService
	mu    sync.Mutex
	reads map[string]int // by "operation/remote campaign id"
}

func newCountingService() *countingService {
	return &countingService{UpdateService: service.client, reads: map[string]int{}}
}

func (s *countingService) count(op, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[op+"/"+id]++
}

// readsOf is how many times op was called for the remote campaign id.
func (s *countingService) readsOf(op, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[op+"/"+id]
}

func (s *countingService) CampaignMetrics(ctx context.Context, id string) (*pelion.CampaignMetrics, error) {
	s.count(pelion.OpCampaignMetrics, id)
	return s.UpdateService.CampaignMetrics(ctx, id)
}

func (s *countingService) CampaignEventTypes(ctx context.Context, id, summary string) ([]pelion.EventType, error) {
	s.count(pelion.OpCampaignEventTypes, id)
	return s.UpdateService.CampaignEventTypes(ctx, id, summary)
}

func (s *countingService) ListCampaignDevices(ctx context.Context, id string, opts pelion.ListOptions) (*pelion.Page[pelion.CampaignDeviceMetadata], error) {
	s.count(pelion.OpListCampaignDevices, id)
	return s.UpdateService.ListCampaignDevices(ctx, id, opts)
}

// splitByPhase parts the campaign's remote campaigns into the one still running (its chunk holds the
// offline device) and those finished.
func splitByPhase(t *testing.T, uc *v1.UpdateCampaign) (running sim.CampaignRecord, finished []sim.CampaignRecord) {
	t.Helper()
	var active []sim.CampaignRecord
	for _, rc := range remoteCampaignsOf(uc) {
		if rc.Phase.Finished() {
			finished = append(finished, rc)
		} else {
			active = append(active, rc)
		}
	}
	if len(active) != 1 || len(finished) == 0 {
		t.Fatalf("%d remote campaigns running and %d finished, want the offline device's running and the others finished", len(active), len(finished))
	}
	return active[0], finished
}

// waitPolls waits until the running remote campaign's metrics were read n more times: n more polls.
func waitPolls(t *testing.T, counter *countingService, running sim.CampaignRecord, n int) {
	t.Helper()
	from := counter.readsOf(pelion.OpCampaignMetrics, running.ID)
	eventually(t, fmt.Sprintf("%d more polls", n), func() (bool, string) {
		got := counter.readsOf(pelion.OpCampaignMetrics, running.ID) - from
		return got >= n, fmt.Sprintf("%d polls", got)
	})
}

// waitWave waits until the campaign's first wave satisfies cond.
func waitWave(t *testing.T, uc *v1.UpdateCampaign, what string, cond func(v1.WaveStatus) bool) {
	t.Helper()
	eventually(t, what, func() (bool, string) {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(uc), uc); err != nil || len(uc.Status.Waves) == 0 {
			return false, fmt.Sprintf("not reconciled yet (%v)", err)
		}
		w := uc.Status.Waves[0]
		return cond(w), fmt.Sprintf("wave counts %+v", w.DeviceCounts)
	})
}

func TestFinishedRemoteCampaignsAreReadOnce(t *testing.T) {
	ns := newNamespace(t)
	// The offline device keeps its chunk's remote campaign, and so the wave, running and polled.
	f := newFleet(t, ns, devices{count: 20}, devices{count: 1, offline: true})
	counter := newCountingService()
	op := startOperator(t, ns, operatorOptions{service: staticService{counter}})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	create(t, uc)

	waitWave(t, uc, "20 devices updated", func(w v1.WaveStatus) bool { return w.Succeeded == 20 })
	running, finished := splitByPhase(t, uc)
	waitPolls(t, counter, running, 2) // every finished remote campaign was read since it finished
	readsBefore := make([]int, len(finished))
	for i, rc := range finished {
		readsBefore[i] = counter.readsOf(pelion.OpCampaignMetrics, rc.ID)
	}
	waitPolls(t, counter, running, 4)
	for i, rc := range finished {
		if got := counter.readsOf(pelion.OpCampaignMetrics, rc.ID); got != readsBefore[i] {
			t.Errorf("finished remote campaign %s: metrics read %d more times over four polls, want none", rc.Name, got-readsBefore[i])
		}
	}

	// A restarted operator remembers nothing: its first poll reads each finished campaign once more,
	// and the counts stay right.
	op.stop()
	startOperator(t, ns, operatorOptions{service: staticService{counter}})
	waitPolls(t, counter, running, 3)
	for i, rc := range finished {
		if got := counter.readsOf(pelion.OpCampaignMetrics, rc.ID); got != readsBefore[i]+1 {
			t.Errorf("finished remote campaign %s: metrics read %d times after the restart, want once", rc.Name, got-readsBefore[i])
		}
	}
	waitWave(t, uc, "the counts after the restart", func(w v1.WaveStatus) bool {
		return w.Targeted == 21 && w.Succeeded == 20 && w.Pending == 1 && w.Failed == 0
	})
}

func TestFinishedRemoteCampaignsAreCheckedUntilNoSuccessWaitsForConfirmation(t *testing.T) {
	ns := newNamespace(t)
	// Every device but the offline one reports success and boots back into its old image: the
	// finished remote campaign's successes wait for the directory until confirmTimeout.
	f := newFleet(t, ns, devices{count: 10, failure: sim.FailureRevert}, devices{count: 1, offline: true})
	counter := newCountingService()
	startOperator(t, ns, operatorOptions{service: staticService{counter}})
	publishedManifest(t, ns, f)
	uc := campaign(ns, wave("all", percent("100%")))
	uc.Spec.Confirmation = &v1.Confirmation{ConfirmTimeout: &metav1.Duration{Duration: 3 * time.Second}}
	uc.Spec.FailurePolicy = v1.FailurePolicy{MaxFailures: ptrTo(count(20)), Action: v1.FailureActionPause}
	create(t, uc)

	waitWave(t, uc, "10 successes unconfirmed", func(w v1.WaveStatus) bool {
		return w.Failed == 10 && w.Failures != nil && w.Failures.Unconfirmed == 10 && w.Pending == 1
	})
	running, finished := splitByPhase(t, uc)
	waitPolls(t, counter, running, 2)
	readsBefore := make([]int, len(finished))
	for i, rc := range finished {
		readsBefore[i] = counter.readsOf(pelion.OpListCampaignDevices, rc.ID)
		if readsBefore[i] < 2 {
			t.Errorf("finished remote campaign %s: device records read %d times, want them checked while its successes waited", rc.Name, readsBefore[i])
		}
	}
	waitPolls(t, counter, running, 4)
	for i, rc := range finished {
		if got := counter.readsOf(pelion.OpListCampaignDevices, rc.ID); got != readsBefore[i] {
			t.Errorf("finished remote campaign %s: device records read %d more times once nothing waited, want none", rc.Name, got-readsBefore[i])
		}
	}
}
