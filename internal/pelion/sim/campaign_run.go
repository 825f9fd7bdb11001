package sim

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// This file is the campaign engine: a started campaign fetches its devices, sends each the manifest,
// records what they report, and stops when its work is done. Everything here runs with s.mu held, or
// takes it.

// target is one device of a started campaign.
type target struct {
	dev     *device
	state   string // deployment state
	event   string // the event the device reported, "" while pending
	payload string // what it downloaded: PayloadFull, PayloadDelta, or ""
	updated time.Time
}

// pending reports whether the device has yet to report.
func (t *target) pending() bool { return t.event == "" }

// start moves a draft campaign on: to awaiting_approval when it needs approval, else to starting.
// Callers hold s.mu.
func (s *Server) start(c *campaign) {
	if c.obj.ApprovalRequired {
		c.obj.Phase, c.obj.State = pelion.PhaseAwaitingApproval, pelion.StateScheduled
		s.touch(c)
		return
	}
	now := s.now()
	c.obj.Phase, c.obj.State = pelion.PhaseStarting, pelion.StateScheduled
	c.obj.StartingAt, c.obj.StartedAt = &now, &now
	s.touch(c)
	s.ledger.started(c.obj.ID, now)
	gen := c.gen
	s.engine.after(s.cfg.Profile.wall(time.Duration(s.cfg.Profile.StartDelay)), func() { s.fetchDevices(c, gen) })
}

// fetchDevices selects the campaign's devices (one-shot: the set is fixed now) and sends the manifest
// to every reachable one.
func (s *Server) fetchDevices(c *campaign, gen int) {
	devs, _ := s.fleet.matching(c.filter) // the filter was validated when it was set
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gen != gen || c.obj.Phase != pelion.PhaseStarting {
		return
	}
	// A device deregistered since the directory answered is no target (RemoveDevices marks it under s.mu).
	devs = slices.DeleteFunc(devs, func(d *device) bool { return d.removed })
	m, ok := s.manifests.get(c.obj.RootManifestID)
	switch {
	case !ok:
		s.finishStop(c, pelion.StateManifestRemoved, "The campaign's manifest was removed.")
		return
	case len(devs) == 0:
		s.finishStop(c, pelion.StateAutoStopped, "No devices matched the device filter.")
		return
	}
	now := s.now()
	c.manifest = m
	c.downloads = newDownloadCache(max(s.cfg.Profile.wall(time.Duration(s.cfg.Profile.DownloadTimeout)), 30*time.Second), s.uploadedImage)
	c.targets = make([]target, len(devs))
	c.obj.Phase, c.obj.State, c.obj.ActiveAt = pelion.PhaseActive, pelion.StatePublishing, &now
	c.activeAt = time.Now()
	s.touch(c)
	for i, d := range devs {
		c.targets[i] = target{dev: d, state: pelion.DeploymentPending, updated: now}
		if _, digest, _ := d.firmware(); hex.EncodeToString(digest[:]) == m.obj.DeliveredPayloadDigest {
			s.record(c, i, outcome{event: EventAlreadyInstalled, summary: pelion.SummarySkipped}, now)
			continue
		}
		if d.offline {
			continue
		}
		s.dispatch(c, i, gen)
	}
	s.checkFinish(c)
}

// dispatch schedules one device's work after its latency; the profile's seeded draws decide latency
// and any injected failure. The work is dropped when the campaign has left active or the device has
// reported meanwhile (it was deregistered), so it never overwrites a later state.
func (s *Server) dispatch(c *campaign, i int, gen int) {
	p := s.cfg.Profile
	key := mix(c.seq, uint64(c.targets[i].dev.index))
	run := deviceRun{dev: c.targets[i].dev, data: c.manifest.data, digest: c.manifest.digest, downloads: c.downloads}
	latency := p.Latency.sample(unitFloat(mix(key, 1)), unitFloat(mix(key, 2)))
	run.injected = run.dev.failure
	if run.injected == "" && unitFloat(mix(key, 3)) < p.FailureRate {
		modes := p.FailureModes
		if len(modes) == 0 {
			modes = []string{FailureDownloadTimeout}
		}
		run.injected = modes[mix(key, 4)%uint64(len(modes))]
	}
	if run.injected == FailureDownloadTimeout {
		latency += time.Duration(p.DownloadTimeout)
	}
	due := func() bool { return c.gen == gen && c.targets[i].pending() } // callers hold s.mu
	s.engine.after(p.wall(latency), func() {
		s.mu.Lock()
		current := due()
		s.mu.Unlock()
		if !current {
			return
		}
		got := run.run(context.Background())
		s.mu.Lock()
		defer s.mu.Unlock()
		if !due() {
			return
		}
		if got.install != nil {
			run.dev.install(got.install, s.now())
		}
		if run.injected == FailureVanish {
			run.dev.offline = true
		}
		s.record(c, i, got, s.now())
		s.checkFinish(c)
	})
}

