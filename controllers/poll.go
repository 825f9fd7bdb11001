package controllers

import (
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// Polling that scales. The Update Service has no call that returns the counters of many campaigns
// at once, so a poll of a wave lists its remote campaigns (a page per campaignPageSize) and reads
// each one's metrics. Two things keep that cost down: a remote campaign that finished has final
// counters, so its outcome is read once and remembered (pollBook); and a campaign whose polls change
// nothing is polled less and less often, with jitter so campaigns started together drift apart
// (pollWait).

// maxPollBackoff caps the wait between two polls that change nothing, in poll intervals.
const maxPollBackoff = 8

// pollJitter spreads each wait uniformly over ±20% of it.
const pollJitter = 0.2

// pollBookIdle is how long the book keeps a campaign no reconcile asked about: one deleted (or
// stripped of its finalizer) while running is never asked about again.
const pollBookIdle = time.Hour

// pollWait is the wait before the next poll of a campaign whose last quiet polls changed nothing:
// the poll interval, doubled per quiet poll up to maxPollBackoff intervals, times a jitter factor
// drawn from u, uniform in [0,1).
func pollWait(every time.Duration, quiet int, u float64) time.Duration {
	backoff := time.Duration(1) << min(quiet, 30)
	wait := every * min(backoff, maxPollBackoff)
	return time.Duration(float64(wait) * (1 + pollJitter*(2*u-1)))
}

// pollBook is the UpdateCampaign reconciler's memory of its polls, per campaign. It is memory only:
// after a restart it is empty, and the first poll of every wave reads everything again.
type pollBook struct {
	mu        sync.Mutex
	campaigns map[types.UID]*campaignPolls
	swept     time.Time
	// jitter draws uniformly from [0,1); nil means math/rand/v2.
	jitter func() float64
}

// campaignPolls is what the book holds of one UpdateCampaign. Only the reconcile of that campaign
// (never two at once) reads or writes it, but for used, which the book's lock guards.
type campaignPolls struct {
	generation int64
	// finished holds, by remote campaign ID, the outcomes that can no longer change: about a hundred
	// bytes per remote campaign, of which a campaign has one per --devices-per-remote-campaign devices
	// a wave sends (and follow-ups).
	finished map[string]remoteOutcome
	progress progress // as the last reconcile left the campaign
	quiet    int      // reconciles in a row that changed nothing of progress
	used     time.Time
}

// progress is what a poll can change in a campaign's status.
type progress struct {
	phase    v1.CampaignPhase
	wave     int32
	totals   v1.DeviceCounts // without failures, which follow by value so progress compares with ==
	failures v1.FailureCounts
	remote   int32 // remote campaigns of every wave
}

func progressOf(uc *v1.UpdateCampaign) progress {
	p := progress{phase: uc.Status.Phase, wave: uc.Status.CurrentWave, totals: uc.Status.Totals}
	if f := p.totals.Failures; f != nil {
		p.failures = *f
	}
	p.totals.Failures = nil
	for _, w := range uc.Status.Waves {
		p.remote += w.RemoteCampaigns
	}
	return p
}

// of returns the book's entry for uc, made empty when uc's spec changed since (the spec decides how
// outcomes are counted, spec.confirmation for one). Now and then it drops the entries of campaigns
// nobody asked about for pollBookIdle.
func (b *pollBook) of(uc *v1.UpdateCampaign, now time.Time) *campaignPolls {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.campaigns == nil {
		b.campaigns = map[types.UID]*campaignPolls{}
	}
	if now.Sub(b.swept) >= pollBookIdle {
		for uid, c := range b.campaigns {
			if now.Sub(c.used) >= pollBookIdle {
				delete(b.campaigns, uid)
			}
		}
		b.swept = now
	}
	c := b.campaigns[uc.UID]
	if c == nil || c.generation != uc.Generation {
		c = &campaignPolls{generation: uc.Generation, finished: map[string]remoteOutcome{}}
		b.campaigns[uc.UID] = c
	}
	c.used = now
	return c
}

// forget drops what the book holds of a campaign that ended: its remote campaigns are read no more.
func (b *pollBook) forget(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.campaigns, uid)
}

// settle records the progress a reconcile left uc at, and returns the wait before its next poll:
// a reconcile that changed nothing makes it longer, one that changed anything resets it.
func (b *pollBook) settle(uc *v1.UpdateCampaign, now time.Time, every time.Duration) time.Duration {
	c := b.of(uc, now)
	if p := progressOf(uc); p == c.progress {
		c.quiet++
	} else {
		c.progress, c.quiet = p, 0
	}
	u := rand.Float64
	if b.jitter != nil {
		u = b.jitter
	}
	return pollWait(every, c.quiet, u())
}

// outcome is the remembered outcome of a finished remote campaign; c may be nil (nothing remembered).
func (c *campaignPolls) outcome(remoteID string) (remoteOutcome, bool) {
	if c == nil {
		return remoteOutcome{}, false
	}
	o, ok := c.finished[remoteID]
	return o, ok
}

// keep remembers the final outcome of a remote campaign; on a nil c it does nothing.
func (c *campaignPolls) keep(remoteID string, o remoteOutcome) {
	if c != nil {
		c.finished[remoteID] = o
	}
}

// remoteOutcome is what one remote campaign's devices did, as a poll counts them.
type remoteOutcome struct {
	succeeded, failed, skipped, pending int64
	left                                int64 // pinned, but gone from the fleet or the filter before the campaign selected them
	failures                            rollout.ClassCounts
}
