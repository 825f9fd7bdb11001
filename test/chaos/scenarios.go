package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// world is what the scenarios act on.
type world struct {
	c     client.Client
	cp    *controlPlane
	sim   *simulator
	rs    *replicaSet
	kill  *killer
	watch *ledgerWatch
	tally *tally
	mf    *v1.Manifest
}

// scenario is one UpdateCampaign the run abuses and then checks.
type scenario struct {
	label  string
	spec   campaignSpec
	key    client.ObjectKey
	uid    string
	expect Expect
	plan   *v1.CampaignPlan // kept before a deletion
	stops  []StopCheck
}

func (w *world) get(ctx context.Context, key client.ObjectKey) (*v1.UpdateCampaign, error) {
	uc := &v1.UpdateCampaign{}
	err := retryAPI(ctx, 30*time.Second, "reading "+key.String(), func() error {
		return client.IgnoreNotFound(w.c.Get(ctx, key, uc))
	})
	if err == nil && uc.UID == "" {
		return nil, nil // not found
	}
	return uc, err
}

// waitWave waits until the campaign's wave k (or a later one) is rolling out.
func (w *world) waitWave(ctx context.Context, key client.ObjectKey, k int, timeout time.Duration) (*v1.UpdateCampaign, error) {
	var uc *v1.UpdateCampaign
	err := waitFor(ctx, timeout, fmt.Sprintf("%s rolls wave %d out", key.Name, k), func() (bool, error) {
		var err error
		if uc, err = w.get(ctx, key); err != nil || uc == nil {
			return false, err
		}
		cur := int(uc.Status.CurrentWave)
		return cur >= k && cur < len(uc.Status.Waves) && uc.Status.Waves[cur].StartedAt != nil &&
			uc.Status.Waves[cur].FinishedAt == nil, nil
	})
	return uc, err
}

// waitReached waits until the campaign rolls wave k out or has gone past it: a fast rollout can pass
// a wave between two looks, and what waits for it must not wait for ever.
func (w *world) waitReached(ctx context.Context, key client.ObjectKey, k int, timeout time.Duration) error {
	return waitFor(ctx, timeout, fmt.Sprintf("%s reaches wave %d", key.Name, k), func() (bool, error) {
		uc, err := w.get(ctx, key)
		if err != nil || uc == nil {
			return false, err
		}
		cur := int(uc.Status.CurrentWave)
		running := cur < len(uc.Status.Waves) && uc.Status.Waves[cur].StartedAt != nil && uc.Status.Waves[cur].FinishedAt == nil
		return cur > k || cur == k && running, nil
	})
}

// waitPhase waits until the campaign is in one of the phases.
func (w *world) waitPhase(ctx context.Context, key client.ObjectKey, timeout time.Duration, phases ...v1.CampaignPhase) (*v1.UpdateCampaign, error) {
	var uc *v1.UpdateCampaign
	err := waitFor(ctx, timeout, fmt.Sprintf("%s is %v", key.Name, phases), func() (bool, error) {
		var err error
		if uc, err = w.get(ctx, key); err != nil || uc == nil {
			return false, err
		}
		for _, p := range phases {
			if uc.Status.Phase == p {
				return true, nil
			}
		}
		return false, nil
	})
	return uc, err
}

// runningRemotes reads which of the campaign's remote campaigns are still running now.
func (w *world) runningRemotes(ctx context.Context, uid string) (map[string]bool, error) {
	l, err := w.sim.ledger(ctx, false)
	if err != nil {
		return nil, err
	}
	return unfinishedOf(l, uid), nil
}