// record stores a device's report. Callers hold s.mu.
func (s *Server) record(c *campaign, i int, o outcome, now time.Time) {
	t := &c.targets[i]
	t.event, t.updated, t.state, t.payload = o.event, now, o.deploymentState(), o.received
	c.events[o.event]++
	c.reported++
	if c.obj.State == pelion.StatePublishing {
		c.obj.State = pelion.StateDeploying
	}
	c.obj.UpdatedAt = now
}

// deregister ends the pending targets that devices which left the directory have in active campaigns:
// each reports EventDeregistered (skipped) and its record becomes deregistered, so a campaign whose
// remaining devices have all reported finishes. A target that already reported keeps its outcome.
// Callers hold s.mu.
func (s *Server) deregister(gone map[*device]bool, now time.Time) {
	for _, c := range s.campaigns.items {
		if c.obj.Phase != pelion.PhaseActive {
			continue
		}
		hit := false
		for i := range c.targets {
			if gone[c.targets[i].dev] && c.targets[i].pending() {
				s.record(c, i, deregisteredOutcome, now)
				hit = true
			}
		}
		if hit {
			s.checkFinish(c)
		}
	}
}

// checkFinish stops an active campaign whose work is done: a one-shot campaign once every device has
// reported, any campaign once autostop's success share is reached. Devices that never answer keep a
// campaign active. A campaign nobody has yet seen starting or active waits (up to the finish grace)
// until someone has, so clients that poll for "started" see it start. Callers hold s.mu.
func (s *Server) checkFinish(c *campaign) {
	if c.obj.Phase != pelion.PhaseActive {
		return
	}
	total, success := len(c.targets), c.events[EventSucceeded]
	reason := ""
	switch {
	case c.obj.Autostop && total > 0 && float64(success)*100 >= c.obj.AutostopSuccessPercent*float64(total):
		reason = fmt.Sprintf("Success threshold of %.2f%% reached.", c.obj.AutostopSuccessPercent)
	case c.obj.CampaignStrategy == pelion.StrategyOneShot && c.reported == total:
		reason = "All devices have reported."
	default:
		return
	}
	if wait := s.cfg.FinishGrace - time.Since(c.activeAt); !c.observed && wait > 0 {
		if !c.finishDue {
			c.finishDue = true
			s.engine.after(wait, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				c.observed = true
				s.checkFinish(c)
			})
		}
		return
	}
	s.beginStopping(c, pelion.StateAutoStopped, reason)
}

// markSeen notes that a client has seen the campaign while it runs. A campaign that finished while
// nobody had seen it running was held active for that; seeing it now lets it stop (see checkFinish).
// Callers hold s.mu.
func (s *Server) markSeen(c *campaign) {
	if c.obj.Phase.Running() && !c.observed {
		c.observed = true
		if c.finishDue {
			s.checkFinish(c)
		}
	}
}

// viewAndMarkSeen returns the campaign as a client sees it, then marks it seen, which may begin
// stopping it: the view is taken first, so the client sees it running once. Callers hold s.mu.
func (s *Server) viewAndMarkSeen(c *campaign) pelion.Campaign {
	view := s.campaignView(c)
	s.markSeen(c)
	return view
}

func (s *Server) campaignView(c *campaign) pelion.Campaign { return c.obj }

// beginStopping moves a campaign to stopping and, after the stop delay, to stopped with finalState.
// Callers hold s.mu.
func (s *Server) beginStopping(c *campaign, finalState, reason string) {
	now := s.now()
	c.gen++
	c.obj.Phase, c.obj.State, c.obj.StoppingAt = pelion.PhaseStopping, pelion.StateStopping, &now
	s.touch(c)
	gen := c.gen
	s.engine.after(s.cfg.Profile.wall(time.Duration(s.cfg.Profile.StopDelay)), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c.gen == gen && c.obj.Phase == pelion.PhaseStopping {
			s.finishStop(c, finalState, reason)
		}
	})
}

// finishStop marks a campaign stopped. Callers hold s.mu.
func (s *Server) finishStop(c *campaign, state, reason string) {
	now := s.now()
	c.gen++
	c.obj.Phase, c.obj.State, c.obj.AutostopReason = pelion.PhaseStopped, state, reason
	c.obj.StoppedAt, c.obj.Finished = &now, &now
	s.touch(c)
}

func (s *Server) touch(c *campaign) {
	now := s.now()
	c.obj.UpdatedAt, c.obj.ETag = now, etag(now)
}
