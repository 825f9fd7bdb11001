package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// Reserves of time the run keeps for what follows a phase.
const (
	verifyReserve = 90 * time.Second // settling, gathering, checking, tearing down
)

// abuse rolls the campaigns out under abuse: random leader kills, kills in the create window,
// kube-apiserver restarts, fleet churn and the abort+retry and delete scenarios run together until
// their quotas are met; only then is the main campaign's Manual last wave approved, so all of it
// happens during the rollout. A little more killing and churn follows during the last wave.
func (h *harness) abuse(ctx context.Context) {
	abuseCtx, stop := context.WithCancel(ctx)
	defer stop()
	var pre, side, tail sync.WaitGroup
	h.startPreApproval(abuseCtx, &pre, &tail)
	h.startSideScenarios(abuseCtx, &side)
	tail.Add(1)
	go func() { defer tail.Done(); h.acceptFailurePauses(abuseCtx) }()

	lastWave := 2*h.o.deviceTimeout + time.Minute
	if !waitGroup(&pre, h.remaining(verifyReserve+lastWave)) {
		h.problem("the abuse before the last wave did not finish in time; approving the last wave anyway")
	}
	if err := approve(ctx, h.c, h.main.key, waveNames[len(waveNames)-1]); err != nil {
		h.problem("approving the last wave: %v", err)
	} else {
		logf("main: approved the last wave")
	}
	h.startTail(abuseCtx, &tail)

	h.awaitEnd(ctx, h.main, h.remaining(verifyReserve))
	if !waitGroup(&side, h.remaining(verifyReserve)) {
		h.problem("a side scenario did not finish in time")
	}
	h.awaitEnd(ctx, h.side[0], h.remaining(verifyReserve))
	stop()
	tail.Wait()
	pre.Wait()
}

// startPreApproval starts what must be done before the last wave is approved; the churn goes on in
// the last wave (tail).
func (h *harness) startPreApproval(ctx context.Context, wg, tail *sync.WaitGroup) {
	churn, err := newChurner(ctx, h.sim, h.tally, h.rngs["churn"], h.mf)
	if err != nil {
		h.problem("churn: listing the fleet: %v", err)
	}
	uids := []string{h.main.uid, h.side[0].uid, h.side[1].uid}
	actors := []func(){
		func() { randomKills(ctx, h.kill, h.rngs["kills"], h.o.kills, 2*time.Second, 8*time.Second) },
		func() { h.createWindowKills(ctx, uids, h.o.createKills, h.rngs["windows"]) },
		func() {
			err := apiRestarts(ctx, h, h.rngs["restarts"], h.o.restarts)
			if err != nil {
				h.problem("kube-apiserver restart: %v", err)
			}
		},
	}
	if churn != nil {
		last := len(waveNames) - 1
		wg.Add(1)
		tail.Add(1)
		go func() {
			defer tail.Done()
			h.churnWaves(ctx, churn, 0, last)
			wg.Done()
			h.churnWaves(ctx, churn, last, last+1)
		}()
	}
	for _, act := range actors {
		wg.Add(1)
		go func() { defer wg.Done(); act() }()
	}
}

// startSideScenarios runs the abort+retry and the delete scenarios.
func (h *harness) startSideScenarios(ctx context.Context, wg *sync.WaitGroup) {
	runs := []func() error{
		func() error { return h.abortAndRetry(ctx, h.side[0], h.rngs["abort"]) },
		func() error { return h.deleteWhileRunning(ctx, h.side[1], h.rngs["delete"]) },
	}
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(); err != nil {
				h.problem("scenario %s: %v", h.side[i].label, err)
			}
		}()
	}
}

// acceptFailurePauses accepts, as a person would, the result of any wave whose random device failures
// paused a scenario's campaign: the harness abuses the rollout, not the failure policy, and small
// waves (a canary of two devices) can spend their budget on one failure.
func (h *harness) acceptFailurePauses(ctx context.Context) {
	for sleep(ctx, 2*time.Second) {
		for _, s := range append([]*scenario{h.main}, h.side...) {
			uc, err := h.get(ctx, s.key)
			if err != nil || uc == nil {
				continue
			}
			if wave, ok := pausedByFailures(uc); ok {
				if added, err := accept(ctx, h.c, s.key, wave); err == nil && added {
					h.tally.add(func(t *tally) { t.accepted++ })
					logf("%s: accepted the result of wave %s (%s)", s.label, wave, readyMessage(uc))
				}
			}
		}
	}
}

// startTail kills a little more while the last wave rolls out.
func (h *harness) startTail(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		randomKills(ctx, h.kill, h.rngs["tail"], max(h.o.kills/10, 1), 2*time.Second, 8*time.Second)
	}()
}

// churnWaves churns the fleet while waves [from, to) of the main campaign roll out: the quota is
// spread evenly over the waves, so most devices join or leave once earlier waves have finished.
func (h *harness) churnWaves(ctx context.Context, c *churner, from, to int) {
	q, n := h.o.churn, len(waveNames)
	for k := from; k < to; k++ {
		if err := h.waitReached(ctx, h.main.key, k, h.remaining(verifyReserve)); err != nil {
			logf("churn: %v", err)
			return
		}
		share := churnQuota{
			added:   q.added*(k+1)/n - q.added*k/n,
			removed: q.removed*(k+1)/n - q.removed*k/n,
			changed: q.changed*(k+1)/n - q.changed*k/n,
		}
		logf("churn during wave %d: +%d -%d ~%d", k, share.added, share.removed, share.changed)
		c.run(ctx, share, 300*time.Millisecond, 1500*time.Millisecond)
	}
}

// awaitEnd waits until the campaign completed, failed or aborted (a pause by its failure policy is
// accepted meanwhile), for at most the given time; a status that stops changing for stallAfter while the
// campaign is not done ends the wait early (the checks then report how it stands).
func (h *harness) awaitEnd(ctx context.Context, s *scenario, timeout time.Duration) {
	timeout = min(timeout, h.remaining(verifyReserve))
	stallAfter := max(3*h.o.deviceTimeout, 90*time.Second)
	var last string
	lastChange := time.Now()
	err := waitFor(ctx, timeout, s.label+" ends", func() (bool, error) {
		uc, err := h.get(ctx, s.key)
		if err != nil || uc == nil {
			return false, err
		}
		switch uc.Status.Phase {
		case v1.CampaignCompleted, v1.CampaignFailed, v1.CampaignAborted:
			logf("%s: %s", s.label, uc.Status.Phase)
			return true, nil
		}
		if fp := fmt.Sprintf("%s %d %+v", uc.Status.Phase, uc.Status.CurrentWave, uc.Status.Totals); fp != last {
			last, lastChange = fp, time.Now()
		} else if time.Since(lastChange) > stallAfter {
			return false, fmt.Errorf("its status has not changed for %v: %s", stallAfter, readyMessage(uc))
		}
		return false, nil
	})
	if err != nil {
		logf("%s: %v", s.label, err)
	}
}

// readyMessage is the campaign's Ready condition, for a person.
func readyMessage(uc *v1.UpdateCampaign) string {
	if c := meta.FindStatusCondition(uc.Status.Conditions, v1.ConditionReady); c != nil {
		return fmt.Sprintf("%s: %s", c.Reason, c.Message)
	}
	return string(uc.Status.Phase)
}

// waitGroup waits for wg for at most timeout, and reports whether it finished.
func waitGroup(wg *sync.WaitGroup, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timeout = max(timeout, time.Second) // what is already done is seen done
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}