// abortAndRetry aborts the campaign while one of its waves 1–3 rolls out, kills the leader while
// the wave's remote campaigns are being stopped, checks the abort stopped them all, then retries and
// kills the leader while the wave's remote campaigns are created again.
func (w *world) abortAndRetry(ctx context.Context, s *scenario, rng *rand.Rand) error {
	k := 1 + rng.IntN(3)
	uc, err := w.waitWave(ctx, s.key, k, 6*time.Minute)
	if err != nil {
		return err
	}
	running, err := w.runningRemotes(ctx, s.uid)
	if err != nil {
		return err
	}
	logf("%s: aborting during wave %d (%d remote campaigns running)", s.label, uc.Status.CurrentWave, len(running))
	w.kill.hold()
	if err := abort(ctx, w.c, s.key); err != nil {
		w.kill.release()
		return err
	}
	w.killWhen(ctx, killAbortStop, 30*time.Second, func(l *Ledger) bool { return stoppingAny(l, running) })
	w.kill.release()
	if uc, err = w.waitPhase(ctx, s.key, 3*time.Minute, v1.CampaignAborted); err != nil {
		return err
	}
	attempt := int(uc.Status.Attempt)
	settled := w.watch.await(ctx, 30*time.Second, func(l *Ledger) bool { return noneRunning(l, s.uid, attempt) })
	if settled == nil {
		if settled, err = w.sim.ledger(ctx, false); err != nil {
			return err
		}
	}
	s.stops = append(s.stops, StopCheck{Label: s.label, UID: s.uid, Attempt: attempt, Ledger: settled})

	part := fmt.Sprintf(".a%d.", attempt+1)
	before := createsOf(settled, s.uid, part)
	logf("%s: aborted; retrying (attempt %d)", s.label, attempt+1)
	w.kill.hold()
	defer w.kill.release()
	if err := retry(ctx, w.c, s.key); err != nil {
		return err
	}
	w.killWhen(ctx, killRetry, 90*time.Second, func(l *Ledger) bool { return createsOf(l, s.uid, part) > before })
	return nil
}

// noneRunning reports whether every remote campaign of one attempt of a campaign has finished.
func noneRunning(l *Ledger, uid string, attempt int) bool {
	remotes, _ := remotesOf(l, uid)
	for _, r := range remotes {
		if r.attempt == attempt && !finished(r.rec) {
			return false
		}
	}
	return true
}

// deleteWhileRunning deletes the campaign while one of its waves 1–3 rolls out, kills the leader
// while its finalizer stops the remote campaigns, and waits until the object is gone.
func (w *world) deleteWhileRunning(ctx context.Context, s *scenario, rng *rand.Rand) error {
	k := 1 + rng.IntN(3)
	uc, err := w.waitWave(ctx, s.key, k, 6*time.Minute)
	if err != nil {
		return err
	}
	s.plan = uc.Status.Plan.DeepCopy()
	running, err := w.runningRemotes(ctx, s.uid)
	if err != nil {
		return err
	}
	logf("%s: deleting during wave %d (%d remote campaigns running)", s.label, uc.Status.CurrentWave, len(running))
	w.kill.hold()
	err = retryAPI(ctx, time.Minute, "deleting "+s.key.String(), func() error {
		return client.IgnoreNotFound(w.c.Delete(ctx, uc))
	})
	if err == nil {
		w.killWhen(ctx, killDelete, 30*time.Second, func(l *Ledger) bool { return stoppingAny(l, running) })
	}
	w.kill.release()
	if err != nil {
		return err
	}
	return waitFor(ctx, 3*time.Minute, s.label+" is gone", func() (bool, error) {
		err := w.c.Get(ctx, s.key, &v1.UpdateCampaign{})
		return apierrors.IsNotFound(err), nil
	})
}

// killWhen kills the leader the moment the ledger shows what pred looks for; when it does not within
// timeout, the window was missed and is counted so.
func (w *world) killWhen(ctx context.Context, kind string, timeout time.Duration, pred func(*Ledger) bool) {
	if w.watch.await(ctx, timeout, pred) == nil {
		w.tally.add(func(t *tally) { t.missed[kind]++ })
		logf("window missed (%s): the ledger did not show it within %v", kind, timeout)
		return
	}
	w.kill.kill(ctx, kind, 5*time.Second)
}

// createWindowKills kills the leader n times right after the ledger shows a new remote campaign of
// one of the scenarios, before the operator can have recorded it in status (the ledger is polled
// every 25ms while waiting). A create seen while a scenario holds its own window is let pass.
func (w *world) createWindowKills(ctx context.Context, uids []string, n int, rng *rand.Rand) {
	for tries, done := 0, 0; done < n && tries < 10*n && ctx.Err() == nil; tries++ {
		l, err := w.sim.ledger(ctx, false)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		before := countCreates(l, uids)
		w.kill.waitUnheld(ctx)
		if w.watch.await(ctx, 2*time.Minute, func(l *Ledger) bool { return countCreates(l, uids) > before }) == nil {
			w.tally.add(func(t *tally) { t.missed[killCreate]++ })
			continue
		}
		if w.kill.held.Load() > 0 || !w.kill.kill(ctx, killCreate, 5*time.Second) {
			continue
		}
		done++
		if err := w.rs.waitLeader(ctx, time.Minute); err != nil {
			logf("%v", err)
		}
		sleep(ctx, between(rng, 500*time.Millisecond, 5*time.Second))
	}
}

func countCreates(l *Ledger, uids []string) int {
	n := 0
	for _, uid := range uids {
		n += createsOf(l, uid, "")
	}
	return n
}
